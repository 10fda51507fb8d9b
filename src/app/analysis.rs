//! The analysis of one camera's frames: motion gate → inference → tracking →
//! rules. The detect thread runs it on live frames; tests and tools run it on
//! recordings, frame by frame. A config reload can swap its rules and zones
//! between two frames ([`FrameAnalyzer::replace_rules`]).
//!
//! A live camera keeps up to its client's depth of frames in inference at
//! once ([`FrameAnalyzer::submit`], then [`FrameAnalyzer::complete`]), so one
//! stream can use every session of its model; frames are completed —
//! tracked and run through the rules — strictly in the order they were
//! submitted. The motion gate decides when a frame is submitted, from the
//! tracks of the frames completed by then.
//!
//! A recording ([`FrameAnalyzer::for_recording`]: replay, eval) goes through
//! the same path with the same depth, and gives exactly what one frame at a
//! time would: where the gate's verdict depends on the tracks, the frame
//! waits until every older frame is completed; and the rules run on the
//! recording's clock (its start plus the frame's position), not the
//! machine's.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::infer::model::DetectionFilter;
use crate::infer::motion::{MotionGate, Sample, Verdict};
use crate::infer::preprocess::ImageView;
use crate::infer::{InferClient, InferError};
use crate::rules::{Arming, EventKind, IncidentEvent, OpenIncident, RuleEngine};
use crate::track::{Pixels, Track, Tracker};
use crate::vocab::Frame;
use crate::vocab::{Detection, LabelMap};

use crate::observe::metrics::AnalysisHooks;
use crate::plan::CameraPlan;

/// Test hook (documented in docs/install.md): `WATCHPOST_TEST_WEDGE_DETECT=<camera>:<frames>`
/// makes that camera's detect thread hang after it has analysed `<frames>`
/// frames, as a hung accelerator driver would, so the watchdog can be tested.
pub const WEDGE_ENV: &str = "WATCHPOST_TEST_WEDGE_DETECT";

/// A tracked box whose centre moved more than this (of the frame) keeps inference on.
const MOVING_STEP: f32 = 0.004;

/// What became of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameOutcome {
    pub verdict: Verdict,
    /// Incident events this frame raised.
    pub events: usize,
}

/// A frame submitted and not yet completed.
struct Pending {
    frame: Frame,
    verdict: Verdict,
    asked: Instant,
    /// The model refused the frame when it was submitted late (see `Held`).
    refused: Option<InferError>,
}

/// A recording's frame whose gate verdict waits for the tracks of every
/// frame before it.
struct Held {
    frame: Frame,
    sample: Sample,
}

pub struct FrameAnalyzer {
    model: InferClient,
    /// Submitted frames, oldest first.
    pending: VecDeque<Pending>,
    gate: MotionGate,
    tracker: Tracker,
    rules: RuleEngine,
    labels: Arc<LabelMap>,
    /// The detections the rules' filter keeps: what tracking and rules see.
    detections: Vec<Detection>,
    /// Every detection of the last inference, the weaker persons kept for
    /// covering pictures included.
    cover: Vec<Detection>,
    filter: DetectionFilter,
    confidence: f32,
    last_pts: Duration,
    hooks: Option<AnalysisHooks>,
    frames: u64,
    wedge_after: Option<u64>,
    /// The box's arming switches and this camera's name in them.
    arming: Option<(Arc<Arming>, Arc<str>)>,
    /// A recording's start: the rules' clock is this plus the frame's
    /// position, and frames are gated exactly as one at a time would be.
    recording: Option<SystemTime>,
    held: Option<Held>,
    /// Number of the frame completed last.
    last_number: u64,
}

impl FrameAnalyzer {
    pub fn new(plan: &CameraPlan, model: InferClient) -> Self {
        Self {
            pending: VecDeque::with_capacity(model.capacity()),
            model,
            gate: MotionGate::new(plan.motion),
            tracker: Tracker::new(plan.track).with_label_thresholds(&plan.detect.model.filter.label_confidence),
            rules: RuleEngine::new(&plan.rules, plan.detect.model.manifest.labels.clone()),
            labels: plan.detect.model.manifest.labels.clone(),
            detections: Vec::with_capacity(128),
            cover: Vec::with_capacity(128),
            filter: plan.detect.model.filter.clone(),
            confidence: plan.detect.model.keys.confidence,
            last_pts: Duration::ZERO,
            hooks: None,
            frames: 0,
            wedge_after: wedge_after(&plan.name),
            arming: None,
            recording: None,
            held: None,
            last_number: 0,
        }
    }

    /// Analyses a recording that began at `start`: the rules see its time
    /// (schedules and wall-clock stamps follow the recording), and frames in
    /// flight give exactly the tracks and events one frame at a time gives.
    pub fn for_recording(mut self, start: SystemTime) -> Self {
        self.recording = Some(start);
        self
    }

    /// The rules' wall clock at stream position `pts`.
    fn wall(&self, pts: Duration) -> SystemTime {
        match self.recording {
            Some(start) => start.checked_add(pts).unwrap_or(start),
            None => SystemTime::now(),
        }
    }

    /// Follows the box's arming switches: a disarmed rule raises nothing.
    pub fn with_arming(mut self, arming: Arc<Arming>, camera: Arc<str>) -> Self {
        self.rules =
            std::mem::replace(&mut self.rules, RuleEngine::new(&[], self.labels.clone())).with_arming(&arming, &camera);
        self.arming = Some((arming, camera));
        self
    }

    /// Records inference latency and incidents through `hooks`.
    pub fn with_hooks(mut self, hooks: Option<AnalysisHooks>) -> Self {
        self.hooks = hooks;
        self
    }

    /// Takes the rules and zones of `plan` from the next frame on. The old
    /// rules' open incidents end now (their events are appended to `events`);
    /// the new rules start with a clean slate. Tracks are kept.
    pub fn replace_rules(&mut self, plan: &CameraPlan, events: &mut Vec<IncidentEvent>) {
        self.rules.finish(self.last_pts, self.wall(self.last_pts), events);
        self.rules = RuleEngine::new(&plan.rules, self.labels.clone());
        if let Some((arming, camera)) = &self.arming {
            self.rules = std::mem::replace(&mut self.rules, RuleEngine::new(&[], self.labels.clone()))
                .with_arming(arming, camera);
        }
    }

    /// Analyses one frame; raised events are appended to `events`. For a
    /// caller with no frame in flight (replay, eval, tests): it submits the
    /// frame and completes it.
    pub fn process(&mut self, frame: &Frame, events: &mut Vec<IncidentEvent>) -> Result<FrameOutcome, InferError> {
        self.submit(frame.clone())?;
        match self.complete(events) {
            Some(outcome) => outcome,
            None => Err(InferError::Run {
                model: String::new(),
                reason: "the frame was not submitted".into(),
            }),
        }
    }

    /// Whether another frame may be submitted now.
    pub fn can_submit(&self) -> bool {
        self.held.is_none() && self.pending.len() < self.model.depth()
    }

    /// Whether [`Self::complete`] would return without waiting for the model.
    pub fn oldest_ready(&mut self) -> bool {
        match self.pending.front() {
            None => false,
            Some(p) if !p.verdict.infer() => true,
            Some(_) => self.model.oldest_ready(),
        }
    }

    /// Frames submitted and not yet completed.
    pub fn pending(&self) -> usize {
        self.pending.len() + usize::from(self.held.is_some())
    }

    /// Stream time of the oldest frame submitted and not yet completed.
    pub fn oldest_pending_pts(&self) -> Option<Duration> {
        self.pending
            .front()
            .map(|p| p.frame.pts)
            .or(self.held.as_ref().map(|h| h.frame.pts))
    }

    /// Starts one frame: the motion gate decides, from the tracks of the
    /// frames completed so far, and a frame to infer goes to the model
    /// without waiting for it. [`Self::complete`] finishes frames in order.
    pub fn submit(&mut self, frame: Frame) -> Result<(), InferError> {
        self.frames += 1;
        if self.wedge_after.is_some_and(|n| self.frames > n) {
            tracing::warn!("{WEDGE_ENV}: this camera's detect thread hangs now");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        let sample = match frame.buffer.map_readable() {
            Err(_) => None,
            Ok(map) => Some(self.gate.sample(&ImageView::new(map.as_slice(), &frame.layout))),
        };
        let Some(sample) = sample else {
            // An unreadable frame is skipped, in its place in the order.
            self.pending.push_back(Pending {
                frame,
                verdict: Verdict::Skip,
                asked: Instant::now(),
                refused: None,
            });
            return Ok(());
        };
        if self.recording.is_some() && !self.pending.is_empty() && self.gate.needs_tracks(sample) {
            // Its verdict needs the tracks of the frames still in flight.
            self.held = Some(Held { frame, sample });
            return Ok(());
        }
        let verdict = self.decide(&frame, sample);
        if verdict.infer() {
            self.model.submit(&frame)?;
        }
        self.pending.push_back(Pending {
            frame,
            verdict,
            asked: Instant::now(),
            refused: None,
        });
        Ok(())
    }

    /// The gate's verdict on a sampled frame, from the tracks of the frames
    /// completed by now.
    fn decide(&mut self, frame: &Frame, sample: Sample) -> Verdict {
        let moving = self.tracker.any_moving(MOVING_STEP);
        self.gate
            .verdict(sample, frame.pts, Some(moving))
            .unwrap_or(Verdict::Skip)
    }

    /// Submits the held frame once every frame before it is completed; a
    /// refusal by the model is reported when the frame is completed.
    fn release_held(&mut self) {
        if !self.pending.is_empty() {
            return;
        }
        let Some(Held { frame, sample }) = self.held.take() else {
            return;
        };
        let verdict = self.decide(&frame, sample);
        let refused = if verdict.infer() {
            self.model.submit(&frame).err()
        } else {
            None
        };
        self.pending.push_back(Pending {
            frame,
            verdict: if refused.is_some() { Verdict::Skip } else { verdict },
            asked: Instant::now(),
            refused,
        });
    }

    /// Completes the oldest submitted frame — its detections (waiting for
    /// them if needed), tracking, rules — and appends the events it raised.
    /// None when nothing is pending.
    pub fn complete(&mut self, events: &mut Vec<IncidentEvent>) -> Option<Result<FrameOutcome, InferError>> {
        self.release_held();
        let Pending {
            frame,
            verdict,
            asked,
            refused,
        } = self.pending.pop_front()?;
        self.last_pts = frame.pts;
        self.last_number = frame.number;
        if let Some(e) = refused {
            return Some(Err(e));
        }
        let outcome = self.complete_frame(&frame, verdict, asked, events);
        // The held frame's verdict can be given now its elders are tracked.
        self.release_held();
        Some(outcome)
    }

    fn complete_frame(
        &mut self,
        frame: &Frame,
        verdict: Verdict,
        asked: Instant,
        events: &mut Vec<IncidentEvent>,
    ) -> Result<FrameOutcome, InferError> {
        let wall = self.wall(frame.pts);
        let before = events.len();
        if verdict.infer() {
            self.detections.clear();
            let found = self.model.receive()?;
            if let Some(hooks) = &self.hooks {
                hooks.inference.observe(asked.elapsed().as_secs_f64());
                hooks.frame_age.observe(frame.arrived.elapsed().as_secs_f64());
            }
            self.cover.clear();
            self.cover.extend_from_slice(found);
            let (filter, confidence) = (&self.filter, self.confidence);
            self.detections
                .extend(found.iter().filter(|d| filter.keeps(d, confidence)).copied());
            // The tracker reads what the boxes look like from the frame the
            // detector saw (mapping a buffer allocates nothing).
            let map = frame.buffer.map_readable().ok();
            let pixels = map.as_ref().map(|m| Pixels {
                data: m.as_slice(),
                layout: frame.layout,
                geometry: frame.geometry,
            });
            let tracks = self.tracker.update_seeing(&self.detections, pixels.as_ref(), frame.pts);
            self.rules.step(tracks, frame.pts, wall, events);
        } else {
            // Nothing moved: whoever was there still is. The tracks keep their
            // age (they are matched again at the next inference) and the rules
            // keep seeing them, so a still scene neither ends nor starts anything.
            self.rules.step(self.tracker.current(), frame.pts, wall, events);
        }
        if let Some(hooks) = &self.hooks {
            for event in events[before..].iter().filter(|e| e.kind == EventKind::Start) {
                hooks.incident(&event.rule, event.incident_id, frame.arrived);
            }
        }
        Ok(FrameOutcome {
            verdict,
            events: events.len() - before,
        })
    }

    /// What the detector found on the last frame it ran on, source-normalised.
    pub fn last_detections(&self) -> &[Detection] {
        &self.detections
    }

    /// Everything the detector found on the last frame it ran on, the
    /// persons kept only for covering pictures included.
    pub fn cover_detections(&self) -> &[Detection] {
        &self.cover
    }

    /// Stream time of the last frame completed.
    pub fn last_pts(&self) -> Duration {
        self.last_pts
    }

    /// Number of the last frame completed.
    pub fn last_number(&self) -> u64 {
        self.last_number
    }

    /// The confirmed tracks after the last frame (lost ones included, flagged).
    pub fn tracks(&self) -> &[Track] {
        self.tracker.current()
    }

    /// Ends every open incident (the stream ended).
    pub fn finish(&mut self, events: &mut Vec<IncidentEvent>) {
        self.rules.finish(self.last_pts, self.wall(self.last_pts), events);
    }

    /// The camera is stopping with the box: open incidents stay open for
    /// the next start to take up (see [`RuleEngine::suspend`]).
    pub fn suspend(&mut self, events: &mut Vec<IncidentEvent>) {
        self.rules.suspend(self.last_pts, self.wall(self.last_pts), events);
    }

    /// Takes up incidents open when the camera last stopped; returns those
    /// no rule takes (see [`RuleEngine::resume`]).
    pub fn resume(&mut self, open: Vec<OpenIncident>) -> Vec<OpenIncident> {
        self.rules.resume(open)
    }
}

/// The frame count after which the test hook hangs this camera, if set for it.
fn wedge_after(camera: &str) -> Option<u64> {
    let value = std::env::var(WEDGE_ENV).ok()?;
    let (name, frames) = value.rsplit_once(':')?;
    (name == camera).then(|| frames.parse().ok()).flatten()
}
