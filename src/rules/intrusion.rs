//! Rule kind `intrusion`: an object with one of the listed labels is inside
//! the zone (its anchor point is, by default where it stands).

use serde::Deserialize;
use toml::Spanned;

use super::geometry::Anchor;
use super::incident::Target;
use super::zone::Zone;
use crate::config::Ctx;
use crate::infer::{LabelId, LabelMap};
use crate::track::Track;

/// The keys of an `intrusion` rule beside the common ones.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntrusionConfig {
    /// Labels that count, as the model names them, e.g. ["person"].
    pub labels: Spanned<Vec<String>>,
    /// Point of the box that must be inside: "bottom_centre" (default), "centre" or "top_centre".
    #[serde(default)]
    pub anchor: Anchor,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntrusionPlan {
    pub labels: Vec<LabelId>,
    pub anchor: Anchor,
}

pub fn check(
    owner: &str,
    config: &IntrusionConfig,
    labels: Option<&LabelMap>,
    model: &str,
    ctx: &mut Ctx<'_>,
) -> Option<IntrusionPlan> {
    let ids = ctx.resolve_labels(owner, &config.labels, labels, model)?;
    Some(IntrusionPlan {
        labels: ids,
        anchor: config.anchor,
    })
}

/// The tracks that are intruding, as incident targets.
pub fn evaluate(
    plan: &IntrusionPlan,
    zone: &Zone,
    min_confidence: f32,
    tracks: &[Track],
    labels: &LabelMap,
    out: &mut Vec<Target>,
) {
    for track in tracks {
        if track.lost || track.score < min_confidence || !plan.labels.contains(&track.label) {
            continue;
        }
        if !zone.polygon().is_some_and(|p| p.contains(plan.anchor.of(&track.bbox))) {
            continue;
        }
        if let Some(label) = labels.name(track.label) {
            out.push(Target {
                track_id: track.id,
                label: label.clone(),
                score: track.score,
                bbox: track.bbox,
            });
        }
    }
}
