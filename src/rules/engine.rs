//! The rule engine: all rules of one camera, run frame by frame. Rules that
//! follow tracks are fed each frame's tracks ([`RuleEngine::step`]); rules
//! whose kind watches pixels are fed grayscale frames
//! ([`RuleEngine::step_motion`]). Either way the targets a rule raises pass
//! its arming switch and schedule and then its incident lifecycle, which turns them into
//! events. [`pixel_watch`] and [`pixel_rules`] tell a camera whether it needs
//! a motion branch, and for which rules.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;

use super::arming::{Arming, RuleSwitch};
use super::blobs::GrayFrame;
use super::health::{Conditions, HealthPlan, HealthWatch};
use super::incident::{EventSource, IncidentEvent, Lifecycle, OpenIncident, Target};
use super::kind::{PixelWatch, Scope};
use super::kinds::KindState;
use super::rule::RulePlan;
use crate::track::Track;
use crate::vocab::LabelMap;

/// How long, beyond a rule's own timing, an incident taken up after a
/// restart waits for its condition: the camera reconnecting and the tracker
/// confirming what it sees again.
pub const RESUME_MARGIN: Duration = Duration::from_secs(30);

/// One rule while it runs.
struct ActiveRule {
    plan: Arc<RulePlan>,
    source: EventSource,
    lifecycle: Lifecycle,
    state: KindState,
    /// People's arming of the rule; None: always armed (replay, tests).
    switch: Option<RuleSwitch>,
}

/// All rules of one camera, fed frame by frame.
pub struct RuleEngine {
    rules: Vec<ActiveRule>,
    labels: Arc<LabelMap>,
    time_zone: TimeZone,
    /// Reused per rule and frame.
    targets: Vec<Target>,
    /// The camera's health watch, fed with the pixel rules' frames.
    health: Option<HealthWatch>,
}

/// The box's local time of one frame, worked out once and only if a
/// schedule asks for it.
struct LocalTime<'a> {
    time_zone: &'a TimeZone,
    wall: SystemTime,
    local: Option<DateTime>,
}

impl LocalTime<'_> {
    /// Clears `targets` when the rule is disarmed or `plan`'s schedule is
    /// closed now.
    fn unless_armed(&mut self, plan: &RulePlan, switch: Option<&RuleSwitch>, targets: &mut Vec<Target>) {
        if switch.is_some_and(|s| !s.is_armed()) {
            targets.clear();
            return;
        }
        if plan.schedule.is_always() {
            return;
        }
        let local = *self.local.get_or_insert_with(|| {
            let ts = jiff::Timestamp::try_from(self.wall).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            self.time_zone.to_datetime(ts)
        });
        if !plan.schedule.is_open(local) {
            targets.clear();
        }
    }
}

impl RuleEngine {
    /// An engine whose schedules follow the box's time zone.
    pub fn new(rules: &[Arc<RulePlan>], labels: Arc<LabelMap>) -> Self {
        let rules = rules
            .iter()
            .map(|plan| ActiveRule {
                source: EventSource::new(plan.name.clone(), plan.zone.name.clone(), plan.keys.severity),
                lifecycle: Lifecycle::new(plan.lifecycle),
                state: plan.kind.state(),
                plan: plan.clone(),
                switch: None,
            })
            .collect();
        Self {
            rules,
            labels,
            time_zone: TimeZone::system(),
            targets: Vec::new(),
            health: None,
        }
    }

    /// Also watches the camera's health on the grayscale frames, if `plan` says so.
    pub fn with_health(mut self, plan: Option<&HealthPlan>) -> Self {
        self.health = plan.map(HealthWatch::new);
        self
    }

    /// Takes over `previous`'s health watch (its learnt baseline and open
    /// incidents) when it runs the same plan as this engine's: a reload
    /// that changes rules only does not restart the watch.
    pub fn keep_health(&mut self, previous: &mut RuleEngine) {
        let same = match (&self.health, &previous.health) {
            (Some(new), Some(old)) => new.plan() == old.plan(),
            _ => false,
        };
        if same {
            self.health = previous.health.take();
        }
    }

    /// The camera's health watch, if it has one.
    pub fn health(&self) -> Option<&HealthWatch> {
        self.health.as_ref()
    }

    /// The health conditions with an incident open now (none without a watch).
    pub fn health_conditions(&self) -> Conditions {
        self.health.as_ref().map_or(Conditions::NONE, HealthWatch::active)
    }

    /// The camera's health watch, to step (signal loss is judged on it,
    /// [`HealthWatch::watch_signal`]), if it has one.
    pub fn health_mut(&mut self) -> Option<&mut HealthWatch> {
        self.health.as_mut()
    }

    /// Follows `camera`'s switches on `arming`: a disarmed rule raises nothing.
    pub fn with_arming(mut self, arming: &Arming, camera: &str) -> Self {
        for rule in &mut self.rules {
            rule.switch = Some(arming.switch(camera, &rule.plan.name));
        }
        self
    }

    /// Evaluates schedules in `time_zone` instead of the box's.
    pub fn with_time_zone(mut self, time_zone: TimeZone) -> Self {
        self.time_zone = time_zone;
        self
    }

    /// Evaluates every rule that follows tracks on one frame's tracks (from
    /// the tracker: seen and lost confirmed tracks); pushes raised events.
    pub fn step(&mut self, tracks: &[Track], now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        let mut local = LocalTime {
            time_zone: &self.time_zone,
            wall,
            local: None,
        };
        for rule in &mut self.rules {
            if rule.plan.kind.watches_motion() {
                continue;
            }
            self.targets.clear();
            let plan = &rule.plan;
            let scope = Scope {
                zone: &plan.zone,
                anchor: plan.keys.anchor,
                labels: &plan.labels,
                min_confidence: plan.keys.min_confidence,
                names: &self.labels,
                now,
            };
            rule.state.evaluate(&plan.kind, &scope, tracks, &mut self.targets);
            local.unless_armed(plan, rule.switch.as_ref(), &mut self.targets);
            rule.lifecycle.forget_unless(|id| tracks.iter().any(|t| t.id == id));
            rule.lifecycle.observe(&rule.source, &mut self.targets, now, wall, out);
        }
    }

    /// Whether any rule, or the health watch, needs grayscale frames
    /// through [`Self::step_motion`].
    pub fn wants_motion(&self) -> bool {
        self.health.is_some() || self.rules.iter().any(|r| r.plan.kind.watches_motion())
    }

    /// Evaluates the rules whose kind watches pixels on one grayscale frame,
    /// a separate entry point from [`Self::step`] because they watch pixels,
    /// not tracks; pushes raised events. Call it at the camera's full frame
    /// rate: each rule analyses at most the frame rate its kind asks for.
    pub fn step_motion(&mut self, frame: &GrayFrame<'_>, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        let now = frame.pts;
        let mut local = LocalTime {
            time_zone: &self.time_zone,
            wall,
            local: None,
        };
        for rule in &mut self.rules {
            if !rule.plan.kind.watches_motion() {
                continue;
            }
            self.targets.clear();
            let plan = &rule.plan;
            if !rule.state.analyse(&plan.kind, &plan.zone, frame, &mut self.targets) {
                continue;
            }
            local.unless_armed(plan, rule.switch.as_ref(), &mut self.targets);
            let state = &rule.state;
            rule.lifecycle.forget_unless(|id| state.follows(id));
            rule.lifecycle.observe(&rule.source, &mut self.targets, now, wall, out);
        }
        if let Some(health) = &mut self.health {
            health.analyse(frame, wall, out);
        }
    }

    /// Takes up `open`, the incidents of this camera that were open when the
    /// box stopped: each goes back to the rule of the same name and zone,
    /// which keeps it open (no second start) if its condition holds again
    /// within its `end_after_secs`, `min_secs`, the kind's own dwell and
    /// [`RESUME_MARGIN`] of the first frame, and ends it otherwise. Returns
    /// those no rule here takes (the rule is gone, renamed or moved to
    /// another zone): the caller ends them.
    pub fn resume(&mut self, open: Vec<OpenIncident>) -> Vec<OpenIncident> {
        let mut left = Vec::new();
        for incident in open {
            let rule = self
                .rules
                .iter_mut()
                .find(|r| r.plan.name == incident.rule && r.plan.zone.name == incident.zone);
            let Some(rule) = rule else {
                left.push(incident);
                continue;
            };
            let timing = rule.plan.lifecycle;
            let grace = timing.end_after + timing.min_duration + rule.plan.kind.warm_up() + RESUME_MARGIN;
            if !rule.lifecycle.resume(incident.incident_id, grace) {
                left.push(incident);
            }
        }
        left
    }

    /// The box is stopping: the rules' open incidents stay open — the outbox
    /// keeps them, and the next start takes them up ([`Self::resume`]) — so
    /// a restart never raises an incident twice. The health watch's
    /// incidents end (a restarted camera learns its picture again).
    pub fn suspend(&mut self, now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        if let Some(health) = &mut self.health {
            health.finish(now, wall, out);
        }
    }

    /// Ends every active incident (the stream ended).
    pub fn finish(&mut self, now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        for rule in &mut self.rules {
            rule.lifecycle.finish(&rule.source, now, wall, out);
        }
        if let Some(health) = &mut self.health {
            health.finish(now, wall, out);
        }
    }
}

/// What `rules` need of the motion branch; None when none watches pixels.
pub fn pixel_watch<'a>(rules: impl IntoIterator<Item = &'a RulePlan>) -> Option<PixelWatch> {
    rules
        .into_iter()
        .filter_map(|r| r.kind.pixel_watch())
        .reduce(|a, b| PixelWatch {
            fps: a.fps.max(b.fps),
            width: a.width.max(b.width),
        })
}

/// The rules among `rules` that watch pixels rather than tracks.
pub fn pixel_rules(rules: &[Arc<RulePlan>]) -> Vec<Arc<RulePlan>> {
    rules.iter().filter(|r| r.kind.watches_motion()).cloned().collect()
}
