//! The health watch of one camera: it measures grayscale frames of the
//! motion branch at `analysis_fps`, judges them against the camera's
//! [`Baseline`], and runs one incident lifecycle per condition, so each
//! condition starts after its own `min_secs` and ends after its own
//! `end_after_secs`. Signal loss is judged apart, on the clock, since a
//! lost camera sends no frames ([`HealthWatch::watch_signal`]).
//!
//! One condition explains the others away: a covered picture is also dark,
//! flat and unchanging, so while `covered` holds nothing else is raised on
//! the picture; a dark or dazzled picture is not judged for blur or a moved
//! view. Conditions that are turned off explain nothing away.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::baseline::Baseline;
use super::condition::{ALL, Condition, Conditions, PICTURE};
use super::config::HealthPlan;
use super::measure::{Measurer, Measures, similarity};
use crate::rules::blobs::GrayFrame;
use crate::rules::incident::{EventSource, IncidentEvent, Lifecycle, LifecyclePlan, Target};
use crate::vocab::BBox;

/// The rule name health incidents carry.
pub const RULE: &str = "camera_health";
/// The zone name they carry: the whole picture.
pub const ZONE: &str = "picture";
/// The second label of a `moved` incident: the zones drawn on the old view
/// may no longer cover what they should.
pub const ZONES_MAY_NOT_FIT: &str = "zones_may_not_fit";
/// A covered picture is only a change if the learnt one had this much less flat area.
const COVERED_MARGIN: f64 = 0.15;
/// The share of frames that must normally change for `frozen` to be watched.
const CHANGING: f64 = 0.9;

/// One camera's health watch.
#[derive(Debug)]
pub struct HealthWatch {
    plan: HealthPlan,
    source: EventSource,
    /// One per condition, in [`ALL`] order.
    lifecycles: [Lifecycle; ALL.len()],
    labels: [Arc<str>; ALL.len()],
    note: Arc<str>,
    measurer: Measurer,
    measures: Measures,
    baseline: Baseline,
    next_due: Option<Duration>,
    last_pts: Option<Duration>,
    /// Since when some picture condition has held without a break.
    holding_since: Option<Duration>,
    /// Reused per frame.
    targets: Vec<Target>,
}

impl HealthWatch {
    pub fn new(plan: &HealthPlan) -> Self {
        let lifecycle = |c: Condition| {
            let (min, end_after) = match c.picture_index() {
                Some(i) => (plan.conditions[i].min, plan.conditions[i].end_after),
                // `lost_secs` is the wait; the first frame back ends it
                None => (Duration::ZERO, Duration::ZERO),
            };
            Lifecycle::new(LifecyclePlan {
                min_duration: min,
                end_after,
                ..LifecyclePlan::IMMEDIATE
            })
        };
        Self {
            plan: plan.clone(),
            source: EventSource::new(RULE.into(), ZONE.into(), plan.severity),
            lifecycles: ALL.map(lifecycle),
            labels: ALL.map(|c| Arc::from(c.name())),
            note: Arc::from(ZONES_MAY_NOT_FIT),
            measurer: Measurer::default(),
            measures: Measures::default(),
            baseline: Baseline::default(),
            next_due: None,
            last_pts: None,
            holding_since: None,
            targets: Vec::with_capacity(2),
        }
    }

    /// The plan it runs.
    pub fn plan(&self) -> &HealthPlan {
        &self.plan
    }

    /// The conditions with an incident open now.
    pub fn active(&self) -> Conditions {
        let mut set = Conditions::NONE;
        for (c, l) in ALL.iter().zip(&self.lifecycles) {
            set.set(*c, l.is_active());
        }
        set
    }

    /// Whether the camera's normal picture has been learnt.
    pub fn has_baseline(&self) -> bool {
        self.baseline.learnt().is_some()
    }

    /// The figures of the last analysed frame (for tools and tests).
    pub fn last_measures(&self) -> &Measures {
        &self.measures
    }

    /// Analyses one grayscale frame if it is due at `analysis_fps`; pushes
    /// the events of the picture conditions. False when the frame was not
    /// analysed (not due, or unusable).
    pub fn analyse(&mut self, frame: &GrayFrame<'_>, wall: SystemTime, out: &mut Vec<IncidentEvent>) -> bool {
        let now = frame.pts;
        let period = Duration::from_secs_f64(1.0 / self.plan.analysis_fps);
        let slack = Duration::from_millis(2);
        match self.next_due {
            Some(due) if now + slack < due => return false,
            Some(due) if now < due + period => self.next_due = Some(due + period),
            _ => self.next_due = Some(now + period),
        }
        if !self.measurer.measure(frame, &mut self.measures) {
            return false;
        }
        let dt = self
            .last_pts
            .map_or(Duration::ZERO, |last| now.saturating_sub(last))
            .min(Duration::from_secs(1));
        self.last_pts = Some(now);
        let frozen_at = self.plan.condition(Condition::Frozen).threshold;
        let changed = self.measures.change.map(|c| c > frozen_at);
        let holds = self.judge();
        if self.baseline.learnt().is_none() {
            self.baseline.learn(&self.measures, changed, dt, self.plan.learn);
        } else if holds.is_empty() && self.active().is_empty() {
            self.baseline.adapt(&self.measures, changed, dt, self.plan.adapt_secs);
        }
        if holds.is_empty() {
            self.holding_since = None;
        } else if now.saturating_sub(*self.holding_since.get_or_insert(now)) >= self.plan.relearn {
            tracing::info!(conditions = ?holds.names().collect::<Vec<_>>(), "camera health: a condition lasted `relearn_secs`; learning the picture again");
            self.baseline.reset();
            self.holding_since = None;
        }
        for c in PICTURE {
            self.targets.clear();
            if holds.contains(c) {
                self.targets.push(self.target(c));
                if c == Condition::Moved {
                    let mut note = self.target(c);
                    note.track_id = ALL.len() as u64;
                    note.label = self.note.clone();
                    self.targets.push(note);
                }
            }
            self.lifecycles[c as usize].observe(&self.source, &mut self.targets, now, wall, out);
        }
        true
    }

    /// Judges signal loss: `since_frame` is how long ago the camera's last
    /// frame arrived (or it started, without one), `clock` a monotonic time.
    pub fn watch_signal(&mut self, since_frame: Duration, clock: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        self.targets.clear();
        if since_frame >= self.plan.lost {
            self.targets.push(self.target(Condition::SignalLost));
        }
        let lifecycle = &mut self.lifecycles[Condition::SignalLost as usize];
        lifecycle.observe(&self.source, &mut self.targets, clock, wall, out);
    }

    /// Ends every open incident (the stream ended, the camera stops).
    pub fn finish(&mut self, now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        for l in &mut self.lifecycles {
            l.finish(&self.source, now, wall, out);
        }
    }

    fn target(&self, c: Condition) -> Target {
        let whole = BBox {
            x1: 0.0,
            y1: 0.0,
            x2: 1.0,
            y2: 1.0,
        };
        Target::new(c as u64, self.labels[c as usize].clone(), 1.0, whole)
    }

    /// The picture conditions that hold on the last measured frame.
    fn judge(&self) -> Conditions {
        let mut holds = Conditions::NONE;
        let Some((base, reference)) = self.baseline.learnt() else {
            return holds;
        };
        let m = &self.measures;
        let on = |c: Condition| {
            let plan = self.plan.condition(c);
            plan.enabled.then_some(plan.threshold)
        };
        let covered = on(Condition::Covered).is_some_and(|t| m.flat >= t && base.flat + COVERED_MARGIN <= t);
        let dark = !covered && on(Condition::TooDark).is_some_and(|t| m.mean < base.mean * t);
        let bright =
            !covered && on(Condition::TooBright).is_some_and(|t| m.saturated >= t && base.saturated <= t / 2.0);
        let obscured = covered || dark || bright;
        let blurred = !obscured && on(Condition::Blurred).is_some_and(|t| m.sharpness < base.sharpness * t);
        let moved =
            !obscured && !blurred && on(Condition::Moved).is_some_and(|t| similarity(&m.thumb, reference) < t);
        let frozen = !covered
            && on(Condition::Frozen).is_some_and(|t| base.changing >= CHANGING && m.change.is_some_and(|c| c <= t));
        for (c, holds_now) in [
            (Condition::Covered, covered),
            (Condition::TooDark, dark),
            (Condition::TooBright, bright),
            (Condition::Blurred, blurred),
            (Condition::Moved, moved),
            (Condition::Frozen, frozen),
        ] {
            holds.set(c, holds_now);
        }
        holds
    }
}
