//! Rule kind `intrusion`: an object with one of the rule's labels is inside
//! the zone (its anchor point is — by default where it stands). Only objects
//! in sight count; a moment behind a pillar is bridged by `end_after_secs`.

use serde::Deserialize;

use crate::config::Ctx;
use crate::rules::common::RuleCommon;
use crate::rules::incident::Target;
use crate::rules::kind::{Labels, Needs, RuleState, Scope};
use crate::track::Track;

pub const SHAPE: Needs = Needs::Area;
pub const LABELS: Labels = Labels::Required;
pub const PER_TARGET: bool = true;

/// What "on" means for Home Assistant's binary sensor of such a rule.
pub const DEVICE_CLASS: &str = "occupancy";

/// An `intrusion` rule has no keys beside the common ones.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan;

pub fn check(_config: &Config, _common: &RuleCommon, _owner: &str, _ctx: &mut Ctx<'_>) -> Option<Plan> {
    Some(Plan)
}

#[derive(Debug, Default)]
pub struct State;

impl RuleState for State {
    type Plan = Plan;

    /// The tracks in sight inside the zone, as incident targets.
    fn evaluate(&mut self, _plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        for track in scope.wanted(tracks) {
            if !track.lost && scope.inside(track) {
                out.extend(scope.target(track));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{Harness, area};

    #[test]
    fn only_listed_labels_in_sight_inside_the_zone_count() {
        let h = Harness::new(area());
        let tracks = [
            h.track(1, "person", 0.5, 0.5),  // inside
            h.track(2, "car", 0.5, 0.5),     // wrong label
            h.track(3, "person", 0.95, 0.5), // outside
            h.lost(h.track(4, "person", 0.5, 0.5)),
            h.scored(h.track(5, "person", 0.5, 0.5), 0.2), // too unsure
        ];
        let mut state = State::new(&Plan);
        let mut out = Vec::new();
        state.evaluate(&Plan, &h.scope(0.0), &tracks, &mut out);
        let ids: Vec<u64> = out.iter().map(|t| t.track_id).collect();
        assert_eq!(ids, vec![1]);
    }
}
