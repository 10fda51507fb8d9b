//! Rule kind `crowd`: at least `min_count` objects with the rule's labels
//! are inside the zone at once; with the common `min_secs` that becomes "at
//! least N persons for at least T seconds". A member hidden for a moment (a
//! lost track) still counts where it was last seen, so one occluded person
//! does not restart the clock. The incident is about the group, so the
//! first-alarm-per-target policy does not apply; use `cooldown_secs`.

use crate::config::Spanned;
use crate::rules::incident::Target;
use crate::rules::kind::{Kind, KindConfig, RuleState, Scope};
use crate::track::Track;

impl KindConfig for Config {
    const KIND: Kind = Kind::area("occupancy").per_group();
}

crate::config::table! {
    /// The keys of a `crowd` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// Least number of objects in the zone at once, e.g. 5.
        #[required]
        pub min_count: Spanned<u32>, range 2..=1000;
    }
}

#[derive(Debug, Default)]
pub struct State;

impl RuleState for State {
    type Plan = Plan;

    /// Everyone in the zone, when they are at least `min_count`.
    fn evaluate(&mut self, plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        let before = out.len();
        for track in scope.wanted(tracks) {
            if scope.inside(track) {
                out.extend(scope.target(track));
            }
        }
        if out.len() - before < plan.min_count as usize {
            out.truncate(before);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{Harness, area};

    #[test]
    fn a_crowd_is_min_count_wanted_objects_inside_hidden_ones_included() {
        let h = Harness::new(area());
        let plan = Plan { min_count: 3 };
        let mut state = State::new(&plan);
        let mut run = |tracks: &[Track]| {
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(0.0), tracks, &mut out);
            out.len()
        };
        let a = h.track(1, "person", 0.3, 0.5);
        let b = h.track(2, "person", 0.5, 0.5);
        let c = h.track(3, "person", 0.7, 0.5);
        assert_eq!(run(&[a, b]), 0);
        assert_eq!(run(&[a, b, c]), 3);
        assert_eq!(run(&[a, b, h.lost(c)]), 3, "a hidden member still counts");
        assert_eq!(run(&[a, b, h.track(3, "car", 0.7, 0.5)]), 0, "a car is not a person");
        assert_eq!(run(&[a, b, h.track(3, "person", 0.95, 0.5)]), 0, "outside");
    }
}
