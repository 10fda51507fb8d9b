//! The motion thread of a camera whose rules watch pixels (`thrown_object`)
//! or whose health is watched (`[cameras.health]`): it takes the grayscale
//! frames of the pipeline's motion branch (up to the camera's full rate, see
//! [`crate::decode::gray`]), runs them through [`RuleEngine::step_motion`],
//! and sends what it raises through the camera's [`Alerts`], exactly as the
//! detect thread does. For a live camera it also judges signal loss about
//! five times a second, frames or not, and it keeps the camera's open
//! health conditions in its stats for the status topic.
//!
//! It runs beside the detect thread, not inside it: a fall lasts a second or
//! two and needs every frame, while inference takes tens of milliseconds a
//! frame. For an incident that carries a trajectory it attaches a strip
//! rather than one snapshot: the newest frame when the throw is confirmed
//! and [`STRIP_FRAMES`]` - 1` more, [`STRIP_STEP`] apart, while the object
//! is still falling — each redacted by the snapshot worker like every
//! picture, with the path drawn on.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use gstreamer as gst;
use tokio_util::sync::CancellationToken;

use super::alerts::Alerts;
use crate::anonymize::Picture;
use crate::decode::{FrameSlot, Taken};
use crate::plan::CameraPlan;
use crate::rules::blobs::GrayFrame;
use crate::rules::{self, IncidentEvent, RuleEngine, TrajectoryPoint};
use crate::vocab::{Frame, LabelMap};

/// Pictures in a trajectory strip.
pub const STRIP_FRAMES: usize = 4;
/// Stream time between two pictures of a strip.
pub const STRIP_STEP: Duration = Duration::from_millis(250);

/// A strip being gathered.
struct Strip {
    incident_id: String,
    trajectory: Arc<[TrajectoryPoint]>,
    pictures: Vec<Picture>,
    next: Duration,
}

pub(super) struct MotionWorker {
    slot: Arc<FrameSlot>,
    engine: RuleEngine,
    labels: Arc<LabelMap>,
    alerts: Alerts,
    updates: mpsc::Receiver<CameraPlan>,
    cancel: CancellationToken,
    strips: Vec<Strip>,
    last_pts: Duration,
    /// Whether signal loss is watched (live cameras only: a file ends).
    live: bool,
    started: Instant,
}

impl MotionWorker {
    pub fn new(
        plan: &CameraPlan,
        slot: Arc<FrameSlot>,
        alerts: Alerts,
        updates: mpsc::Receiver<CameraPlan>,
        cancel: CancellationToken,
    ) -> Self {
        let labels = plan.detect.model.manifest.labels.clone();
        Self {
            slot,
            engine: engine(plan, labels.clone()).with_arming(&alerts.shared.arming, &alerts.camera),
            labels,
            alerts,
            updates,
            cancel,
            strips: Vec::new(),
            last_pts: Duration::ZERO,
            live: plan.source.is_live(),
            started: Instant::now(),
        }
    }

    /// Takes up the incidents of pixel rules open when the camera last
    /// stopped; returns those no rule here takes.
    pub fn resume(&mut self, open: Vec<rules::OpenIncident>) -> Vec<rules::OpenIncident> {
        self.engine.resume(open)
    }

    pub fn run(mut self) {
        let mut events: Vec<IncidentEvent> = Vec::new();
        loop {
            while let Ok(plan) = self.updates.try_recv() {
                self.alerts.follow(&plan);
                let mut engine =
                    engine(&plan, self.labels.clone()).with_arming(&self.alerts.shared.arming, &self.alerts.camera);
                engine.keep_health(&mut self.engine);
                self.engine.finish(self.last_pts, SystemTime::now(), &mut events);
                self.engine = engine;
                self.send(&mut events);
            }
            let taken = self.slot.take(Duration::from_millis(200));
            if self.live {
                if let Some(health) = self.engine.health_mut() {
                    let since_frame = self.alerts.stream.status().since_frame();
                    health.watch_signal(since_frame, self.started.elapsed(), SystemTime::now(), &mut events);
                }
                self.send(&mut events);
            }
            match taken {
                Taken::Frame(frame) => {
                    self.step(&frame, &mut events);
                    self.send(&mut events);
                    self.gather(frame.pts);
                }
                Taken::Empty if !self.cancel.is_cancelled() => {}
                Taken::Empty | Taken::Closed => {
                    if self.cancel.is_cancelled() {
                        self.engine.suspend(self.last_pts, SystemTime::now(), &mut events);
                    } else {
                        self.engine.finish(self.last_pts, SystemTime::now(), &mut events);
                    }
                    self.send(&mut events);
                    for strip in std::mem::take(&mut self.strips) {
                        self.offer(strip);
                    }
                    self.alerts.stats.health.store(0, Ordering::Relaxed);
                    return;
                }
            }
            let health = self.engine.health_conditions().bits();
            self.alerts.stats.health.store(health, Ordering::Relaxed);
        }
    }

    /// Runs the motion rules on one grayscale frame.
    fn step(&mut self, frame: &Frame, events: &mut Vec<IncidentEvent>) {
        self.last_pts = frame.pts;
        if step_motion(&mut self.engine, frame, SystemTime::now(), events).is_err() {
            tracing::warn!(camera = %self.alerts.camera, frame = frame.number, "a grayscale frame cannot be read; skipped");
        }
    }

    /// Sends the events; a started incident with a trajectory begins a strip.
    fn send(&mut self, events: &mut Vec<IncidentEvent>) {
        if events.is_empty() {
            return;
        }
        let alerts = self.alerts.clone();
        let now = self.last_pts;
        let strips = &mut self.strips;
        alerts.send_with(events, |incident_id, targets| {
            let Some(trajectory) = targets.iter().find_map(|t| t.trajectory.clone()) else {
                return false;
            };
            strips.push(Strip {
                incident_id: incident_id.to_string(),
                trajectory,
                pictures: alerts.picture(incident_id).into_iter().collect(),
                next: now + STRIP_STEP,
            });
            true
        });
    }

    /// Adds the newest frame to the strips that are due; offers full ones.
    fn gather(&mut self, now: Duration) {
        let mut i = 0;
        while i < self.strips.len() {
            let strip = &mut self.strips[i];
            if now >= strip.next {
                strip.next += STRIP_STEP;
                // a picture of a frame not yet in the strip (the detector may be slower)
                if let Some(picture) = self.alerts.picture(&strip.incident_id)
                    && strip.pictures.last().is_none_or(|p| p.pts() != picture.pts())
                {
                    strip.pictures.push(picture);
                }
            }
            if strip.pictures.len() >= STRIP_FRAMES {
                let strip = self.strips.swap_remove(i);
                self.offer(strip);
            } else {
                i += 1;
            }
        }
    }

    fn offer(&self, strip: Strip) {
        self.alerts
            .offer_snapshot(strip.incident_id, strip.pictures, Some(strip.trajectory));
    }
}

/// The engine of `plan`'s rules that watch pixels, and of its health watch.
pub(super) fn engine(plan: &CameraPlan, labels: Arc<LabelMap>) -> RuleEngine {
    RuleEngine::new(&rules::pixel_rules(&plan.rules), labels).with_health(plan.health.as_ref())
}

/// Runs `engine`'s motion rules on one grayscale frame of the motion
/// branch, for live cameras and replay alike; fails when the frame's
/// memory cannot be read.
pub(super) fn step_motion(
    engine: &mut RuleEngine,
    frame: &Frame,
    wall: SystemTime,
    events: &mut Vec<IncidentEvent>,
) -> Result<(), gst::glib::BoolError> {
    let map = frame.buffer.map_readable()?;
    let gray = GrayFrame {
        width: frame.layout.width as u32,
        height: frame.layout.height as u32,
        stride: frame.layout.stride,
        data: map.as_slice(),
        pts: frame.pts,
    };
    engine.step_motion(&gray, wall, events);
    Ok(())
}
