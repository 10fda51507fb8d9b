//! Rule kind `restricted_object`: an object with a listed label (a bicycle or
//! motorcycle, i.e. an e-bike, in a lift car or a lobby) is in the zone. It
//! raises at once (leave `min_secs` at 0) and clears when the object leaves
//! (after `end_after_secs`). Labels are resolved through the model's label
//! map, so a model with a dedicated `ebike` label is used by listing that
//! label: no code change. By default the object's anchor point must be in the
//! zone; `min_overlap` asks instead for a share of its box, which suits a
//! lift car where a bicycle is wheeled in and seen from above.

use crate::config::Spanned;
use crate::rules::geometry::Point;
use crate::rules::incident::Target;
use crate::rules::kind::{Kind, KindConfig, RuleState, Scope};
use crate::track::Track;
use crate::vocab::BBox;

impl KindConfig for Config {
    const KIND: Kind = Kind::area("problem");
}

crate::config::table! {
    /// The keys of a `restricted_object` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// Share of the object's box that must lie in the zone, from 0.0 (the
        /// default: its anchor point must be inside) to 1.0 (all of it), e.g. 0.5.
        pub min_overlap: Spanned<f32>, range 0.0..=1.0;
    }
}

#[derive(Debug, Default)]
pub struct State;

/// Samples per box side when measuring how much of a box is in the zone.
const GRID: usize = 6;

impl RuleState for State {
    type Plan = Plan;

    /// The listed objects inside the zone: in sight, or hidden while they
    /// were standing still (a bicycle left in the lobby that someone stands
    /// in front of is still there).
    fn evaluate(&mut self, plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        for track in scope.wanted(tracks) {
            if track.lost && !track.stationary {
                continue;
            }
            let inside = if plan.min_overlap > 0.0 {
                overlap(scope, &track.bbox) >= plan.min_overlap
            } else {
                scope.inside(track)
            };
            if inside {
                out.extend(scope.target(track));
            }
        }
    }
}

/// Share of the box inside the zone, sampled on a GRID × GRID lattice.
fn overlap(scope: &Scope<'_>, b: &BBox) -> f32 {
    let Some(polygon) = scope.zone.polygon() else {
        return 0.0;
    };
    let mut hits = 0;
    for i in 0..GRID {
        for j in 0..GRID {
            let fx = (i as f32 + 0.5) / GRID as f32;
            let fy = (j as f32 + 0.5) / GRID as f32;
            let p = Point {
                x: b.x1 + fx * (b.x2 - b.x1),
                y: b.y1 + fy * (b.y2 - b.y1),
            };
            hits += usize::from(polygon.contains(p));
        }
    }
    hits as f32 / (GRID * GRID) as f32
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::rules::testing::{Harness, area};
    use crate::vocab::LabelMap;

    #[test]
    fn a_listed_object_inside_raises_others_do_not() {
        let mut h = Harness::new(area());
        h.labels = h.names.ids_of("car");
        let tracks = [
            h.track(1, "car", 0.5, 0.5),
            h.track(2, "person", 0.5, 0.5),
            h.track(3, "car", 0.95, 0.5),
            h.lost(h.track(4, "car", 0.5, 0.5)),
        ];
        let plan = Plan { min_overlap: 0.0 };
        let mut out = Vec::new();
        State::new(&plan).evaluate(&plan, &h.scope(0.0), &tracks, &mut out);
        assert_eq!(out.iter().map(|t| t.track_id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn min_overlap_asks_for_a_share_of_the_box() {
        let mut h = Harness::new(area());
        h.labels = h.names.ids_of("car");
        // feet inside at x = 0.78, but most of a 0.2-wide box sticks out past 0.8
        let mut t = h.track(1, "car", 0.78, 0.5);
        t.bbox.x1 = 0.70;
        t.bbox.x2 = 0.90;
        let run = |min_overlap| {
            let plan = Plan { min_overlap };
            let mut out = Vec::new();
            State::new(&plan).evaluate(&plan, &h.scope(0.0), &[t], &mut out);
            out.len()
        };
        assert_eq!(run(0.0), 1, "the anchor is inside");
        assert_eq!(run(0.25), 1);
        assert_eq!(run(0.75), 0, "only half the box is in the lift");
    }

    #[test]
    fn a_dropped_in_model_with_an_ebike_label_needs_no_code() {
        // the label map comes from the model's manifest: `ebike` is just a name in it
        let mut h = Harness::new(area());
        h.names = Arc::new(LabelMap::new(BTreeMap::from([
            (0, "person".to_string()),
            (7, "ebike".to_string()),
        ])));
        h.labels = h.names.ids_of("ebike");
        assert_eq!(h.labels, vec![7]);
        let plan = Plan { min_overlap: 0.0 };
        let mut out = Vec::new();
        let tracks = [h.track(1, "ebike", 0.5, 0.5), h.track(2, "person", 0.5, 0.5)];
        State::new(&plan).evaluate(&plan, &h.scope(0.0), &tracks, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(&*out[0].label, "ebike");
    }
}
