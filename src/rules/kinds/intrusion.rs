//! Rule kind `intrusion`: an object with one of the rule's labels is inside
//! the zone (its anchor point is — by default where it stands). Only objects
//! in sight count; a moment behind a pillar is bridged by `end_after_secs`.

use crate::rules::incident::Target;
use crate::rules::kind::{Kind, KindConfig, RuleState, Scope};
use crate::track::Track;

impl KindConfig for Config {
    const KIND: Kind = Kind::area("occupancy");
}

crate::config::table! {
    /// An `intrusion` rule has no keys beside the common ones.
    pub struct Config in "" => Plan {}
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
        let mut state = State::new(&Plan {});
        let mut out = Vec::new();
        state.evaluate(&Plan {}, &h.scope(0.0), &tracks, &mut out);
        let ids: Vec<u64> = out.iter().map(|t| t.track_id).collect();
        assert_eq!(ids, vec![1]);
    }
}
