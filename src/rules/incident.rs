//! The incident lifecycle every rule kind shares: a condition that holds for
//! `min_secs` starts an incident, and an incident ends once the condition has
//! been false for `end_after_secs` — so a person hidden for a moment behind a
//! pillar does not end one incident and start a second.
//!
//! Events carry track ids for the rule engine's own use; the anonymize stage
//! removes them before anything leaves the box.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::infer::BBox;

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

/// Timing shared by all rule kinds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifecyclePlan {
    /// The condition must hold this long before an incident starts.
    pub min_duration: Duration,
    /// The condition must be false this long before an incident ends.
    pub end_after: Duration,
}

#[derive(Debug)]
struct Active {
    id: Uuid,
    last_true: Duration,
    targets: Vec<Target>,
}

/// One rule's incident state machine: idle → pending → active → idle.
#[derive(Debug)]
pub struct Lifecycle {
    plan: LifecyclePlan,
    pending_since: Option<Duration>,
    active: Option<Active>,
}

/// What the rule identity adds to each event.
#[derive(Debug, Clone)]
pub struct EventSource {
    pub rule: Arc<str>,
    pub zone: Arc<str>,
    pub severity: Severity,
}

impl Lifecycle {
    pub fn new(plan: LifecyclePlan) -> Self {
        Self {
            plan,
            pending_since: None,
            active: None,
        }
    }

    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Feeds one frame's verdict: the targets for which the condition holds
    /// (empty when it does not). Returns an event when the incident starts or ends.
    pub fn observe(
        &mut self,
        source: &EventSource,
        targets: &[Target],
        now: Duration,
        wall: SystemTime,
    ) -> Option<IncidentEvent> {
        if !targets.is_empty() {
            if let Some(active) = &mut self.active {
                active.last_true = now;
                active.targets.clear();
                active.targets.extend_from_slice(targets);
                return None;
            }
            let since = *self.pending_since.get_or_insert(now);
            if now.saturating_sub(since) < self.plan.min_duration {
                return None;
            }
            self.pending_since = None;
            let id = Uuid::now_v7();
            self.active = Some(Active {
                id,
                last_true: now,
                targets: targets.to_vec(),
            });
            return Some(event(source, EventKind::Start, id, now, wall, targets.to_vec()));
        }
        self.pending_since = None;
        let ended = self
            .active
            .as_ref()
            .is_some_and(|a| now.saturating_sub(a.last_true) >= self.plan.end_after);
        if ended {
            return self.finish(source, now, wall);
        }
        None
    }

    /// Ends an active incident now (the stream ended).
    pub fn finish(&mut self, source: &EventSource, now: Duration, wall: SystemTime) -> Option<IncidentEvent> {
        let active = self.active.take()?;
        Some(event(source, EventKind::End, active.id, now, wall, active.targets))
    }
}

fn event(
    source: &EventSource,
    kind: EventKind,
    incident_id: Uuid,
    stream_time: Duration,
    time: SystemTime,
    targets: Vec<Target>,
) -> IncidentEvent {
    IncidentEvent {
        kind,
        incident_id,
        rule: source.rule.clone(),
        zone: source.zone.clone(),
        severity: source.severity,
        time,
        stream_time,
        targets,
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

    fn target() -> Target {
        Target {
            track_id: 7,
            label: "person".into(),
            score: 0.8,
            bbox: BBox::default(),
        }
    }

    fn s(secs: f64) -> Duration {
        Duration::from_secs_f64(secs)
    }

    /// Feeds (time, present) steps and returns the (time, kind) of each event.
    fn run(plan: LifecyclePlan, steps: &[(f64, bool)]) -> Vec<(f64, EventKind)> {
        let mut l = Lifecycle::new(plan);
        let t = [target()];
        steps
            .iter()
            .filter_map(|&(at, present)| {
                let targets: &[Target] = if present { &t } else { &[] };
                l.observe(&source(), targets, s(at), SystemTime::UNIX_EPOCH)
                    .map(|e| (at, e.kind))
            })
            .collect()
    }

    #[test]
    fn starts_after_min_duration_and_ends_after_the_grace_period() {
        let plan = LifecyclePlan {
            min_duration: s(0.4),
            end_after: s(1.0),
        };
        let events = run(
            plan,
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
        let plan = LifecyclePlan {
            min_duration: s(0.0),
            end_after: s(1.0),
        };
        let events = run(
            plan,
            &[(0.0, true), (0.2, false), (0.8, false), (1.0, true), (3.0, false)],
        );
        assert_eq!(events, vec![(0.0, EventKind::Start), (3.0, EventKind::End)]);
    }

    #[test]
    fn a_flicker_shorter_than_min_duration_raises_nothing() {
        let plan = LifecyclePlan {
            min_duration: s(0.5),
            end_after: s(1.0),
        };
        assert!(run(plan, &[(0.0, true), (0.2, false), (0.4, true), (0.6, false)]).is_empty());
    }

    #[test]
    fn start_and_end_share_the_incident_id() {
        let mut l = Lifecycle::new(LifecyclePlan {
            min_duration: s(0.0),
            end_after: s(0.0),
        });
        let start = l
            .observe(&source(), &[target()], s(0.0), SystemTime::UNIX_EPOCH)
            .unwrap();
        let end = l.observe(&source(), &[], s(0.1), SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(start.incident_id, end.incident_id);
        assert_eq!(end.targets, vec![target()]);
    }
}
