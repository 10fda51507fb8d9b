//! One model session for every camera that uses the model, and cross-camera
//! batching in front of it.
//!
//! A [`ModelService`] owns one [`Detector`] per session (`sessions`, default
//! 1), each on its own thread. Each camera's detect thread holds an
//! [`InferClient`] and hands it one frame at a time. A free session takes the
//! first waiting frame, gathers others that arrive within `max_wait_ms` up to
//! `max_batch`, fills one input slot per frame and runs them as one batch —
//! or one at a time when the model's batch size is fixed — while another
//! session may already gather the next frames. A camera waits only for its
//! own frame's batch; it never blocks another camera's decoding. A frame
//! travels with its reusable job, so nothing is allocated per frame.
//!
//! A camera may have several of its frames in inference at once
//! ([`InferClient::depth`]): [`InferClient::submit`] hands a frame over
//! without waiting, and [`InferClient::receive`] gives the results back in
//! the order the frames were submitted, whichever session finished first, so
//! the tracker always sees a stream's frames in order. Cameras' clients
//! ([`ModelService::camera_client`]) share a budget of one frame more than
//! the model has sessions: a lone camera keeps every session busy and one
//! frame waiting, so a session that finishes early never waits for an older
//! frame to come back; many cameras keep one frame each, so none queues
//! behind another camera's backlog.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::detector::{Detector, InferError};
use super::model::ModelPlan;
use super::preprocess::ImageView;
use crate::vocab::Detection;
use crate::vocab::{Frame, Geometry};

/// Counters of a running service.
#[derive(Debug, Default)]
pub struct BatchStats {
    /// Model runs.
    pub runs: AtomicU64,
    /// Frames inferred, over all runs.
    pub frames: AtomicU64,
    /// Frames of the largest batch so far.
    pub largest: AtomicU64,
    /// Session threads running now; one that ended (a panic in ONNX Runtime
    /// or a decoder) is missed by the watchdog.
    pub workers: AtomicU64,
}

/// Counts a session thread as running for as long as it lives, panics included.
struct Running(Arc<BatchStats>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.workers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One frame on its way to the service and its detections on the way back.
struct Job {
    /// The camera's submission number, to put replies back in order.
    seq: u64,
    frame: Option<Frame>,
    detections: Vec<Detection>,
    error: Option<String>,
    reply: Sender<Job>,
    /// Called once the reply is sent (see [`InferClient::on_reply`]).
    wake: Option<Waker>,
}

/// Wakes a camera's detect thread that waits for a frame or a reply.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The threads that own a model's sessions.
pub struct ModelService {
    plan: Arc<ModelPlan>,
    capacity: usize,
    spawned: u64,
    jobs: Sender<Job>,
    /// Cameras' clients alive now; they share the in-flight budget.
    cameras: Arc<AtomicUsize>,
    pub stats: Arc<BatchStats>,
}

impl ModelService {
    /// Moves a loaded detector onto its own thread.
    pub fn spawn(detector: Detector) -> std::io::Result<Self> {
        Self::spawn_sessions(vec![detector])
    }

    /// Moves each loaded detector (sessions of one model) onto its own
    /// thread; they take frames from one queue.
    pub fn spawn_sessions(detectors: Vec<Detector>) -> std::io::Result<Self> {
        let first = detectors.first().ok_or_else(|| std::io::Error::other("no session"))?;
        let plan = first.plan().clone();
        let capacity = first.batch_capacity();
        let stats = Arc::new(BatchStats::default());
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let spawned = detectors.len() as u64;
        for (i, detector) in detectors.into_iter().enumerate() {
            let worker = Worker {
                detector,
                queue: queue.clone(),
                max_wait: plan.batch.max_wait,
                stats: stats.clone(),
            };
            // The thread ends by itself once the service and every client are gone.
            let name = if i == 0 {
                format!("infer-{}", plan.key)
            } else {
                format!("infer-{}-{i}", plan.key)
            };
            stats.workers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let running = Running(stats.clone());
            std::thread::Builder::new().name(name).spawn(move || {
                let _running = running;
                worker.run();
            })?;
        }
        Ok(Self {
            plan,
            capacity,
            spawned,
            jobs,
            cameras: Arc::default(),
            stats,
        })
    }

    pub fn plan(&self) -> &Arc<ModelPlan> {
        &self.plan
    }

    /// Whether every session thread still runs.
    pub fn workers_running(&self) -> bool {
        self.stats.workers.load(std::sync::atomic::Ordering::Relaxed) >= self.spawned
    }

    /// Frames per run at most (1 for a model with a fixed batch size).
    pub fn batch_capacity(&self) -> usize {
        self.capacity
    }

    /// Sessions running side by side: how many frames of one camera can be
    /// in inference at once.
    pub fn sessions(&self) -> usize {
        self.spawned as usize
    }

    /// A handle for one camera's detect thread that keeps one frame at a
    /// time in inference.
    pub fn client(&self) -> InferClient {
        self.client_with_depth(1)
    }

    /// A handle that may keep up to `depth` frames (at least 1) in inference at once.
    pub fn client_with_depth(&self, depth: usize) -> InferClient {
        self.new_client(depth, None)
    }

    /// A camera's handle: the cameras using the model share a budget of
    /// `sessions + 1` frames in flight, so a lone camera keeps `sessions + 1`
    /// and each of `sessions + 1` or more cameras keeps one. The share follows
    /// cameras being added and removed.
    pub fn camera_client(&self) -> InferClient {
        self.cameras.fetch_add(1, Ordering::Relaxed);
        let budget = Budget {
            cameras: self.cameras.clone(),
            frames: self.sessions() + 1,
        };
        self.new_client(budget.frames, Some(budget))
    }

    fn new_client(&self, depth: usize, budget: Option<Budget>) -> InferClient {
        let (reply, replies) = mpsc::channel();
        let depth = depth.max(1);
        InferClient {
            budget,
            model: self.plan.key.clone(),
            jobs: Some(self.jobs.clone()),
            replies,
            free: (0..depth)
                .map(|_| Job {
                    seq: 0,
                    frame: None,
                    detections: Vec::with_capacity(128),
                    error: None,
                    reply: reply.clone(),
                    wake: None,
                })
                .collect(),
            early: Vec::with_capacity(depth),
            in_flight: VecDeque::with_capacity(depth),
            next_seq: 0,
            done: None,
            capacity: depth,
            reordered: 0,
            wake: None,
        }
    }
}

/// The frames in flight the cameras using one model share.
struct Budget {
    cameras: Arc<AtomicUsize>,
    frames: usize,
}

impl Drop for Budget {
    fn drop(&mut self) {
        self.cameras.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A camera's way into a shared model.
pub struct InferClient {
    /// The shared budget a camera's client follows; `None`: a fixed depth.
    budget: Option<Budget>,
    model: String,
    jobs: Option<Sender<Job>>,
    replies: Receiver<Job>,
    /// Jobs ready for the next frame.
    free: Vec<Job>,
    /// Replies that came back before an older frame's.
    early: Vec<Job>,
    /// Submission numbers in inference, oldest first.
    in_flight: VecDeque<u64>,
    next_seq: u64,
    /// The job of the frame [`Self::receive`] returned last (its detections).
    done: Option<Job>,
    /// Jobs it owns: the most frames it can ever have in flight.
    capacity: usize,
    /// Replies that arrived before an older frame's and were held back.
    reordered: u64,
    wake: Option<Waker>,
}

impl InferClient {
    /// Detections for one decoded frame, in source-normalised coordinates.
    /// Blocks until the batch holding the frame has run. With frames already
    /// in flight, it returns the oldest one's detections instead: use
    /// [`Self::submit`] and [`Self::receive`] then.
    pub fn detect(&mut self, frame: &Frame) -> Result<&[Detection], InferError> {
        self.submit(frame)?;
        self.receive()
    }

    /// Calls `wake` each time one of this client's frames is answered, so
    /// a thread waiting on something else (the camera's frame slot) can
    /// come back for the reply ([`Self::oldest_ready`]).
    pub fn on_reply(&mut self, wake: Waker) {
        self.wake = Some(wake);
    }

    /// Whether [`Self::receive`] would return without waiting: the oldest
    /// frame in flight has been answered. Replies that came in are kept.
    pub fn oldest_ready(&mut self) -> bool {
        let Some(&oldest) = self.in_flight.front() else {
            return false;
        };
        while let Ok(job) = self.replies.try_recv() {
            let oldest_back = self.early.iter().any(|j| j.seq == oldest);
            if job.seq != oldest && !oldest_back {
                self.reordered += 1;
            }
            self.early.push(job);
        }
        self.early.iter().any(|j| j.seq == oldest)
    }

    /// Most frames in inference at once now: the fixed depth, or this
    /// camera's share of the budget.
    pub fn depth(&self) -> usize {
        match &self.budget {
            None => self.capacity,
            Some(b) => b
                .frames
                .div_ceil(b.cameras.load(Ordering::Relaxed).max(1))
                .clamp(1, self.capacity),
        }
    }

    /// Most frames this client can ever have in flight.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Replies so far that came back before an older frame's and were held
    /// back to keep the order.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Frames submitted whose detections [`Self::receive`] has not returned yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn gone(&mut self) -> InferError {
        self.jobs = None;
        InferError::Run {
            model: self.model.clone(),
            reason: "the model's inference thread has stopped".into(),
        }
    }

    /// Hands a frame to the model without waiting for it; at most
    /// [`Self::depth`] frames may be in flight.
    pub fn submit(&mut self, frame: &Frame) -> Result<(), InferError> {
        if let Some(done) = self.done.take() {
            self.free.push(done);
        }
        let Some(jobs) = self.jobs.as_ref() else {
            return Err(self.gone());
        };
        let Some(mut job) = self.free.pop() else {
            return Err(InferError::Run {
                model: self.model.clone(),
                reason: format!("more than {} frames of one camera in flight", self.capacity),
            });
        };
        job.seq = self.next_seq;
        job.frame = Some(frame.clone());
        job.error = None;
        job.wake.clone_from(&self.wake);
        if jobs.send(job).is_err() {
            return Err(self.gone());
        }
        self.in_flight.push_back(self.next_seq);
        self.next_seq += 1;
        Ok(())
    }

    /// The detections of the oldest frame in flight, waiting for them if
    /// needed; frames come back in the order they were submitted.
    pub fn receive(&mut self) -> Result<&[Detection], InferError> {
        if let Some(done) = self.done.take() {
            self.free.push(done);
        }
        let Some(&seq) = self.in_flight.front() else {
            return Err(InferError::Run {
                model: self.model.clone(),
                reason: "no frame is in flight".into(),
            });
        };
        let mut job = match self.early.iter().position(|j| j.seq == seq) {
            Some(i) => self.early.swap_remove(i),
            None => loop {
                let Ok(job) = self.replies.recv() else {
                    return Err(self.gone());
                };
                if job.seq == seq {
                    break job;
                }
                self.reordered += 1;
                self.early.push(job);
            },
        };
        self.in_flight.pop_front();
        job.frame = None;
        let error = job.error.take();
        let job = self.done.insert(job);
        match error {
            None => Ok(&job.detections),
            Some(reason) => Err(InferError::Run {
                model: self.model.clone(),
                reason,
            }),
        }
    }
}

struct Worker {
    detector: Detector,
    /// Shared by the sessions: the one holding it gathers the next batch.
    queue: Arc<Mutex<Receiver<Job>>>,
    max_wait: Duration,
    stats: Arc<BatchStats>,
}

impl Worker {
    fn run(mut self) {
        let capacity = self.detector.batch_capacity();
        let mut batch: Vec<Job> = Vec::with_capacity(capacity);
        let mut geometries: Vec<Geometry> = Vec::with_capacity(capacity);
        let mut outputs: Vec<Vec<Detection>> = (0..capacity).map(|_| Vec::with_capacity(128)).collect();
        let shared = self.queue.clone();
        loop {
            {
                let queue = shared.lock().unwrap_or_else(|p| p.into_inner());
                let Ok(first) = queue.recv() else {
                    return;
                };
                self.admit(first, &mut batch, &mut geometries);
                let deadline = Instant::now() + self.max_wait;
                while batch.len() < capacity {
                    let next = if self.max_wait.is_zero() {
                        queue.try_recv().map_err(|e| e == TryRecvError::Disconnected)
                    } else {
                        let left = deadline.saturating_duration_since(Instant::now());
                        queue
                            .recv_timeout(left)
                            .map_err(|e| e == RecvTimeoutError::Disconnected)
                    };
                    match next {
                        Ok(job) => self.admit(job, &mut batch, &mut geometries),
                        Err(_) => break,
                    }
                }
            }
            if batch.is_empty() {
                continue;
            }
            let n = batch.len();
            let result = self.detector.run_batch(&geometries, &mut outputs[..n]);
            self.stats.runs.fetch_add(1, Ordering::Relaxed);
            self.stats.frames.fetch_add(n as u64, Ordering::Relaxed);
            self.stats.largest.fetch_max(n as u64, Ordering::Relaxed);
            let error = result.err().map(|e| e.to_string());
            for (mut job, detections) in batch.drain(..).zip(outputs.iter_mut()) {
                std::mem::swap(&mut job.detections, detections);
                job.error.clone_from(&error);
                reply(job);
            }
            geometries.clear();
        }
    }

    /// Fills the next input slot from the job's frame; a frame that cannot be
    /// read is answered at once with the reason.
    fn admit(&mut self, mut job: Job, batch: &mut Vec<Job>, geometries: &mut Vec<Geometry>) {
        let index = batch.len();
        let filled = match &job.frame {
            None => Err("no frame was given".to_string()),
            Some(frame) => match frame.buffer.map_readable() {
                Err(_) => Err("the frame's buffer cannot be read".to_string()),
                Ok(map) => {
                    let image = ImageView::new(map.as_slice(), &frame.layout);
                    self.detector
                        .preprocess_at(index, &image)
                        .map(|()| frame.geometry)
                        .map_err(|e| e.to_string())
                }
            },
        };
        match filled {
            Ok(geometry) => {
                geometries.push(geometry);
                batch.push(job);
            }
            Err(reason) => {
                job.detections.clear();
                job.error = Some(reason);
                reply(job);
            }
        }
    }
}

/// Sends a job back; a camera that has stopped waiting is no longer there.
fn reply(mut job: Job) {
    let to = job.reply.clone();
    let wake = job.wake.take();
    let _ = to.send(job);
    if let Some(wake) = wake {
        wake();
    }
}
