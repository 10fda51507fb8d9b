//! A running camera: the threads that run one [`CameraPlan`] — decode
//! (GStreamer, in [`crate::decode`]), detect (inference → tracking → rules →
//! anonymize → the outbox, through [`Alerts`]) and, for a camera with rules
//! that watch pixels, motion ([`super::motion_watch`]).
//!
//! Each camera has its own threads and its own frame slot, so a camera that
//! fails or stalls never delays another; the only things cameras share are a
//! model's inference service (which batches their frames) and the alert
//! queue, which never blocks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::alerts::Alerts;
use super::analysis::FrameAnalyzer;
use super::motion_watch::MotionWorker;
pub use super::shared::Shared;
use crate::anonymize::{Closer, Sightings};
use crate::console::Overlay;
use crate::decode::{DecodeError, Delivery, FrameSlot, Stream, Taken};
use crate::observe::CameraStats;
use crate::observe::metrics::{AnalysisHooks, CameraView};
use crate::plan::CameraPlan;
use crate::rules::IncidentEvent;

/// A running camera.
pub struct Camera {
    /// Its name, stream status, frame slot, counters and sightings (what
    /// every picture of the camera is made of and covered over), as the
    /// metrics and the console see them too.
    pub view: CameraView,
    pub stream: Arc<Stream>,
    /// The boxes its detect thread saw last, for the console's live view.
    pub overlay: Arc<Overlay>,
    decode: JoinHandle<Result<(), DecodeError>>,
    detect: JoinHandle<()>,
    /// The motion thread, for a camera whose rules watch pixels.
    motion: Option<(JoinHandle<()>, mpsc::Sender<CameraPlan>)>,
    /// New rules and zones for the detect thread (a config reload).
    rules: mpsc::Sender<CameraPlan>,
}

impl Camera {
    /// Starts the camera's decode and detect threads.
    pub fn start(plan: &CameraPlan, shared: &Shared, cancel: CancellationToken) -> std::io::Result<Self> {
        Self::start_with(plan, shared, cancel, None)
    }

    /// Starts the camera with its analyzer recording through `hooks`.
    pub fn start_with(
        plan: &CameraPlan,
        shared: &Shared,
        cancel: CancellationToken,
        hooks: Option<AnalysisHooks>,
    ) -> std::io::Result<Self> {
        let model = &plan.detect.model;
        let delivery = if plan.source.is_live() {
            Delivery::Latest
        } else {
            Delivery::Every
        };
        let slot = Arc::new(FrameSlot::new(delivery));
        let stats = Arc::new(CameraStats::default());
        let spec = plan.stream_spec();
        let gray = spec.gray;
        let gray_slot = gray.map(|_| Arc::new(FrameSlot::new(delivery)));
        let mut stream = Stream::new(spec, slot.clone());
        if let Some(gray_slot) = &gray_slot {
            stream = stream.with_gray_slot(gray_slot.clone());
        }
        let stream = Arc::new(stream);
        let decode = {
            let cancel = cancel.clone();
            let name = plan.name.clone();
            let stream = stream.clone();
            std::thread::Builder::new()
                .name(format!("decode-{name}"))
                .spawn(move || {
                    let result = stream.run(&cancel);
                    if let Err(e) = &result {
                        tracing::error!(camera = %name, error = %e, "camera stopped");
                    }
                    result
                })?
        };
        let service = shared
            .models
            .get(&model.key)
            .ok_or_else(|| std::io::Error::other(format!("model `{}` was not loaded", model.key)))?;
        let mut client = service.camera_client();
        let waiting = slot.clone();
        client.on_reply(Arc::new(move || waiting.wake()));
        let mut sightings = Sightings::new(plan.privacy.labels.clone(), plan.detect.keys.fps);
        if !plan.privacy.labels.persons.is_empty() {
            // pictures get a closer look for persons the frame's pass missed
            let input = &service.plan().manifest.input;
            let persons = plan.privacy.labels.persons.clone();
            sightings = sightings.with_closer(Closer::new(service.client(), (input.width, input.height), persons));
        }
        let sightings = Arc::new(sightings);
        let alerts = Alerts {
            camera: plan.name.clone(),
            stream: stream.clone(),
            snapshot_rules: Alerts::snapshot_rules(plan),
            evidence_rules: Alerts::evidence_rules(plan),
            evidence_plan: plan.evidence,
            detector: (plan.detect.model.key.clone(), plan.detect.model.manifest.sha256.clone()),
            privacy: Arc::new(plan.privacy.clone()),
            decode: plan.decode.clone(),
            stats: stats.clone(),
            sightings: sightings.clone(),
            shared: shared.clone(),
        };
        // Incidents open when this camera last stopped go back to their rules.
        let mut analyzer = FrameAnalyzer::new(plan, client)
            .with_hooks(hooks)
            .with_arming(shared.arming.clone(), plan.name.clone());
        let open = alerts.open_incidents();
        let was_open = open.len();
        let mut unclaimed = analyzer.resume(open);
        let motion = match gray_slot {
            Some(gray_slot) => {
                let (rules, updates) = mpsc::channel();
                let mut worker = MotionWorker::new(plan, gray_slot, alerts.clone(), updates, cancel.clone());
                unclaimed = worker.resume(unclaimed);
                let thread = std::thread::Builder::new()
                    .name(format!("motion-{}", plan.name))
                    .spawn(move || worker.run())?;
                Some((thread, rules))
            }
            None => None,
        };
        if was_open > unclaimed.len() {
            tracing::info!(camera = %plan.name, incidents = was_open - unclaimed.len(),
                "incidents open when the camera stopped are taken up again: no second start");
        }
        if !unclaimed.is_empty() {
            alerts.end_unclaimed(unclaimed);
        }
        let (rules, updates) = mpsc::channel();
        let overlay = Arc::new(Overlay::default());
        let worker = DetectWorker {
            overlay: overlay.clone(),
            sightings: sightings.clone(),
            camera: plan.name.clone(),
            slot: slot.clone(),
            analyzer,
            updates,
            alerts,
            stats: stats.clone(),
            cancel,
        };
        let detect = std::thread::Builder::new()
            .name(format!("detect-{}", plan.name))
            .spawn(move || worker.run())?;
        Ok(Self {
            view: CameraView {
                name: plan.name.clone(),
                stream: stream.status(),
                slot,
                stats,
                sightings,
            },
            stream,
            overlay,
            decode,
            detect,
            motion,
            rules,
        })
    }

    pub fn is_finished(&self) -> bool {
        self.decode.is_finished()
            && self.detect.is_finished()
            && self.motion.as_ref().is_none_or(|(m, _)| m.is_finished())
    }

    /// Whether the decode and the detect thread are still running.
    pub fn threads_running(&self) -> (bool, bool) {
        (!self.decode.is_finished(), !self.detect.is_finished())
    }

    /// Hands the rules, zones and snapshot policy of `plan` to the detect
    /// (and motion) thread, which take them before their next frame. False
    /// if a thread has ended.
    pub fn update_rules(&self, plan: CameraPlan) -> bool {
        let motion = self.motion.as_ref().is_none_or(|(_, tx)| tx.send(plan.clone()).is_ok());
        self.rules.send(plan).is_ok() && motion
    }

    /// Waits for every thread; the decode result says whether the camera failed.
    pub fn join(self) -> Result<(), DecodeError> {
        let _ = self.detect.join();
        if let Some((motion, _)) = self.motion {
            let _ = motion.join();
        }
        self.decode.join().unwrap_or(Ok(()))
    }
}

/// The detect thread of one camera.
struct DetectWorker {
    camera: Arc<str>,
    slot: Arc<FrameSlot>,
    analyzer: FrameAnalyzer,
    updates: mpsc::Receiver<CameraPlan>,
    alerts: Alerts,
    stats: Arc<CameraStats>,
    overlay: Arc<Overlay>,
    sightings: Arc<Sightings>,
    cancel: CancellationToken,
}

impl DetectWorker {
    /// Keeps the model's sessions busy with this camera's frames: it submits
    /// frames while a session is free and one is waiting in the slot, and
    /// completes the oldest (tracking, rules, alerts) when no more can go in.
    fn run(mut self) {
        let mut events: Vec<IncidentEvent> = Vec::new();
        let mut last_error: Option<String> = None;
        loop {
            while let Ok(plan) = self.updates.try_recv() {
                self.alerts.follow(&plan);
                self.analyzer.replace_rules(&plan, &mut events);
                tracing::info!(camera = %self.camera, rules = plan.rules.len(), zones = plan.zones.len(), "rules and zones replaced");
                self.alerts.send(&mut events);
            }
            if self.analyzer.can_submit() {
                // With frames in flight, whichever comes first: the next
                // frame, or the oldest frame's reply (then it is completed).
                let (slot, analyzer) = (&self.slot, &mut self.analyzer);
                match slot.take_or(Duration::from_millis(200), || analyzer.oldest_ready()) {
                    Taken::Frame(frame) => {
                        if let Err(e) = self.analyzer.submit(frame) {
                            self.failed(e, &mut last_error);
                        }
                        continue;
                    }
                    Taken::Empty if self.analyzer.pending() > 0 => {}
                    Taken::Empty if !self.cancel.is_cancelled() => continue,
                    Taken::Empty | Taken::Closed => {
                        while self.analyzer.pending() > 0 {
                            self.complete(&mut events, &mut last_error);
                        }
                        // Stopping with the box (or for a rebuild), open incidents
                        // stay open for the next start; a stream that ended ends them.
                        if self.cancel.is_cancelled() {
                            self.analyzer.suspend(&mut events);
                        } else {
                            self.analyzer.finish(&mut events);
                        }
                        self.alerts.send(&mut events);
                        return;
                    }
                }
            }
            self.complete(&mut events, &mut last_error);
        }
    }

    /// Completes the oldest frame in flight and sends what it raised.
    fn complete(&mut self, events: &mut Vec<IncidentEvent>, last_error: &mut Option<String>) {
        match self.analyzer.complete(events) {
            None => return,
            Some(Ok(outcome)) => {
                *last_error = None;
                let counter = if outcome.verdict.infer() {
                    &self.stats.inferred
                } else {
                    &self.stats.skipped
                };
                counter.fetch_add(1, Ordering::Relaxed);
                // what covers the pictures of this frame, before its alerts ask for one
                let pts = self.analyzer.last_pts();
                if outcome.verdict.infer() {
                    self.sightings
                        .record(pts, self.analyzer.cover_detections(), self.analyzer.tracks());
                } else {
                    self.sightings.carry(pts);
                }
                self.alerts.offer_evidence_frame();
                self.alerts.stream.held().release_before(pts);
                let tracks = self.analyzer.tracks().iter().map(|t| (t.label, t.bbox, t.lost));
                self.overlay.update(self.analyzer.last_detections(), tracks);
                self.overlay.recent.record(
                    self.analyzer.last_pts(),
                    std::time::SystemTime::now(),
                    self.analyzer.tracks(),
                );
            }
            Some(Err(e)) => self.failed(e, last_error),
        }
        self.alerts.send(events);
    }

    /// Logs an inference error once until the next success; no picture is
    /// made until then.
    fn failed(&self, e: crate::infer::InferError, last_error: &mut Option<String>) {
        self.sightings.fail();
        let text = e.to_string();
        if last_error.as_deref() != Some(&text) {
            tracing::error!(camera = %self.camera, error = %text, "inference failed");
            *last_error = Some(text);
        }
    }
}
