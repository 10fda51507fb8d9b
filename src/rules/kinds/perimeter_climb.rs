//! Rule kind `perimeter_climb`: a person climbs a wall or fence. The rule's
//! zone is a `line` drawn along the top of the wall; a climb is the box's
//! feet (the anchor, bottom centre by default) getting over that line — from
//! below it to at least `min_distance` above it, or the other way when
//! someone comes over from outside (`direction`) — *across* the line, not
//! along it. The perimeter is the line's extent: the path must touch the
//! line itself, so walking round its end is no climb.
//!
//! Walking along the fence must not trigger. In the picture the feet of
//! someone walking along a fence stay on the ground, below its top, while
//! their head may well show above it, which is why the feet are followed and
//! not the head. Detector jitter on feet that are near the line (a low fence,
//! a far camera) is ruled out twice: the feet must get clearly past the line
//! (`min_distance`), and the step from the last point clearly on the old side
//! must go across the line at least as much as along it (`min_steepness`).
//! The climber is a target for as long as their feet stay over the line, so
//! the common `min_secs` asks for them to stay there (e.g. 0.5 s), which
//! jitter back and forth never does.

use serde::Deserialize;

use crate::config::Spanned;
use crate::rules::geometry::{Line, Point};
use crate::rules::incident::Target;
use crate::rules::kind::{Follows, Kind, KindConfig, RuleState, Scope};
use crate::track::Track;

impl KindConfig for Config {
    const KIND: Kind = Kind::line("tamper");
}

/// Which way over the wall counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From below the top line to above it: climbing up the near face (the default).
    #[default]
    Up,
    /// From above it to below it: coming over from the far side and dropping down.
    Down,
    /// Either way.
    Both,
}

crate::config::table! {
    /// The keys of a `perimeter_climb` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// "up" (default), "down" or "both", e.g. "both".
        pub direction: Spanned<Direction>;
        /// How far past the top line the feet must get, as a fraction of the
        /// frame, for a climb to count, e.g. 0.02.
        pub min_distance: Spanned<f32> = 0.02, range 0.0..=0.5;
        /// Least ratio of movement across the line to movement along it during
        /// the crossing: 1.0 (default) means at least 45° to the line, e.g. 1.5.
        pub min_steepness: Spanned<f32> = 1.0, range 0.0..=20.0;
    }
}

/// Whether a point is above the line (toward the top of the picture).
fn above(line: &Line, p: Point, margin: f32) -> Option<bool> {
    let side = line.side(p, margin)?;
    // the side "above" is the one a point straight up from the line is on
    let (a, b) = (line.points()[0], line.points()[1]);
    let mid = Point {
        x: (a.x + b.x) * 0.5,
        y: (a.y + b.y) * 0.5 - 1.0,
    };
    Some(line.side(mid, 0.0) == Some(side))
}

/// Movement across the line vs along it, for the step from `from` to `to`.
fn steepness(line: &Line, from: Point, to: Point) -> f32 {
    let across = (line.signed_distance(to) - line.signed_distance(from)).abs();
    let (dx, dy) = (to.x - from.x, to.y - from.y);
    let along = (dx * dx + dy * dy - across * across).max(0.0).sqrt();
    if along <= f32::EPSILON {
        f32::INFINITY
    } else {
        across / along
    }
}

#[derive(Debug)]
pub struct Follow {
    id: u64,
    /// Above the line, when last clearly on one side.
    above: Option<bool>,
    /// Where it last was clearly on that side.
    clear: Point,
    touched: bool,
    last: Point,
    /// Crossed in the counted direction and not back yet.
    over: bool,
}

pub type State = Follows<Follow>;

impl RuleState for State {
    type Plan = Plan;

    /// The people who got over the wall in this frame.
    fn evaluate(&mut self, plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        let Some(line) = self.open(|f| f.id, scope, tracks) else {
            return;
        };
        for track in scope.wanted(tracks) {
            if track.lost {
                continue;
            }
            let p = scope.anchor.of(&track.bbox);
            let now_above = above(line, p, plan.min_distance);
            let Some(f) = self.follows.iter_mut().find(|f| f.id == track.id) else {
                self.follows.push(Follow {
                    id: track.id,
                    above: now_above,
                    clear: p,
                    touched: false,
                    last: p,
                    over: false,
                });
                continue;
            };
            if line.crossed_by(f.last, p) {
                f.touched = true;
            }
            f.last = p;
            let Some(now_above) = now_above else {
                // within the band: still over if they were
                if f.over {
                    out.extend(scope.target(track));
                }
                continue;
            };
            if let Some(was_above) = f.above
                && was_above != now_above
            {
                let counts = match plan.direction {
                    Direction::Up => now_above,
                    Direction::Down => !now_above,
                    Direction::Both => true,
                };
                f.over = counts && f.touched && steepness(line, f.clear, p) >= plan.min_steepness;
            }
            if f.over {
                out.extend(scope.target(track));
            }
            f.above = Some(now_above);
            f.clear = p;
            f.touched = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{Harness, line};
    use crate::rules::zone::{Shape, Zone};

    /// Feeds one person's feet positions and returns the frames they were over the wall.
    fn climbs(direction: Direction, path: &[(f32, f32)]) -> Vec<usize> {
        let h = Harness::new(line());
        let plan = Plan {
            direction,
            min_distance: 0.02,
            min_steepness: 1.0,
        };
        let mut state = State::new(&plan);
        let mut counted = Vec::new();
        for (i, &(x, y)) in path.iter().enumerate() {
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64 * 0.1), &[h.track(1, "person", x, y)], &mut out);
            if !out.is_empty() {
                counted.push(i);
            }
        }
        counted
    }

    #[test]
    fn feet_going_up_over_the_top_line_is_a_climb() {
        let up = [
            (0.5, 0.7),
            (0.5, 0.6),
            (0.5, 0.53),
            (0.5, 0.49),
            (0.5, 0.46),
            (0.5, 0.44),
        ];
        assert_eq!(climbs(Direction::Up, &up), vec![4, 5]);
        assert!(climbs(Direction::Down, &up).is_empty());
        let down: Vec<_> = up.iter().rev().copied().collect();
        assert_eq!(climbs(Direction::Down, &down), vec![3, 4, 5]);
        assert_eq!(climbs(Direction::Both, &down), vec![3, 4, 5]);
    }

    #[test]
    fn walking_along_the_fence_with_feet_swaying_on_the_line_is_no_climb() {
        // the feet hug the line and sway across it, within min_distance, while the person walks along
        let path: Vec<(f32, f32)> = (0..40)
            .map(|i| (0.2 + 0.015 * i as f32, if i % 6 < 3 { 0.49 } else { 0.51 }))
            .collect();
        assert!(climbs(Direction::Both, &path).is_empty());
    }

    #[test]
    fn a_shallow_slide_across_a_slanted_line_is_no_climb() {
        // a fence top drawn with a slope, feet gliding over it at a shallow angle
        let slanted = Zone {
            name: "s".into(),
            shape: Shape::Line(Line::from_points(vec![Point { x: 0.1, y: 0.3 }, Point { x: 0.9, y: 0.7 }]).unwrap()),
        };
        let h = Harness::new(slanted);
        let plan = Plan {
            direction: Direction::Both,
            min_distance: 0.02,
            min_steepness: 1.0,
        };
        let mut state = State::new(&plan);
        let mut over = 0;
        for i in 0..30 {
            // walking from (0.2, 0.4) to (0.8, 0.62): nearly along the line, ending just above it
            let x = 0.2 + 0.02 * i as f32;
            let y = 0.4 + 0.0073 * i as f32;
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64 * 0.1), &[h.track(1, "person", x, y)], &mut out);
            over += out.len();
        }
        assert_eq!(over, 0);
    }

    #[test]
    fn walking_round_the_end_of_the_wall_is_no_climb() {
        let path = [(0.9, 0.7), (0.9, 0.55), (0.9, 0.45), (0.9, 0.3)];
        assert!(climbs(Direction::Both, &path).is_empty());
    }
}
