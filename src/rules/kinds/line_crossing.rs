//! Rule kind `line_crossing`: an object's anchor point crosses a line, in the
//! rule's direction (`a_to_b`, `b_to_a` or `both`).
//!
//! A crossing counts once the anchor is at least `min_distance` past the line
//! on the other side *and* its path touched the line on the way: standing on
//! the line and swaying back and forth is one crossing (or none, if the
//! object goes back), and walking round the end of a line is none. A crossing
//! is an instant: it starts an incident at once, and further crossings within
//! `end_after_secs` join that incident.
//!
//! The path includes where the tracker expects an object it has just lost
//! (for up to [`LOST_PATH`]): someone who walks behind a lamp post or
//! another person on the line, or whom the detector misses for a frame or
//! two there, is followed on at their walking speed, so the crossing counts
//! once the expected feet are past the line, as the real ones would be.
//!
//! An object walking out of the picture is followed by the tracker's whole
//! box: once the picture's edge cuts its box, the box grown back past the
//! edge to the width it had (see [`Track::predicted`]), so a line near the
//! edge is crossed as the person walks on out, not missed because the cut
//! box's centre stops short of the edge.
//!
//! An object first seen on the line (within `min_distance`: out from behind
//! something or out of a group, or into the picture beside the line) came
//! from the side it walks away from: it counts once it is clearly past the
//! line on the other, unless another track lost close by may be the same
//! object seen again (that track's own path decides). One first seen clearly
//! past the line close to a track lost on it (within [`LOST_PATH`]) from
//! the other side is that object gone on: it takes over that track's path
//! and counts once.
//!
//! A step that takes the anchor clearly past the line while the box grew or
//! shrank by more than [`HEIGHT_STEP`] since the last sighting (a standing
//! person's box bottom swaying with the legs or the detector's cut) counts
//! only if the next step stays past: a box that sways past a line for one
//! sighting is no crossing, a real one counts a sighting later.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{Checked, Ctx, Spanned};
use crate::rules::common::RuleCommon;
use crate::rules::geometry::{Point, Side};
use crate::rules::incident::Target;
use crate::rules::kind::{Follows, Kind, KindConfig, RuleState, Scope};
use crate::track::Track;
use crate::vocab::BBox;

impl KindConfig for Config {
    const KIND: Kind = Kind::line("motion");

    /// A crossing is an instant: `min_secs` does not apply.
    fn check(&self, common: &RuleCommon, owner: &str, ctx: &mut Ctx<'_>) -> Option<Plan> {
        let plan = self.checked(ctx);
        if *common.min_secs.get_ref() != 0.0 {
            ctx.error(
                common.min_secs.span(),
                format!("{owner}: `min_secs` does not apply to line_crossing (a crossing is an instant); remove it"),
            );
            return None;
        }
        plan
    }
}

/// Which way across the line counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From side A (left of the line, walking from its first point to its last) to side B.
    AToB,
    /// From side B to side A.
    BToA,
    /// Either way (the default).
    #[default]
    Both,
}

impl Direction {
    fn counts(self, from: Side, to: Side) -> bool {
        match self {
            Direction::AToB => from == Side::A && to == Side::B,
            Direction::BToA => from == Side::B && to == Side::A,
            Direction::Both => from != to,
        }
    }
}

crate::config::table! {
    /// The keys of a `line_crossing` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// "a_to_b", "b_to_a" or "both" (default), e.g. "a_to_b".
        pub direction: Spanned<Direction>;
        /// How far past the line the anchor must get, as a fraction of the frame,
        /// for a crossing to count; movement within this band is jitter, e.g. 0.02.
        pub min_distance: Spanned<f32> = 0.02, range 0.0..=0.5;
    }
}

/// How long after its last sighting a lost track's expected position still
/// extends its path: about two strides, under the tracker's own horizon.
pub const LOST_PATH: Duration = Duration::from_millis(500);

/// Where one track stands with respect to the line.
#[derive(Debug)]
pub struct Follow {
    id: u64,
    /// The last side it was clearly on (beyond `min_distance`).
    side: Option<Side>,
    /// Its path touched the line since it was last clearly on a side.
    touched: bool,
    last: Point,
    /// It was first seen on the line (within `min_distance`), no other
    /// track lost near it: where it came from is told by where it goes.
    born_on: Option<Point>,
    /// Its last sighting's box height (0 before one).
    height: f32,
    /// The side it got clearly to in a step its box's height changed by
    /// more than [`HEIGHT_STEP`]: to count, the next step must stay there.
    pending: Option<Side>,
}

pub type State = Follows<Follow>;

impl RuleState for State {
    type Plan = Plan;

    /// The tracks that completed a crossing in this frame.
    fn evaluate(&mut self, plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        let Some(line) = self.open(|f| f.id, scope, tracks) else {
            return;
        };
        for track in tracks {
            if !scope.wants(track) {
                continue;
            }
            // Where the tracker expects it: the box seen, grown back past
            // the picture's edge where that cuts it, or while lost, the way
            // it was walking.
            let p = if !track.lost || scope.now.saturating_sub(track.last_seen) <= LOST_PATH {
                scope.anchor.of(&track.predicted)
            } else {
                continue;
            };
            let side = line.side(p, plan.min_distance);
            let follow = match self.follows.iter().position(|f| f.id == track.id) {
                Some(i) => &mut self.follows[i],
                None => {
                    // The path begins where the object was first seen, which
                    // may be on the other side: a track is confirmed a
                    // sighting or two later, and at a low fps that can be
                    // past the line. An object that comes into sight on the
                    // line (from behind something, or out of a group) came
                    // from the side it walks away from, unless it may be a
                    // lost track seen again: then it starts on the side it
                    // is on, however close.
                    let origin = scope.anchor.of(&track.first_bbox);
                    let clear = line.side(origin, plan.min_distance);
                    let born_on = (clear.is_none() && !fragment(track, tracks)).then_some(origin);
                    // First seen clearly past the line beside a track just
                    // lost on it, or lost having touched it, from the other
                    // side: the same object seen again (its box changed or
                    // the detector missed it a frame), so its path goes on.
                    let mut went_on = None;
                    if let Some(here) = clear {
                        for lost in tracks
                            .iter()
                            .filter(|t| lost_near(track, t) && scope.now.saturating_sub(t.last_seen) <= LOST_PATH)
                        {
                            if let Some(f) = self.follows.iter_mut().find(|f| f.id == lost.id)
                                && f.side.is_some_and(|s| s != here)
                                && (f.touched || line.side(f.last, plan.min_distance).is_none())
                            {
                                went_on = f.side;
                                f.side = Some(here);
                                f.touched = false;
                                break;
                            }
                        }
                    }
                    self.follows.push(Follow {
                        id: track.id,
                        side: went_on.or(clear).or_else(|| {
                            if born_on.is_some() {
                                None
                            } else {
                                line.side(origin, 0.0)
                            }
                        }),
                        touched: went_on.is_some(),
                        last: origin,
                        born_on,
                        height: 0.0,
                        pending: None,
                    });
                    let last = self.follows.len() - 1;
                    &mut self.follows[last]
                }
            };
            // A box that grew or shrank by more than HEIGHT_STEP since the
            // last sighting moved its bottom with the legs or the detector's
            // cut, not with the feet (someone standing on a line along the
            // way they face).
            let height = track.bbox.y2 - track.bbox.y1;
            let resized =
                !track.lost && follow.height > 0.0 && (height - follow.height).abs() > HEIGHT_STEP * follow.height;
            if !track.lost {
                follow.height = height;
            }
            if line.crossed_by(follow.last, p) {
                follow.touched = true;
            }
            follow.last = p;
            let Some(side) = side else {
                follow.pending = None;
                continue;
            };
            // Clearly on another side by a resized box: only if the next
            // step stays there.
            if resized && follow.side != Some(side) && follow.pending != Some(side) {
                follow.pending = Some(side);
                continue;
            }
            follow.pending = None;
            if let Some(from) = follow.side
                && follow.touched
                && plan.direction.counts(from, side)
            {
                out.extend(scope.target(track));
            } else if let Some(origin) = follow.born_on.take()
                && follow.side.is_none()
            {
                // Walked off the line it was first seen on: it came from
                // the other side (out from behind something, or a group).
                let away = (line.signed_distance(p) - line.signed_distance(origin)).abs();
                let from = match side {
                    Side::A => Side::B,
                    Side::B => Side::A,
                };
                if away >= 0.5 * plan.min_distance && plan.direction.counts(from, side) {
                    out.extend(scope.target(track));
                }
            }
            follow.side = Some(side);
            follow.touched = false;
        }
    }
}

/// How much (a share of its height) a track's box may grow or shrink from
/// one sighting to the next and the step still count on its own to take
/// the anchor clearly past the line: the bottom of a standing person's box
/// sways with the legs and the detector's cut by 0.02 of the frame and more,
/// one sighting at a time, while walking feet change the box's height
/// little.
const HEIGHT_STEP: f32 = 0.1;

/// How far across (in box widths) from a lost track's expected box a track
/// first seen on the line is taken for that track seen again.
const FRAGMENT_REACH: f32 = 1.5;

/// Whether a track first seen on the line may be a lost track seen again
/// (its own path, which the lost track's decides): another track of its
/// label lost near where it was first seen.
fn fragment(track: &Track, tracks: &[Track]) -> bool {
    tracks.iter().any(|t| lost_near(track, t))
}

/// Whether `other` is another track of `track`'s label, lost near where
/// `track` was first seen.
fn lost_near(track: &Track, other: &Track) -> bool {
    other.lost && other.id != track.id && other.label == track.label && near(&track.first_bbox, &other.predicted)
}

/// Whether box `f` stands near enough a lost track's expected box `p` to
/// be that object seen again.
fn near(f: &BBox, p: &BBox) -> bool {
    let w = (f.x2 - f.x1).max(p.x2 - p.x1);
    let h = (f.y2 - f.y1).max(p.y2 - p.y1);
    ((f.x1 + f.x2) - (p.x1 + p.x2)).abs() * 0.5 <= FRAGMENT_REACH * w && (f.y2 - p.y2).abs() <= 0.5 * h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{Harness, line};

    /// A rule across the harness's line counting `direction` (a 0.02 band),
    /// with its state as it starts running.
    fn rule(direction: Direction) -> (Harness, Plan, State) {
        let plan = Plan {
            direction,
            min_distance: 0.02,
        };
        let state = State::new(&plan);
        (Harness::new(line()), plan, state)
    }

    /// Feeds one track's anchor y positions (x = 0.5) and returns the frames that counted.
    fn crossings(direction: Direction, x: f32, ys: &[f32]) -> Vec<usize> {
        let (h, plan, mut state) = rule(direction);
        let mut counted = Vec::new();
        for (i, &y) in ys.iter().enumerate() {
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64), &[h.track(1, "person", x, y)], &mut out);
            if !out.is_empty() {
                counted.push(i);
            }
        }
        counted
    }

    #[test]
    fn walking_across_counts_once_in_its_direction() {
        let down = [0.30, 0.40, 0.48, 0.55, 0.60];
        assert_eq!(crossings(Direction::AToB, 0.5, &down), vec![3]);
        assert_eq!(crossings(Direction::Both, 0.5, &down), vec![3]);
        assert!(crossings(Direction::BToA, 0.5, &down).is_empty());
    }

    #[test]
    fn swaying_on_the_line_is_one_crossing() {
        // from A onto the line, back and forth across it within the band, then on to B
        let ys = [0.40, 0.45, 0.51, 0.49, 0.515, 0.485, 0.51, 0.49, 0.55, 0.60, 0.51, 0.49];
        assert_eq!(crossings(Direction::Both, 0.5, &ys), vec![8]);
    }

    #[test]
    fn a_box_resized_past_the_line_for_one_sighting_is_no_crossing() {
        // Standing with the feet on the line (top of the box at 0.30): the
        // box's bottom reaches past the band for one sighting as its height
        // changes (legs apart, the detector's cut), then comes back.
        let (h, plan, mut state) = rule(Direction::Both);
        let mut counted = Vec::new();
        let bottoms = [0.40, 0.45, 0.49, 0.495, 0.525, 0.495, 0.49, 0.53, 0.54, 0.56];
        for (i, &y) in bottoms.iter().enumerate() {
            let mut t = h.track(1, "person", 0.5, y);
            if i >= 2 {
                t.bbox.y1 = 0.30;
                t.predicted = t.bbox;
            }
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64 * 0.1), &[t], &mut out);
            counted.extend(out.iter().map(|_| i));
        }
        // 0.525 (a box 16% taller) is gone at the next sighting; 0.53 is
        // followed by 0.54: a crossing, one sighting later than a box of
        // an even height would have counted it
        assert_eq!(counted, vec![8]);
        // the same step with a box of the same height counts at once
        let ys = [0.40, 0.45, 0.49, 0.495, 0.525, 0.495];
        assert_eq!(crossings(Direction::Both, 0.5, &ys), vec![4]);
    }

    #[test]
    fn stepping_onto_the_line_and_back_is_no_crossing() {
        let ys = [0.40, 0.49, 0.51, 0.49, 0.45, 0.40];
        assert!(crossings(Direction::Both, 0.5, &ys).is_empty());
    }

    #[test]
    fn walking_round_the_end_of_the_line_is_no_crossing() {
        let ys = [0.30, 0.45, 0.55, 0.70];
        assert!(crossings(Direction::Both, 0.9, &ys).is_empty());
    }

    #[test]
    fn a_person_lost_on_the_line_is_followed_on_at_their_pace() {
        // seen walking down onto the line, then hidden (a lamp post): the
        // tracker's expected position walks on past it
        let (h, plan, mut state) = rule(Direction::AToB);
        let mut counted = Vec::new();
        let seen = [0.40, 0.44, 0.48, 0.505];
        for (i, y) in seen.iter().enumerate() {
            let mut t = h.track(1, "person", 0.5, *y);
            t.last_seen = Duration::from_millis(100 * i as u64);
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64 * 0.1), &[t], &mut out);
            counted.extend(out.iter().map(|_| i));
        }
        assert!(counted.is_empty(), "still within min_distance of the line");
        let last = h.track(1, "person", 0.5, 0.505);
        let mut at_secs = |i: u64, y: f32| {
            let mut t = h.lost(last);
            t.last_seen = Duration::from_millis(300);
            t.predicted = h.track(1, "person", 0.5, y).bbox;
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64 * 0.1), &[t], &mut out);
            out.len()
        };
        assert_eq!(at_secs(4, 0.535), 1, "the expected feet are past the line");
        assert_eq!(at_secs(5, 0.565), 0, "one crossing");
    }

    #[test]
    fn a_person_walking_out_of_the_picture_counts_by_where_the_tracker_puts_them() {
        // the box seen is cut by the picture's edge, its centre stops short
        // of the line; the tracker's whole box walks on past it
        let (h, plan, mut state) = rule(Direction::AToB);
        let mut counted = Vec::new();
        for (i, (cut, whole)) in [(0.44, 0.44), (0.48, 0.48), (0.49, 0.51), (0.495, 0.54)]
            .into_iter()
            .enumerate()
        {
            let mut t = h.track(1, "person", 0.5, cut);
            t.predicted = h.track(1, "person", 0.5, whole).bbox;
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64 * 0.1), &[t], &mut out);
            counted.extend(out.iter().map(|_| i));
        }
        assert_eq!(counted, vec![3]);
    }

    #[test]
    fn a_track_lost_for_long_no_longer_moves_its_path() {
        let (h, plan, mut state) = rule(Direction::Both);
        let mut t = h.track(1, "person", 0.5, 0.45);
        let mut out = Vec::new();
        state.evaluate(&plan, &h.scope(0.0), &[t], &mut out);
        t = h.lost(t);
        t.predicted = h.track(1, "person", 0.5, 0.6).bbox;
        state.evaluate(&plan, &h.scope(1.0), &[t], &mut out);
        assert!(out.is_empty(), "a guess a second after the last sighting is not a path");
    }

    #[test]
    fn a_track_first_seen_on_the_line_came_from_the_side_it_walks_away_from() {
        // first seen just past the line (out from behind a lamp post), walks on
        let ys = [0.505, 0.53, 0.56];
        assert_eq!(crossings(Direction::AToB, 0.5, &ys), vec![1]);
        assert!(crossings(Direction::BToA, 0.5, &ys).is_empty());
        // and back again: a second crossing
        let ys = [0.50, 0.55, 0.45, 0.40];
        assert_eq!(crossings(Direction::Both, 0.5, &ys), vec![1, 2]);
        // swaying on the line it was first seen on is nothing
        let ys = [0.50, 0.51, 0.49, 0.515, 0.505];
        assert!(crossings(Direction::Both, 0.5, &ys).is_empty());
    }

    #[test]
    fn a_track_first_seen_on_the_line_beside_a_lost_one_is_left_to_the_lost_ones_path() {
        // someone lost on the line a moment ago and a new track where they
        // were expected: the lost track's path decides, the new one starts
        // on the side it is on
        let (h, plan, mut state) = rule(Direction::Both);
        let lost = h.lost(h.track(2, "person", 0.52, 0.49));
        let mut out = Vec::new();
        for (i, y) in [0.505, 0.53, 0.56].into_iter().enumerate() {
            let mut seen = h.track(1, "person", 0.5, y);
            seen.first_bbox = h.track(1, "person", 0.5, 0.505).bbox;
            state.evaluate(&plan, &h.scope(i as f64 * 0.1), &[lost, seen], &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_track_first_seen_past_the_line_beside_one_lost_on_it_goes_on_with_its_path() {
        // someone walks onto the line from A, their track is lost there (the
        // detector gave a shorter box), and they go on as a new track first
        // seen clearly on B: one crossing, counted once
        let h = Harness::new(line());
        let plan = Plan {
            direction: Direction::AToB,
            min_distance: 0.02,
        };
        let run = |from: f32| {
            let mut state = State::new(&plan);
            let mut out = Vec::new();
            let mut old = h.track(2, "person", 0.5, from);
            state.evaluate(&plan, &h.scope(0.0), &[old], &mut out);
            old = h.track(2, "person", 0.5, 0.495);
            old.last_seen = Duration::from_millis(100);
            state.evaluate(&plan, &h.scope(0.1), &[old], &mut out);
            let lost = h.lost(old);
            for (i, y) in [0.53, 0.55, 0.57].into_iter().enumerate() {
                let mut seen = h.track(1, "person", 0.52, y);
                seen.first_bbox = h.track(1, "person", 0.52, 0.53).bbox;
                state.evaluate(&plan, &h.scope(0.2 + i as f64 * 0.1), &[lost, seen], &mut out);
            }
            out.len()
        };
        assert_eq!(run(0.45), 1, "from A onto the line, on as a new track on B");
        assert_eq!(run(0.55), 0, "from B onto the line and back to B is no crossing");
    }
}
