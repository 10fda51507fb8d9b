//! The analysis of one camera's frames: motion gate → inference → tracking →
//! rules. The detect thread runs it on live frames; tests and tools run it on
//! recordings, frame by frame.

use std::time::{Duration, SystemTime};

use crate::decode::Frame;
use crate::infer::motion::{MotionGate, Verdict};
use crate::infer::preprocess::ImageView;
use crate::infer::{Detection, InferClient, InferError};
use crate::rules::{IncidentEvent, RuleEngine};
use crate::track::{Track, Tracker};

use super::camera::CameraPlan;

/// A tracked box whose centre moved more than this (of the frame) keeps inference on.
const MOVING_STEP: f32 = 0.004;

/// What became of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameOutcome {
    pub verdict: Verdict,
    /// Incident events this frame raised.
    pub events: usize,
}

pub struct FrameAnalyzer {
    model: InferClient,
    gate: MotionGate,
    tracker: Tracker,
    rules: RuleEngine,
    detections: Vec<Detection>,
    last_pts: Duration,
}

impl FrameAnalyzer {
    pub fn new(plan: &CameraPlan, model: InferClient) -> Self {
        Self {
            model,
            gate: MotionGate::new(plan.motion),
            tracker: Tracker::new(plan.track),
            rules: RuleEngine::new(&plan.rules, plan.detect.model.manifest.labels.clone()),
            detections: Vec::with_capacity(128),
            last_pts: Duration::ZERO,
        }
    }

    /// Analyses one frame; raised events are appended to `events`.
    pub fn process(&mut self, frame: &Frame, events: &mut Vec<IncidentEvent>) -> Result<FrameOutcome, InferError> {
        self.last_pts = frame.pts;
        let before = events.len();
        let Ok(map) = frame.buffer.map_readable() else {
            return Ok(FrameOutcome {
                verdict: Verdict::Skip,
                events: 0,
            });
        };
        let image = ImageView {
            data: map.as_slice(),
            width: frame.layout.width,
            height: frame.layout.height,
            stride: frame.layout.stride,
        };
        let verdict = self
            .gate
            .decide(&image, frame.pts, self.tracker.any_moving(MOVING_STEP));
        if verdict.infer() {
            self.detections.clear();
            let found = self.model.detect(frame)?;
            self.detections.extend_from_slice(found);
            let tracks = self.tracker.update(&self.detections, frame.pts);
            self.rules.step(tracks, frame.pts, SystemTime::now(), events);
        } else {
            // Nothing moved: whoever was there still is. The tracks keep their
            // age (they are matched again at the next inference) and the rules
            // keep seeing them, so a still scene neither ends nor starts anything.
            self.rules
                .step(self.tracker.current(), frame.pts, SystemTime::now(), events);
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

    /// The confirmed tracks after the last frame (lost ones included, flagged).
    pub fn tracks(&self) -> &[Track] {
        self.tracker.current()
    }

    /// Ends every open incident (the stream ended or the box is stopping).
    pub fn finish(&mut self, events: &mut Vec<IncidentEvent>) {
        self.rules.finish(self.last_pts, SystemTime::now(), events);
    }
}
