//! The incident lifecycle every rule kind shares: a condition that holds for
//! `min_secs` starts an incident, changes while it lasts are sent as
//! `update`s at most every `update_every_secs`, and an incident ends once the
//! condition has been false for `end_after_secs` — so a person hidden for a
//! moment behind a pillar does not end one incident and start a second.
//! After an end the rule is quiet for `cooldown_secs`, and an object that
//! already took part in an incident of this rule never raises it again
//! (first alarm per target): one incident per event, never a flood.
//!
//! Events carry track ids for the rule engine's own use; the anonymize stage
//! removes them before anything leaves the box.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::vocab::BBox;

/// How urgent an incident is for the security office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl crate::config::table::Bare for Severity {}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Start,
    Update,
    End,
}

/// An object that is part of an incident.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Ephemeral, per camera; never published.
    pub track_id: u64,
    pub label: Arc<str>,
    pub score: f32,
    pub bbox: BBox,
    /// The path that raised the incident, for kinds that follow one
    /// (thrown_object); None for the others.
    pub trajectory: Option<Arc<[TrajectoryPoint]>>,
}

impl Target {
    /// An object a rule is about, followed by no path.
    pub fn new(track_id: u64, label: Arc<str>, score: f32, bbox: BBox) -> Self {
        Self {
            track_id,
            label,
            score,
            bbox,
            trajectory: None,
        }
    }
}

/// One point of a target's path: stream seconds and the normalised position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrajectoryPoint {
    pub secs: f64,
    pub x: f32,
    pub y: f32,
}

/// One event of an incident, as raised by a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentEvent {
    pub kind: EventKind,
    pub incident_id: Uuid,
    pub rule: Arc<str>,
    pub zone: Arc<str>,
    pub severity: Severity,
    pub time: SystemTime,
    /// Stream time of the frame that raised it.
    pub stream_time: Duration,
    pub targets: Vec<Target>,
}

/// Timing and repeat policy shared by all rule kinds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifecyclePlan {
    /// The condition must hold this long before an incident starts.
    pub min_duration: Duration,
    /// The condition must be false this long before an incident ends.
    pub end_after: Duration,
    /// Least time between two events of one incident for an `update`.
    pub update_every: Duration,
    /// After an end, the rule raises nothing for this long.
    pub cooldown: Duration,
    /// An object raises this rule at most once.
    pub once_per_target: bool,
}

impl LifecyclePlan {
    /// Starts at once, ends at once, no updates, no cooldown, repeats allowed.
    pub const IMMEDIATE: Self = Self {
        min_duration: Duration::ZERO,
        end_after: Duration::ZERO,
        update_every: Duration::MAX,
        cooldown: Duration::ZERO,
        once_per_target: false,
    };
}

#[derive(Debug)]
struct Active {
    id: Uuid,
    last_true: Duration,
    last_event: Duration,
    /// Track ids of the last event sent, sorted.
    published: Vec<u64>,
    /// Every track id that took part.
    involved: Vec<u64>,
    targets: Vec<Target>,
    /// Taken up after a restart and not seen since: how long it waits for
    /// its condition before it ends, counted from the first frame.
    resumed: Option<Resumed>,
}

#[derive(Debug, Clone, Copy)]
struct Resumed {
    grace: Duration,
    /// The first frame's stream time is not known until it comes.
    timed: bool,
}

/// An incident that was open when the box stopped, as the outbox's ledger
/// keeps it: enough to take it up again, or to end it.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenIncident {
    pub incident_id: Uuid,
    pub rule: Arc<str>,
    pub zone: Arc<str>,
    pub severity: Severity,
}

impl OpenIncident {
    /// The end of this incident now, without targets (none is in sight).
    pub fn end(&self, stream_time: Duration, time: SystemTime) -> IncidentEvent {
        EventSource::new(self.rule.clone(), self.zone.clone(), self.severity).event(
            EventKind::End,
            self.incident_id,
            stream_time,
            time,
            Vec::new(),
        )
    }
}

/// One rule's incident state machine: idle → pending → active → idle (→ cooling down).
#[derive(Debug)]
pub struct Lifecycle {
    plan: LifecyclePlan,
    pending_since: Option<Duration>,
    active: Option<Active>,
    quiet_until: Option<Duration>,
    /// Track ids whose incident has ended (first alarm per target).
    spent: Vec<u64>,
    /// Reused per frame.
    ids: Vec<u64>,
}

/// What the rule identity adds to each event.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub rule: Arc<str>,
    pub zone: Arc<str>,
    pub severity: Severity,
}

impl EventSource {
    pub fn new(rule: Arc<str>, zone: Arc<str>, severity: Severity) -> Self {
        Self { rule, zone, severity }
    }

    /// An event of this rule's incident `incident_id`, raised on the frame
    /// at `stream_time`, `time` on the wall clock.
    pub fn event(
        &self,
        kind: EventKind,
        incident_id: Uuid,
        stream_time: Duration,
        time: SystemTime,
        targets: Vec<Target>,
    ) -> IncidentEvent {
        IncidentEvent {
            kind,
            incident_id,
            rule: self.rule.clone(),
            zone: self.zone.clone(),
            severity: self.severity,
            time,
            stream_time,
            targets,
        }
    }
}

impl Lifecycle {
    pub fn new(plan: LifecyclePlan) -> Self {
        Self {
            plan,
            pending_since: None,
            active: None,
            quiet_until: None,
            spent: Vec::new(),
            ids: Vec::new(),
        }
    }

    /// Whether an incident is open.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Takes up incident `id`, open when the box stopped: it stays open
    /// (no new start) if the condition holds within `grace` of the first
    /// frame — its first sight is sent as an update — and ends otherwise.
    /// False when an incident is already open.
    pub fn resume(&mut self, id: Uuid, grace: Duration) -> bool {
        if self.active.is_some() {
            return false;
        }
        self.active = Some(Active {
            id,
            last_true: Duration::ZERO,
            last_event: Duration::ZERO,
            published: Vec::new(),
            involved: Vec::new(),
            targets: Vec::new(),
            resumed: Some(Resumed { grace, timed: false }),
        });
        true
    }

    /// Forgets targets the tracker no longer has (their ids never come back),
    /// so a long incident on a busy scene does not accumulate ids.
    pub fn forget_unless(&mut self, alive: impl Fn(u64) -> bool) {
        self.spent.retain(|&id| alive(id));
        if let Some(active) = &mut self.active {
            active.involved.retain(|&id| alive(id));
        }
    }

    /// Feeds one frame's verdict: the targets for which the condition holds
    /// (empty when it does not). Targets that may not raise the rule (spent,
    /// or during a cooldown) are removed. Pushes an event when the incident
    /// starts, changes (throttled) or ends.
    pub fn observe(
        &mut self,
        source: &EventSource,
        targets: &mut Vec<Target>,
        now: Duration,
        wall: SystemTime,
        out: &mut Vec<IncidentEvent>,
    ) {
        if self.plan.once_per_target && !self.spent.is_empty() {
            let spent = &self.spent;
            targets.retain(|t| !spent.contains(&t.track_id));
        }
        if self.active.is_none() && self.quiet_until.is_some_and(|until| now < until) {
            targets.clear();
        }
        if let Some(Active {
            resumed: Some(resumed),
            last_true,
            last_event,
            ..
        }) = &mut self.active
            && !resumed.timed
        {
            resumed.timed = true;
            (*last_true, *last_event) = (now, now);
        }
        if targets.is_empty() {
            self.pending_since = None;
            let end_after = |a: &Active| a.resumed.map_or(self.plan.end_after, |r| r.grace);
            let ended = self
                .active
                .as_ref()
                .is_some_and(|a| now.saturating_sub(a.last_true) >= end_after(a));
            if ended {
                self.finish(source, now, wall, out);
            }
            return;
        }
        self.ids.clear();
        self.ids.extend(targets.iter().map(|t| t.track_id));
        self.ids.sort_unstable();
        self.ids.dedup();
        if let Some(active) = &mut self.active {
            active.last_true = now;
            if active.resumed.take().is_some() {
                // In sight again after the restart: the office hears who.
                active.last_event = now.saturating_sub(self.plan.update_every);
            }
            active.targets.clear();
            active.targets.extend_from_slice(targets);
            for id in &self.ids {
                if !active.involved.contains(id) {
                    active.involved.push(*id);
                }
            }
            let due = now.saturating_sub(active.last_event) >= self.plan.update_every;
            if active.published != self.ids && due {
                active.published.clone_from(&self.ids);
                active.last_event = now;
                out.push(source.event(EventKind::Update, active.id, now, wall, targets.clone()));
            }
            return;
        }
        let since = *self.pending_since.get_or_insert(now);
        if now.saturating_sub(since) < self.plan.min_duration {
            return;
        }
        self.pending_since = None;
        let id = Uuid::now_v7();
        self.active = Some(Active {
            id,
            last_true: now,
            last_event: now,
            published: self.ids.clone(),
            involved: self.ids.clone(),
            targets: targets.clone(),
            resumed: None,
        });
        out.push(source.event(EventKind::Start, id, now, wall, targets.clone()));
    }

    /// Ends an active incident now (its condition is over, or the stream ended).
    pub fn finish(&mut self, source: &EventSource, now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        let Some(active) = self.active.take() else {
            return;
        };
        if self.plan.once_per_target {
            self.spent.extend_from_slice(&active.involved);
        }
        self.quiet_until = Some(now.saturating_add(self.plan.cooldown));
        out.push(source.event(EventKind::End, active.id, now, wall, active.targets));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> EventSource {
        EventSource {
            rule: "r".into(),
            zone: "z".into(),
            severity: Severity::High,
        }
    }

    fn target(id: u64) -> Target {
        Target {
            track_id: id,
            label: "person".into(),
            score: 0.8,
            bbox: BBox::default(),
            trajectory: None,
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    fn plan(min: f64, end: f64) -> LifecyclePlan {
        LifecyclePlan {
            min_duration: s(min),
            end_after: s(end),
            ..LifecyclePlan::IMMEDIATE
        }
    }

    /// Feeds (time, track ids present) steps and returns the (time, kind) of each event.
    fn run_ids(plan: LifecyclePlan, steps: &[(f64, &[u64])]) -> Vec<(f64, EventKind)> {
        let mut l = Lifecycle::new(plan);
        let mut out = Vec::new();
        let mut times = Vec::new();
        for &(at, ids) in steps {
            let mut targets: Vec<Target> = ids.iter().map(|&id| target(id)).collect();
            let before = out.len();
            l.observe(&source(), &mut targets, s(at), SystemTime::UNIX_EPOCH, &mut out);
            times.extend(std::iter::repeat_n(at, out.len() - before));
        }
        times.into_iter().zip(out.iter().map(|e| e.kind)).collect()
    }

    fn run(plan: LifecyclePlan, steps: &[(f64, bool)]) -> Vec<(f64, EventKind)> {
        let steps: Vec<(f64, &[u64])> = steps
            .iter()
            .map(|&(at, present)| (at, if present { &[7u64][..] } else { &[][..] }))
            .collect();
        run_ids(plan, &steps)
    }

    #[test]
    fn starts_after_min_duration_and_ends_after_the_grace_period() {
        let events = run(
            plan(0.4, 1.0),
            &[
                (0.0, true),
                (0.2, true),
                (0.4, true),
                (0.6, true),
                (0.8, false),
                (1.4, false),
                (1.6, false),
            ],
        );
        assert_eq!(events, vec![(0.4, EventKind::Start), (1.6, EventKind::End)]);
    }

    #[test]
    fn a_short_gap_does_not_split_an_incident() {
        let events = run(
            plan(0.0, 1.0),
            &[(0.0, true), (0.2, false), (0.8, false), (1.0, true), (3.0, false)],
        );
        assert_eq!(events, vec![(0.0, EventKind::Start), (3.0, EventKind::End)]);
    }

    #[test]
    fn a_flicker_shorter_than_min_duration_raises_nothing() {
        assert!(run(plan(0.5, 1.0), &[(0.0, true), (0.2, false), (0.4, true), (0.6, false)]).is_empty());
    }

    #[test]
    fn start_update_and_end_share_the_incident_id() {
        let mut l = Lifecycle::new(LifecyclePlan {
            update_every: Duration::ZERO,
            ..LifecyclePlan::IMMEDIATE
        });
        let mut out = Vec::new();
        let t0 = SystemTime::UNIX_EPOCH;
        l.observe(&source(), &mut vec![target(1)], s(0.0), t0, &mut out);
        l.observe(&source(), &mut vec![target(1), target(2)], s(0.1), t0, &mut out);
        l.observe(&source(), &mut vec![], s(0.2), t0, &mut out);
        let kinds: Vec<EventKind> = out.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Start, EventKind::Update, EventKind::End]);
        assert!(out.iter().all(|e| e.incident_id == out[0].incident_id));
        assert_eq!(out[2].targets, vec![target(1), target(2)]);
    }

    #[test]
    fn updates_are_sent_on_change_and_throttled() {
        let p = LifecyclePlan {
            update_every: s(1.0),
            end_after: s(5.0),
            ..LifecyclePlan::IMMEDIATE
        };
        let events = run_ids(
            p,
            &[
                (0.0, &[1]),
                (0.5, &[1, 2]), // changed, but within a second of the start
                (0.9, &[1, 2]),
                (1.0, &[1, 2]), // now due
                (1.5, &[1, 2]), // unchanged: nothing
                (1.6, &[2]),    // changed, not due
                (2.6, &[2]),    // due
            ],
        );
        assert_eq!(
            events,
            vec![
                (0.0, EventKind::Start),
                (1.0, EventKind::Update),
                (2.6, EventKind::Update)
            ]
        );
    }

    #[test]
    fn a_cooldown_keeps_the_rule_quiet_after_an_end() {
        let p = LifecyclePlan {
            cooldown: s(10.0),
            ..LifecyclePlan::IMMEDIATE
        };
        let events = run_ids(p, &[(0.0, &[1]), (1.0, &[]), (5.0, &[2]), (10.9, &[3]), (11.0, &[4])]);
        assert_eq!(
            events,
            vec![(0.0, EventKind::Start), (1.0, EventKind::End), (11.0, EventKind::Start)]
        );
    }

    #[test]
    fn a_target_raises_a_rule_once_and_a_new_one_raises_it_again() {
        let p = LifecyclePlan {
            once_per_target: true,
            ..LifecyclePlan::IMMEDIATE
        };
        let events = run_ids(p, &[(0.0, &[1]), (1.0, &[]), (2.0, &[1]), (3.0, &[1, 2]), (4.0, &[])]);
        assert_eq!(
            events,
            vec![
                (0.0, EventKind::Start),
                (1.0, EventKind::End),
                (3.0, EventKind::Start),
                (4.0, EventKind::End)
            ]
        );
    }

    #[test]
    fn a_long_incident_on_a_busy_scene_forgets_the_tracks_that_are_gone() {
        let mut l = Lifecycle::new(LifecyclePlan {
            once_per_target: true,
            ..LifecyclePlan::IMMEDIATE
        });
        let mut out = Vec::new();
        for i in 0..1000u64 {
            // a new passer-by every frame, each gone two frames later
            l.forget_unless(|id| id + 2 >= i);
            l.observe(
                &source(),
                &mut vec![target(i)],
                s(i as f64),
                SystemTime::UNIX_EPOCH,
                &mut out,
            );
        }
        assert_eq!(out.len(), 1, "one incident all along");
        assert!(l.active.as_ref().unwrap().involved.len() <= 3);
    }

    #[test]
    fn an_incident_taken_up_after_a_restart_goes_on_without_a_second_start() {
        let mut l = Lifecycle::new(LifecyclePlan {
            end_after: s(2.0),
            update_every: s(10.0),
            ..LifecyclePlan::IMMEDIATE
        });
        let id = Uuid::now_v7();
        assert!(l.resume(id, s(20.0)));
        let mut out = Vec::new();
        let t0 = SystemTime::UNIX_EPOCH;
        // stream time starts wherever the new run's stream starts
        for at in [100.0, 105.0, 115.0] {
            l.observe(&source(), &mut vec![], s(at), t0, &mut out);
        }
        assert!(out.is_empty(), "held for the grace period: {out:?}");
        l.observe(&source(), &mut vec![target(4)], s(118.0), t0, &mut out);
        l.observe(&source(), &mut vec![], s(119.0), t0, &mut out);
        l.observe(&source(), &mut vec![], s(121.0), t0, &mut out);
        let kinds: Vec<EventKind> = out.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventKind::Update, EventKind::End], "seen again, then gone");
        assert!(out.iter().all(|e| e.incident_id == id));
        assert_eq!(out[0].targets, vec![target(4)]);
    }

    #[test]
    fn an_incident_taken_up_whose_condition_never_returns_ends_after_the_grace() {
        let mut l = Lifecycle::new(plan(0.0, 1.0));
        let id = Uuid::now_v7();
        assert!(l.resume(id, s(30.0)));
        let mut out = Vec::new();
        for at in [7.0, 20.0, 36.9] {
            l.observe(&source(), &mut vec![], s(at), SystemTime::UNIX_EPOCH, &mut out);
        }
        assert!(out.is_empty());
        l.observe(&source(), &mut vec![], s(37.0), SystemTime::UNIX_EPOCH, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].kind, out[0].incident_id), (EventKind::End, id));
        assert!(!l.is_active());
    }
}
