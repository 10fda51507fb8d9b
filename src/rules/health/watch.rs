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
            let (min, end_after) = match c {
                // `lost_secs` is the wait; the first frame back ends it
                Condition::SignalLost => (Duration::ZERO, Duration::ZERO),
                _ => (plan.condition(c).min, plan.condition(c).end_after),
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
            self.baseline.learn(&self.measures, changed, dt, self.plan.learn_secs);
        } else if holds.is_empty() && self.active().is_empty() {
            self.baseline.adapt(&self.measures, changed, dt, self.plan.adapt_secs);
        }
        if holds.is_empty() {
            self.holding_since = None;
        } else if now.saturating_sub(*self.holding_since.get_or_insert(now)) >= self.plan.relearn_secs {
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
    pub fn watch_signal(
        &mut self,
        since_frame: Duration,
        clock: Duration,
        wall: SystemTime,
        out: &mut Vec<IncidentEvent>,
    ) {
        self.targets.clear();
        if since_frame >= self.plan.lost_secs {
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
        let moved = !obscured && !blurred && on(Condition::Moved).is_some_and(|t| similarity(&m.thumb, reference) < t);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::EventKind;

    const W: u32 = 320;
    const H: u32 = 180;

    /// A textured view (diagonal stripes) with a little noise that changes
    /// every frame, as a real sensor's does, times `gain`, plus `offset`.
    fn view(n: u64, gain: f32, offset: f32) -> Vec<u8> {
        (0..H as usize)
            .flat_map(|y| {
                (0..W as usize).map(move |x| {
                    let stripe = if ((x + y) / 12) % 2 == 0 { 70.0 } else { 170.0 };
                    let noise = ((x as u64 * 31 + y as u64 * 17 + n * 7) % 5) as f32;
                    (stripe * gain + noise + offset).clamp(0.0, 255.0) as u8
                })
            })
            .collect()
    }

    /// Feeds `frames(n)` at 5 fps from second `from` to `to`; the events.
    fn feed(
        watch: &mut HealthWatch,
        from: f64,
        to: f64,
        frames: impl Fn(u64) -> Vec<u8>,
    ) -> Vec<(EventKind, Vec<String>, f64)> {
        let mut out = Vec::new();
        let mut n = (from * 5.0).round() as u64;
        while (n as f64) / 5.0 < to {
            let data = frames(n);
            let frame = GrayFrame {
                width: W,
                height: H,
                stride: W as usize,
                data: &data,
                pts: Duration::from_millis(n * 200),
            };
            watch.analyse(&frame, SystemTime::UNIX_EPOCH, &mut out);
            n += 1;
        }
        out.iter()
            .map(|e| {
                let labels = e.targets.iter().map(|t| t.label.to_string()).collect();
                (e.kind, labels, e.stream_time.as_secs_f64())
            })
            .collect()
    }

    #[test]
    fn nothing_is_judged_before_the_baseline_is_learnt_then_a_cover_is_covered() {
        let mut watch = HealthWatch::new(&HealthPlan::default());
        // covered from the start: nothing known to compare with
        assert!(feed(&mut watch, 0.0, 1.0, |_| vec![16; (W * H) as usize]).is_empty());
        assert!(!watch.has_baseline());
        assert!(feed(&mut watch, 1.0, 8.0, |n| view(n, 1.0, 0.0)).is_empty());
        assert!(watch.has_baseline());
        let events = feed(&mut watch, 8.0, 14.0, |_| vec![16; (W * H) as usize]);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].0, EventKind::Start);
        assert_eq!(events[0].1, ["covered"]);
        assert!(events[0].2 >= 10.0 && events[0].2 < 10.5, "after min_secs: {events:?}");
        assert_eq!(watch.active().names().collect::<Vec<_>>(), ["covered"]);
        let events = feed(&mut watch, 14.0, 20.0, |n| view(n, 1.0, 0.0));
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].0, EventKind::End);
        assert!(watch.active().is_empty());
    }

    #[test]
    fn a_dazzled_picture_is_too_bright_and_a_dim_one_that_stays_dim_is_normal() {
        let mut watch = HealthWatch::new(&HealthPlan::default());
        assert!(feed(&mut watch, 0.0, 8.0, |n| view(n, 1.0, 0.0)).is_empty());
        // a torch: three quarters of the picture saturated, the rest as it was
        let torch = |n| {
            let mut v = view(n, 1.0, 0.0);
            for row in v.chunks_mut(W as usize) {
                row[..(W as usize * 3 / 4)].fill(255);
            }
            v
        };
        let events = feed(&mut watch, 8.0, 14.0, torch);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].1, ["too_bright"]);

        let mut night = HealthWatch::new(&HealthPlan::default());
        assert!(feed(&mut night, 0.0, 30.0, |n| view(n, 0.2, 0.0)).is_empty());
        assert!(night.has_baseline());
    }

    #[test]
    fn a_disabled_condition_raises_nothing() {
        let mut plan = HealthPlan::default();
        plan.covered.enabled = false;
        plan.too_dark.enabled = false;
        plan.frozen.enabled = false;
        let mut watch = HealthWatch::new(&plan);
        feed(&mut watch, 0.0, 8.0, |n| view(n, 1.0, 0.0));
        // a flat picture is also without sharpness and unlike the reference
        let events = feed(&mut watch, 8.0, 14.0, |_| vec![16; (W * H) as usize]);
        let labels: Vec<&str> = events.iter().flat_map(|e| e.1.iter().map(String::as_str)).collect();
        assert!(
            !labels.contains(&"covered") && !labels.contains(&"too_dark"),
            "{events:?}"
        );
    }

    #[test]
    fn a_condition_that_lasts_relearn_secs_becomes_the_new_normal() {
        let plan = HealthPlan {
            relearn_secs: Duration::from_secs(20),
            ..HealthPlan::default()
        };
        let mut watch = HealthWatch::new(&plan);
        feed(&mut watch, 0.0, 8.0, |n| view(n, 1.0, 0.0));
        let events = feed(&mut watch, 8.0, 60.0, |n| view(n, 0.2, 0.0));
        let kinds: Vec<EventKind> = events.iter().map(|e| e.0).collect();
        assert_eq!(kinds, [EventKind::Start, EventKind::End], "{events:?}");
        assert_eq!(events[0].1, ["too_dark"]);
        assert!(events[1].2 >= 28.0 && events[1].2 < 31.0, "{events:?}");
        assert!(watch.has_baseline(), "learnt again on the dim picture");
    }

    #[test]
    fn signal_loss_starts_after_lost_secs_and_ends_with_the_first_frame() {
        let mut watch = HealthWatch::new(&HealthPlan::default());
        let mut out = Vec::new();
        let s = Duration::from_secs;
        watch.watch_signal(s(19), s(19), SystemTime::UNIX_EPOCH, &mut out);
        assert!(out.is_empty());
        watch.watch_signal(s(20), s(20), SystemTime::UNIX_EPOCH, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, EventKind::Start);
        assert_eq!(&*out[0].targets[0].label, "signal_lost");
        assert_eq!(watch.active().names().collect::<Vec<_>>(), ["signal_lost"]);
        watch.watch_signal(s(0), s(40), SystemTime::UNIX_EPOCH, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].kind, EventKind::End);
        assert_eq!(out[0].rule.as_ref(), RULE);
        assert_eq!(out[0].zone.as_ref(), ZONE);
    }
}
