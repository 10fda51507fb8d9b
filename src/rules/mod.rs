//! Rules: zones on a camera's picture and the rule kinds that turn tracks in
//! those zones into incidents with a start and an end.
//!
//! Rule kinds are a closed set ([`RuleKindPlan`]); each kind is one module with
//! its config keys, its check and its logic, and shares the incident
//! lifecycle in [`incident`]. A rule table holds the common keys
//! ([`RuleCommon`]) and the keys of its kind.

pub mod geometry;
pub mod incident;
pub mod intrusion;
pub mod zone;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use toml::Spanned;

pub use incident::{EventKind, IncidentEvent, Severity, Target};
pub use zone::{Zone, ZoneConfig};

use crate::config::Ctx;
use crate::config::de::{Node, from_node, split_table};
use crate::infer::LabelMap;
use crate::track::Track;
use incident::{EventSource, Lifecycle, LifecyclePlan};

/// Keys every rule has, whatever its kind.
pub const COMMON_KEYS: &[&str] = &[
    "name",
    "kind",
    "zone",
    "severity",
    "min_confidence",
    "min_secs",
    "end_after_secs",
    "snapshot",
];

/// The common keys of `[[cameras.rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCommon {
    /// Name shown in alerts, e.g. "walkway-intrusion".
    pub name: Spanned<String>,
    /// The rule kind, e.g. "intrusion".
    pub kind: Spanned<String>,
    /// The zone it watches, e.g. "walkway".
    pub zone: Spanned<String>,
    /// "low", "medium" (default), "high" or "critical".
    #[serde(default)]
    pub severity: Severity,
    /// Tracks scoring below this are ignored by the rule, e.g. 0.5.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: Spanned<f32>,
    /// Seconds the condition must hold before the incident starts, e.g. 1.0.
    #[serde(default = "crate::config::de::unset")]
    pub min_secs: Spanned<f64>,
    /// Seconds the condition must be gone before the incident ends, e.g. 3.0.
    #[serde(default = "default_end_after")]
    pub end_after_secs: Spanned<f64>,
    /// Publish a redacted snapshot after the incident's start (default false).
    #[serde(default = "crate::config::de::unset")]
    pub snapshot: Spanned<bool>,
}

fn default_min_confidence() -> Spanned<f32> {
    Spanned::new(0..0, 0.5)
}

fn default_end_after() -> Spanned<f64> {
    Spanned::new(0..0, 3.0)
}

/// The kind-specific part of a rule, as written.
#[derive(Debug, Clone)]
pub enum RuleKindConfig {
    Intrusion(intrusion::IntrusionConfig),
}

/// The names of the kinds, for error messages.
pub const KINDS: &[&str] = &["intrusion"];

/// One `[[cameras.rules]]` table, as written.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub common: RuleCommon,
    pub kind: RuleKindConfig,
}

/// Reads one rule table: the common keys, then the keys of its kind.
pub fn load_rule(
    file: &crate::config::diag::SourceFile,
    node: &Node<'_>,
    diags: &mut crate::config::diag::Diagnostics,
) -> Option<RuleConfig> {
    let (common_node, kind_node) = split_table(file, node, COMMON_KEYS, diags)?;
    let common: Option<RuleCommon> = from_node(file, &common_node, diags);
    let kind_name = common_node
        .get_ref()
        .as_table()
        .and_then(|t| t.get("kind"))
        .map(|k| (k.get_ref().as_str().map(str::to_string), k.span()));
    let kind = match kind_name {
        Some((Some(name), _)) if name == "intrusion" => {
            from_node(file, &kind_node, diags).map(RuleKindConfig::Intrusion)
        }
        Some((Some(name), span)) => {
            diags.error(
                file,
                Some(span),
                format!("unknown rule kind `{name}`; known kinds: {}", KINDS.join(", ")),
            );
            None
        }
        // a missing or mistyped `kind` is reported by RuleCommon
        _ => None,
    };
    Some(RuleConfig {
        common: common?,
        kind: kind?,
    })
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct RulePlan {
    pub name: Arc<str>,
    pub zone: Arc<Zone>,
    pub severity: Severity,
    pub min_confidence: f32,
    pub lifecycle: LifecyclePlan,
    /// A redacted snapshot follows the incident's start.
    pub snapshot: bool,
    pub kind: RuleKindPlan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RuleKindPlan {
    Intrusion(intrusion::IntrusionPlan),
}

/// Checks a rule against the camera's zones and its model's labels
/// (`labels` is None when the model itself failed its check; `zone_names`
/// lists every zone written, including those that failed their check).
pub fn check_rule(
    camera: &str,
    config: &RuleConfig,
    zones: &[Arc<Zone>],
    zone_names: &[String],
    labels: Option<&LabelMap>,
    model: &str,
    ctx: &mut Ctx<'_>,
) -> Option<RulePlan> {
    let c = &config.common;
    let name = ctx.identifier(&c.name, "rule name");
    let zone = zones.iter().find(|z| z.name.as_ref() == c.zone.get_ref()).cloned();
    // A zone that is written but broken was reported on its own.
    if zone.is_none() && !zone_names.contains(c.zone.get_ref()) {
        let known: Vec<&str> = zone_names.iter().map(String::as_str).collect();
        ctx.error(
            c.zone.span(),
            format!(
                "rule `{}` on camera `{camera}` watches zone `{}`, which this camera does not define; known zones: {}",
                c.name.get_ref(),
                c.zone.get_ref(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
    let min_confidence = ctx.in_range(&c.min_confidence, 0.0..=1.0, "min_confidence");
    let min_secs = ctx.in_range(&c.min_secs, 0.0..=86_400.0, "min_secs");
    let end_after = ctx.in_range(&c.end_after_secs, 0.0..=86_400.0, "end_after_secs");
    let rule_name = c.name.get_ref();
    let kind = match &config.kind {
        RuleKindConfig::Intrusion(k) => intrusion::check(
            &format!("rule `{rule_name}` on camera `{camera}`"),
            k,
            labels,
            model,
            ctx,
        )
        .map(RuleKindPlan::Intrusion),
    };
    Some(RulePlan {
        name: Arc::from(name?),
        zone: zone?,
        severity: c.severity,
        min_confidence: min_confidence?,
        lifecycle: LifecyclePlan {
            min_duration: Duration::from_secs_f64(min_secs?),
            end_after: Duration::from_secs_f64(end_after?),
        },
        snapshot: *c.snapshot.get_ref(),
        kind: kind?,
    })
}

/// One rule while it runs.
struct ActiveRule {
    plan: Arc<RulePlan>,
    source: EventSource,
    lifecycle: Lifecycle,
}

/// All rules of one camera, fed frame by frame.
pub struct RuleEngine {
    rules: Vec<ActiveRule>,
    labels: Arc<LabelMap>,
    /// Reused per rule and frame.
    targets: Vec<Target>,
}

impl RuleEngine {
    pub fn new(rules: &[Arc<RulePlan>], labels: Arc<LabelMap>) -> Self {
        let rules = rules
            .iter()
            .map(|plan| ActiveRule {
                source: EventSource {
                    rule: plan.name.clone(),
                    zone: plan.zone.name.clone(),
                    severity: plan.severity,
                },
                lifecycle: Lifecycle::new(plan.lifecycle),
                plan: plan.clone(),
            })
            .collect();
        Self {
            rules,
            labels,
            targets: Vec::new(),
        }
    }

    /// Evaluates every rule on one frame's tracks; pushes raised events.
    pub fn step(&mut self, tracks: &[Track], now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        for rule in &mut self.rules {
            self.targets.clear();
            match &rule.plan.kind {
                RuleKindPlan::Intrusion(k) => intrusion::evaluate(
                    k,
                    &rule.plan.zone,
                    rule.plan.min_confidence,
                    tracks,
                    &self.labels,
                    &mut self.targets,
                ),
            }
            if let Some(event) = rule.lifecycle.observe(&rule.source, &self.targets, now, wall) {
                out.push(event);
            }
        }
    }

    /// Ends every active incident (the stream ended).
    pub fn finish(&mut self, now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        for rule in &mut self.rules {
            if let Some(event) = rule.lifecycle.finish(&rule.source, now, wall) {
                out.push(event);
            }
        }
    }
}
