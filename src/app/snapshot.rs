//! Snapshots: a redacted picture that follows an incident's start.
//!
//! A camera's detect thread writes the incident to the outbox first, then
//! hands the newest decoded frame and what the detector last saw to this
//! box-wide worker — without waiting, and dropping the snapshot (logged) if
//! the worker is behind, so a camera never stalls on pictures and face
//! detection never delays an alert. The worker finds faces with the face
//! model, covers every region the camera's policy names, encodes a JPEG
//! within its cap and queues it in the outbox on
//! `<prefix>/<camera>/snapshots/<incident_id>`. When faces must be found and
//! the face model fails, the snapshot is not published: it fails closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use crate::anonymize::privacy::CameraPrivacyPlan;
use crate::anonymize::redact::{self, Mark};
use crate::anonymize::{Picture, Redactor};
use crate::console::Console;
use crate::decode::throttle::Throttle;
use crate::infer::ModelService;
use crate::publish::{Outbox, OutboxError, Topics};
use crate::rules::TrajectoryPoint;
use crate::vocab::BBox;

/// Width of each picture of a trajectory strip, at most.
const STRIP_TILE_WIDTH: usize = 640;
/// The colour a trajectory is drawn in.
const PATH_COLOUR: [u8; 3] = [255, 40, 40];

/// Snapshots waiting for the worker, at most.
const QUEUE: usize = 8;

/// One picture to redact and queue.
pub struct SnapshotJob {
    pub camera: Arc<str>,
    pub incident_id: String,
    /// Analysed frames, RGB, capped in width, each with what the detector
    /// saw on it: one for a snapshot, several (oldest first) for a
    /// trajectory strip.
    pub pictures: Vec<Picture>,
    /// The path to draw on every frame (normalised points), for incidents
    /// that follow one (thrown objects).
    pub trajectory: Option<Arc<[TrajectoryPoint]>>,
    pub privacy: Arc<CameraPrivacyPlan>,
    pub quality: u8,
    pub max_bytes: usize,
}

/// Counters of the snapshot worker.
#[derive(Debug, Default)]
pub struct SnapshotStats {
    pub published: AtomicU64,
    /// Dropped because the worker was behind.
    pub dropped: AtomicU64,
    /// Not published because redaction could not be completed.
    pub failed: AtomicU64,
}

/// The cameras' handle on the worker.
#[derive(Clone)]
pub struct Snapshots {
    jobs: SyncSender<SnapshotJob>,
    pub stats: Arc<SnapshotStats>,
    /// Jobs queued or in progress: the console's live views wait for them.
    waiting: Arc<AtomicUsize>,
    /// The dropped snapshots' log line, once a minute.
    dropped_log: Arc<Throttle>,
}

impl Snapshots {
    /// Starts the worker. It ends once every handle is dropped.
    pub fn spawn(
        faces: Option<&ModelService>,
        outbox: Arc<Outbox>,
        topics: Topics,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        Self::spawn_with(faces, outbox, topics, None, Arc::default())
    }

    /// [`Self::spawn`], telling the console of each snapshot published,
    /// and counting in `waiting` the jobs queued or in progress.
    pub fn spawn_with(
        faces: Option<&ModelService>,
        outbox: Arc<Outbox>,
        topics: Topics,
        console: Option<Arc<Console>>,
        waiting: Arc<AtomicUsize>,
    ) -> std::io::Result<(Self, JoinHandle<()>)> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let stats = Arc::new(SnapshotStats::default());
        let worker = Worker {
            redactor: Redactor::new(faces),
            outbox,
            topics,
            stats: stats.clone(),
            console,
            waiting: waiting.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("snapshots".into())
            .spawn(move || worker.run(queue))?;
        Ok((
            Self {
                jobs,
                stats,
                waiting,
                dropped_log: Arc::default(),
            },
            thread,
        ))
    }

    /// Queues a snapshot without waiting; false if it was dropped (counted,
    /// and logged at most once a minute with the count held back).
    pub fn offer(&self, job: SnapshotJob) -> bool {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                if let Some(held_back) = self.dropped_log.due() {
                    tracing::warn!(camera = %job.camera, incident = %job.incident_id, held_back,
                        "snapshot dropped: the snapshot worker is behind (the incident itself is sent)");
                }
                false
            }
        }
    }
}

struct Worker {
    redactor: Redactor,
    outbox: Arc<Outbox>,
    topics: Topics,
    stats: Arc<SnapshotStats>,
    console: Option<Arc<Console>>,
    waiting: Arc<AtomicUsize>,
}

impl Worker {
    fn run(mut self, queue: Receiver<SnapshotJob>) {
        while let Ok(job) = queue.recv() {
            let (camera, incident) = (job.camera.clone(), job.incident_id.clone());
            match self.publish(job) {
                Ok(bytes) => {
                    self.stats.published.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(camera = %camera, incident = %incident, bytes, "snapshot queued");
                }
                Err(reason) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(camera = %camera, incident = %incident, %reason, "snapshot not published");
                }
            }
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn publish(&mut self, job: SnapshotJob) -> Result<usize, String> {
        let redacted = match &job.trajectory {
            None => {
                let picture = job.pictures.first().ok_or("no frame")?;
                self.redactor.redact(picture, &job.privacy)?
            }
            Some(path) => {
                let marks = path_marks(path);
                let mut tiles = Vec::with_capacity(job.pictures.len());
                for picture in &job.pictures {
                    let tile = self.redactor.redact(picture, &job.privacy)?;
                    tiles.push(tile.annotate(&marks).thumbnail(STRIP_TILE_WIDTH, usize::MAX));
                }
                let strip = redact::contact_sheet(&tiles, tiles.len()).ok_or("no frame")?;
                self.redactor.recheck(strip, &job.privacy)?
            }
        };
        let jpeg = redacted
            .to_jpeg(job.quality, job.max_bytes)
            .map_err(|e| format!("JPEG encoding failed: {e}"))?;
        let topic = self.topics.snapshots(&job.camera, &job.incident_id);
        match self.outbox.push_snapshot(&job.camera, topic, &jpeg) {
            // Not stored (no room under the byte bound, or the disk is full):
            // the outbox counts it and logs it once a minute, not once each.
            Ok(None) | Err(OutboxError::Unwritable { .. }) => Ok(0),
            Ok(Some(_)) => {
                let bytes = jpeg.as_bytes().len();
                if let Some(console) = &self.console {
                    console.feed.snapshot(&job.camera, &job.incident_id, Arc::new(jpeg));
                }
                Ok(bytes)
            }
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A trajectory as marks: its segments, and a box on where it was last seen.
pub fn path_marks(path: &[TrajectoryPoint]) -> Vec<Mark> {
    let mut marks: Vec<Mark> = path
        .windows(2)
        .map(|w| Mark::Line {
            from: [w[0].x, w[0].y],
            to: [w[1].x, w[1].y],
            colour: PATH_COLOUR,
        })
        .collect();
    if let Some(last) = path.last() {
        let r = 0.02;
        marks.push(Mark::Rect {
            bbox: BBox {
                x1: last.x - r,
                y1: last.y - r,
                x2: last.x + r,
                y2: last.y + r,
            },
            colour: PATH_COLOUR,
        });
    }
    marks
}
