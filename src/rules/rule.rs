//! One rule, from its table to its plan: [`load_rule`] reads the common keys
//! and hands the rest to the rule's kind; [`check_rule`] checks them against
//! the camera's zones and its model's labels, with the kind's own check, into
//! a [`RulePlan`] that the engine runs.

use std::sync::Arc;
use std::time::Duration;

use super::common::{COMMON_KEYS, CommonKeys, RuleCommon};
use super::incident::LifecyclePlan;
use super::kind::{Labels, Needs};
use super::kinds::{KINDS, RuleKindConfig, RuleKindPlan, load_kind};
use super::schedule::{self, Schedule};
use super::zone::{Shape, Zone};
use crate::config::Ctx;
use crate::config::de::{Node, from_node, split_table};
use crate::config::diag::{Diagnostics, SourceFile};
use crate::config::table::Checked;
use crate::vocab::labels::resolve as resolve_labels;
use crate::vocab::{LabelId, LabelMap};

/// One `[[cameras.rules]]` table, as written.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub common: RuleCommon,
    pub kind: RuleKindConfig,
    /// Where the rule's table is, for errors about keys left out.
    pub span: std::ops::Range<usize>,
}

/// Reads one rule table: the common keys, then the keys of its kind.
pub fn load_rule(file: &SourceFile, node: &Node<'_>, diags: &mut Diagnostics) -> Option<RuleConfig> {
    let (common_node, mut kind_node) = split_table(file, node, COMMON_KEYS, diags)?;
    // A misspelt common key lands among the kind's keys: name the common key
    // it resembles rather than let the kind say it does not know it.
    if let toml::de::DeValue::Table(rest) = kind_node.get_mut() {
        let misspelt: Vec<(String, std::ops::Range<usize>, &str)> = rest
            .iter()
            .filter_map(|(k, _)| {
                let key = k.get_ref().as_ref();
                crate::config::closest(key, COMMON_KEYS).map(|c| (key.to_string(), k.span(), c))
            })
            .collect();
        for (key, span, common) in misspelt {
            diags.error(
                file,
                Some(span),
                format!("unknown key `{key}`; did you mean `{common}`?"),
            );
            rest.remove(key.as_str());
        }
    }
    let common: Option<RuleCommon> = from_node(file, &common_node, diags);
    let kind_name = common_node
        .get_ref()
        .as_table()
        .and_then(|t| t.get("kind"))
        .map(|k| (k.get_ref().as_str().map(str::to_string), k.span()));
    let kind = match kind_name {
        Some((Some(name), span)) => match load_kind(&name, file, &kind_node, diags) {
            Some(kind) => kind,
            None => {
                let mut known = KINDS.to_vec();
                known.sort_unstable();
                let hint = crate::config::closest(&name, &known)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                diags.error(
                    file,
                    Some(span),
                    format!("unknown rule kind `{name}`; {hint}known kinds: {}", known.join(", ")),
                );
                None
            }
        },
        // a missing or mistyped `kind` is reported by RuleCommon
        _ => None,
    };
    Some(RuleConfig {
        common: common?,
        kind: kind?,
        span: node.span(),
    })
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct RulePlan {
    pub name: Arc<str>,
    pub zone: Arc<Zone>,
    pub labels: Vec<LabelId>,
    /// The common keys' values (`snapshot`: a redacted snapshot follows the
    /// incident's start; `evidence`: a redacted clip of it is recorded).
    pub keys: CommonKeys,
    /// The incident's timing, from `keys` and the kind.
    pub lifecycle: LifecyclePlan,
    pub schedule: Schedule,
    pub kind: RuleKindPlan,
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
    let rule_name = c.name.get_ref();
    let owner = format!("rule `{rule_name}` on camera `{camera}`");
    let name = ctx.identifier(&c.name, "rule name");
    let mut zone = zones.iter().find(|z| z.name.as_ref() == c.zone.get_ref()).cloned();
    // A zone that is written but broken was reported on its own.
    if zone.is_none() && !zone_names.contains(c.zone.get_ref()) {
        ctx.error(
            c.zone.span(),
            format!(
                "{owner} watches zone `{}`, which this camera does not define; known zones: {}",
                c.zone.get_ref(),
                crate::config::listed(zone_names)
            ),
        );
    }
    let kind_name = config.kind.name();
    match (config.kind.kind().shape, zone.as_deref().map(|z| &z.shape)) {
        (Needs::Line, Some(Shape::Polygon(_))) => {
            ctx.error(
                c.zone.span(),
                format!(
                    "{owner} is a {kind_name} rule, which needs a line, but zone `{}` is a polygon; point `zone` at a zone with line = [[x, y], [x, y]]",
                    c.zone.get_ref()
                ),
            );
            zone = None;
        }
        (Needs::Area, Some(Shape::Line(_))) => {
            ctx.error(
                c.zone.span(),
                format!(
                    "{owner} is a{} {kind_name} rule, which needs an area, but zone `{}` is a line; point `zone` at a zone with polygon = [[x, y], …]",
                    if kind_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "n" } else { "" },
                    c.zone.get_ref()
                ),
            );
            zone = None;
        }
        _ => {}
    }
    let label_ids = kind_labels(config, &owner, labels, model, ctx);
    let keys = c.checked(ctx);
    let schedule = schedule::check(&owner, &c.schedule, ctx);
    let kind = config.kind.check(c, &owner, ctx);
    let keys = keys?;
    Some(RulePlan {
        name: Arc::from(name?),
        zone: zone?,
        labels: label_ids?,
        lifecycle: LifecyclePlan {
            min_duration: Duration::from_secs_f64(keys.min_secs),
            end_after: Duration::from_secs_f64(keys.end_after_secs),
            update_every: Duration::from_secs_f64(keys.update_every_secs),
            cooldown: Duration::from_secs_f64(keys.cooldown_secs),
            once_per_target: keys.once_per_target && config.kind.kind().per_target,
        },
        keys,
        schedule: schedule?,
        kind: kind?,
    })
}

/// The label ids a rule follows: as written, the kind's defaults, or none.
fn kind_labels(
    config: &RuleConfig,
    owner: &str,
    labels: Option<&LabelMap>,
    model: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<LabelId>> {
    let written = &config.common.labels;
    // `unset` leaves an empty span; `labels = []` has one
    let left_out = written.span().is_empty() && written.get_ref().is_empty();
    match (config.kind.kind().labels, left_out) {
        (Labels::Unused, true) => Some(Vec::new()),
        (Labels::Unused, false) => {
            ctx.error(
                written.span(),
                format!(
                    "{owner}: `labels` does not apply to {} (it watches motion, not detections); remove it",
                    config.kind.name()
                ),
            );
            None
        }
        (Labels::Required, true) => {
            ctx.error(
                config.span.clone(),
                "missing required key `labels`; add it to this table",
            );
            None
        }
        (Labels::Default(names), true) => {
            let labels = labels?;
            let ids: Vec<LabelId> = names.iter().flat_map(|n| labels.ids_of(n)).collect();
            if ids.is_empty() {
                ctx.error(
                    config.span.clone(),
                    format!(
                        "{owner}: model `{model}` has none of the default labels ({}); set `labels`",
                        names.join(", ")
                    ),
                );
                return None;
            }
            Some(ids)
        }
        (_, false) => resolve_labels(ctx, owner, written, labels, model),
    }
}
