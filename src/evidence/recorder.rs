//! The pre-roll and the clips being gathered: one box-wide thread takes the
//! frames each camera's detect thread hands over — analysed frames as
//! decoded, each with its own sightings ([`Picture`]) — scales them to the
//! camera's clip size, keeps the last seconds of each camera in a ring, and
//! gathers for each incident that asked for evidence the ring's frames
//! before its start and the frames after it. A finished gathering goes to
//! the worker ([`super::worker`]) to be redacted, encoded and sealed.
//!
//! Nothing here blocks a camera: frames arrive through a bounded queue that
//! drops (counted) when this thread is behind, and a gathered clip that the
//! worker has no room for is dropped (counted, logged). Frames here are
//! never written anywhere: only the worker's redacted pictures are.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime};

use super::config::CameraEvidencePlan;
use super::stats::Stats;
use crate::anonymize::Picture;
use crate::anonymize::privacy::CameraPrivacyPlan;
use crate::rules::EvidenceWindow;

/// What the cameras tell the recorder.
pub enum Intake {
    /// An analysed frame of `camera` at stream time `pts`.
    Frame {
        camera: Arc<str>,
        picture: Picture,
        wall: SystemTime,
        /// The camera's clip settings, and the longest pre-roll its rules ask for.
        plan: CameraEvidencePlan,
        keep: Duration,
    },
    /// An incident whose rule wants a clip started on the frame at `pts`.
    Start(Box<Request>),
}

/// An incident's clip, as asked for.
pub struct Request {
    pub camera: Arc<str>,
    pub incident_id: String,
    pub rule: Arc<str>,
    pub pts: Duration,
    pub wall: SystemTime,
    pub window: EvidenceWindow,
    pub privacy: Arc<CameraPrivacyPlan>,
    /// The camera's detector, and its file's SHA-256.
    pub detector: (String, String),
}

/// One frame of a clip at its size, and when it was seen.
pub struct ClipFrame {
    pub picture: Picture,
    pub wall: SystemTime,
}

/// A clip's frames, gathered.
pub struct Gathered {
    pub request: Request,
    pub plan: CameraEvidencePlan,
    pub frames: Vec<ClipFrame>,
    /// When the incident's clip was asked for, for the time to a ready clip.
    pub asked: Instant,
}

struct Gathering {
    gathered: Gathered,
    /// Gathering ends at this wall time at the latest (a camera that stops
    /// sending frames does not hold a clip back).
    deadline: Instant,
}

/// The grace, beyond its post-roll, a clip waits for its last frames.
const GRACE: Duration = Duration::from_secs(5);

struct CameraRing {
    frames: VecDeque<(Duration, Arc<ClipFrame>)>,
    last_kept: Option<Duration>,
    plan: CameraEvidencePlan,
}

pub(super) struct Recorder {
    pub(super) intake: Receiver<Intake>,
    pub(super) worker: SyncSender<Gathered>,
    pub(super) stats: Arc<Stats>,
}

impl Recorder {
    pub(super) fn run(self) {
        let mut rings: BTreeMap<Arc<str>, CameraRing> = BTreeMap::new();
        let mut gathering: Vec<Gathering> = Vec::new();
        loop {
            match self.intake.recv_timeout(Duration::from_millis(500)) {
                Ok(Intake::Frame {
                    camera,
                    picture,
                    wall,
                    plan,
                    keep,
                }) => self.frame(&mut rings, &mut gathering, (camera, picture, wall), plan, keep),
                Ok(Intake::Start(request)) => {
                    let ring = rings.get(&request.camera);
                    let from = request.pts.saturating_sub(request.window.pre_secs);
                    let frames: Vec<ClipFrame> = ring
                        .into_iter()
                        .flat_map(|r| &r.frames)
                        .filter(|(pts, _)| *pts >= from && *pts <= request.pts + request.window.post_secs)
                        .map(|(_, f)| ClipFrame {
                            picture: f.picture.clone(),
                            wall: f.wall,
                        })
                        .collect();
                    let plan = ring.map(|r| r.plan).unwrap_or_default();
                    let deadline = Instant::now() + request.window.post_secs + GRACE;
                    gathering.push(Gathering {
                        gathered: Gathered {
                            request: *request,
                            plan,
                            frames,
                            asked: Instant::now(),
                        },
                        deadline,
                    });
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            let (due, waiting): (Vec<_>, Vec<_>) = gathering.drain(..).partition(|g| g.deadline <= now);
            gathering = waiting;
            for g in due {
                self.hand_over(g.gathered);
            }
        }
        for g in gathering {
            self.hand_over(g.gathered);
        }
    }

    fn frame(
        &self,
        rings: &mut BTreeMap<Arc<str>, CameraRing>,
        gathering: &mut Vec<Gathering>,
        (camera, picture, wall): (Arc<str>, Picture, SystemTime),
        plan: CameraEvidencePlan,
        keep: Duration,
    ) {
        let pts = picture.pts();
        let ring = rings.entry(camera.clone()).or_insert_with(|| CameraRing {
            frames: VecDeque::new(),
            last_kept: None,
            plan,
        });
        if ring.plan != plan {
            ring.frames.clear(); // resized: a clip's frames are all one size
            ring.plan = plan;
        }
        // the clip's frame rate: an analysed frame at most every 1/fps
        // (with a quarter frame's slack for the detect rate's jitter)
        let min_gap = Duration::from_secs_f64(0.75 / f64::from(plan.fps.max(1)));
        if let Some(last) = ring.last_kept
            && pts > last
            && pts - last < min_gap
        {
            return;
        }
        let scaled = match picture.letterboxed(plan.width, plan.height) {
            Ok(scaled) => scaled,
            Err(e) => {
                self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(camera = %camera, error = %e, "evidence frame not scaled");
                return;
            }
        };
        drop(picture); // the decoder's buffer goes back now
        ring.last_kept = Some(pts);
        let frame = Arc::new(ClipFrame { picture: scaled, wall });
        ring.frames.push_back((pts, frame.clone()));
        while ring.frames.front().is_some_and(|(p, _)| pts.saturating_sub(*p) > keep) {
            ring.frames.pop_front();
        }
        let mut finished = Vec::new();
        for (i, g) in gathering.iter_mut().enumerate() {
            let r = &g.gathered.request;
            if *r.camera != *camera {
                continue;
            }
            g.gathered.plan = plan;
            if pts > r.pts + r.window.post_secs {
                finished.push(i);
            } else if pts >= r.pts.saturating_sub(r.window.pre_secs)
                && g.gathered.frames.last().is_none_or(|f| f.picture.pts() < pts)
            {
                g.gathered.frames.push(ClipFrame {
                    picture: frame.picture.clone(),
                    wall,
                });
            }
        }
        for i in finished.into_iter().rev() {
            let g = gathering.remove(i);
            self.hand_over(g.gathered);
        }
    }

    fn hand_over(&self, gathered: Gathered) {
        if gathered.frames.is_empty() {
            self.stats.clips_failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(camera = %gathered.request.camera, incident = %gathered.request.incident_id,
                "no evidence clip: no analysed frame of the camera was covered in its time range");
            return;
        }
        match self.worker.try_send(gathered) {
            Ok(()) => {}
            Err(TrySendError::Full(g) | TrySendError::Disconnected(g)) => {
                self.stats.clips_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(camera = %g.request.camera, incident = %g.request.incident_id,
                    "evidence clip dropped: the evidence worker is behind (the incident itself is sent)");
            }
        }
    }
}
