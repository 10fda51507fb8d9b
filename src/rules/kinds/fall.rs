//! Rule kind `fall`: a tracked person goes down fast and stays down. Going
//! down is the box turning from upright to lying (its width over height
//! crosses `fallen_ratio`) or its top dropping by `drop_heights` of the
//! upright box's height; it must happen within `fall_secs` of the person
//! last being seen upright, and they must then stay down for `down_secs`.
//!
//! What must not trigger: sitting down (the box gets shorter and a little
//! wider, but its top drops by well under `drop_heights` and it never lies),
//! bending to tie a shoe and getting up (down for a moment, back upright
//! before `down_secs`), and lying down slowly on a bench (the turn takes
//! longer than `fall_secs`). The kind reads box shapes only, so it needs a
//! camera that sees people whole; a person whose legs are hidden by a
//! counter is not judged well.

use std::time::Duration;

use crate::config::{Checked, Ctx, Secs, Spanned};
use crate::rules::common::RuleCommon;
use crate::rules::incident::Target;
use crate::rules::kind::{Kind, KindConfig, RuleState, Scope, forget_gone};
use crate::track::Track;

impl KindConfig for Config {
    const KIND: Kind = Kind::area("safety");

    /// `fallen_ratio` must be above `upright_ratio`, or every box is both.
    fn check(&self, _common: &RuleCommon, owner: &str, ctx: &mut Ctx<'_>) -> Option<Plan> {
        let plan = self.checked(ctx);
        let ratios = |ctx: &mut Ctx<'_>| self.upright_ratio(ctx).zip(self.fallen_ratio(ctx));
        let odd = ctx.at_odds(ratios, |u, f| {
            let says =
                format!("{owner}: `fallen_ratio` ({f}) must be above `upright_ratio` ({u}), or every box is both");
            (f <= u).then(|| (self.fallen_ratio.span(), says))
        });
        if odd { None } else { plan }
    }
}

crate::config::table! {
    /// The keys of a `fall` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// Seconds a person must stay down to have fallen, e.g. 5.0.
        #[required]
        pub down_secs: Spanned<Secs>, range 0.0..=3_600.0;
        /// A box at most this wide for its height is upright (standing,
        /// walking; a seated person is wider), e.g. 0.6.
        pub upright_ratio: Spanned<f32> = 0.6, range 0.1..=5.0;
        /// A box at least this wide for its height is lying, e.g. 1.2.
        pub fallen_ratio: Spanned<f32> = 1.2, range 0.1..=10.0;
        /// A drop of the box's top by this share of the upright box's height is
        /// going down too (a fall toward or away from the camera, where the box
        /// does not turn wide), e.g. 0.6.
        pub drop_heights: Spanned<f32> = 0.6, range 0.1..=1.0;
        /// Seconds from last upright to down within which going down is a fall,
        /// not lying down on purpose, e.g. 2.0.
        pub fall_secs: Spanned<Secs> = 2.0, range 0.1..=60.0;
    }
}

/// One person's posture history.
#[derive(Debug)]
struct Posture {
    id: u64,
    /// When they were last upright, and their box's top and height then.
    upright: Option<(Duration, f32, f32)>,
    down_since: Option<Duration>,
}

#[derive(Debug, Default)]
pub struct State {
    postures: Vec<Posture>,
}

impl RuleState for State {
    type Plan = Plan;

    /// The people in the zone who fell and have stayed down for `down_secs`.
    fn evaluate(&mut self, plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        forget_gone(&mut self.postures, |p| p.id, tracks);
        let now = scope.now;
        for track in scope.wanted(tracks) {
            if !scope.inside(track) {
                continue;
            }
            let index = match self.postures.iter().position(|p| p.id == track.id) {
                Some(i) => i,
                None => {
                    self.postures.push(Posture {
                        id: track.id,
                        upright: None,
                        down_since: None,
                    });
                    self.postures.len() - 1
                }
            };
            let p = &mut self.postures[index];
            // a person hidden where they lay is still down
            if !track.lost {
                let b = &track.bbox;
                let (w, h) = ((b.x2 - b.x1).max(0.0), (b.y2 - b.y1).max(f32::EPSILON));
                let ratio = w / h;
                if ratio <= plan.upright_ratio {
                    p.upright = Some((now, b.y1, h));
                    p.down_since = None;
                } else {
                    let dropped = p
                        .upright
                        .is_some_and(|(_, top, height)| b.y1 - top >= plan.drop_heights * height);
                    let down = ratio >= plan.fallen_ratio || dropped;
                    match p.down_since {
                        None => {
                            let quick = p
                                .upright
                                .is_some_and(|(at, _, _)| now.saturating_sub(at) <= plan.fall_secs);
                            if down && quick {
                                p.down_since = Some(now);
                            }
                        }
                        Some(_) if !down => p.down_since = None,
                        Some(_) => {}
                    }
                }
            }
            if p.down_since
                .is_some_and(|since| now.saturating_sub(since) >= plan.down_secs)
            {
                out.extend(scope.target(track));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{Harness, area};
    use crate::vocab::BBox;

    /// Boxes (width, height) standing on (0.5, 0.6), one every 0.25 s; the
    /// seconds at which the person counted as fallen.
    fn fallen(boxes: &[(f32, f32)]) -> Vec<f64> {
        let h = Harness::new(area());
        let plan = Plan {
            down_secs: Duration::from_secs(2),
            upright_ratio: 0.6,
            fallen_ratio: 1.2,
            drop_heights: 0.6,
            fall_secs: Duration::from_secs(2),
        };
        let mut state = State::new(&plan);
        let mut at = Vec::new();
        for (i, &(w, bh)) in boxes.iter().enumerate() {
            let t = i as f64 * 0.25;
            let mut track = h.track(1, "person", 0.5, 0.6);
            track.bbox = BBox {
                x1: 0.5 - w / 2.0,
                y1: 0.6 - bh,
                x2: 0.5 + w / 2.0,
                y2: 0.6,
            };
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(t), &[track], &mut out);
            if !out.is_empty() {
                at.push(t);
            }
        }
        at
    }

    const STANDING: (f32, f32) = (0.06, 0.2);
    const LYING: (f32, f32) = (0.2, 0.06);

    #[test]
    fn turning_horizontal_fast_and_staying_down_is_a_fall() {
        let mut boxes = vec![STANDING; 4];
        boxes.extend([(0.1, 0.14), LYING]);
        boxes.extend([LYING; 10]);
        // down at 1.25 s, fallen from 3.25 s
        assert_eq!(fallen(&boxes).first(), Some(&3.25));
    }

    #[test]
    fn dropping_without_turning_wide_is_a_fall_too() {
        // falling toward the camera: the box stays narrow-ish but its top drops by 0.7 of its height
        let mut boxes = vec![STANDING; 4];
        boxes.extend([(0.07, 0.06); 12]);
        assert_eq!(fallen(&boxes).first(), Some(&3.0));
    }

    #[test]
    fn sitting_down_is_no_fall() {
        let mut boxes = vec![STANDING; 4];
        boxes.extend([(0.07, 0.17), (0.08, 0.13)]);
        boxes.extend([(0.09, 0.12); 20]);
        assert!(fallen(&boxes).is_empty());
    }

    #[test]
    fn bending_and_getting_up_is_no_fall() {
        let mut boxes = vec![STANDING; 4];
        // bent double for a second: wide and low, then up again
        boxes.extend([(0.09, 0.1), (0.13, 0.08), (0.13, 0.08), (0.13, 0.08), (0.09, 0.12)]);
        boxes.extend([STANDING; 12]);
        assert!(fallen(&boxes).is_empty());
    }

    #[test]
    fn lying_down_slowly_is_no_fall() {
        let mut boxes = vec![STANDING; 4];
        // sitting for 3 s, then lying down
        boxes.extend([(0.09, 0.12); 12]);
        boxes.extend([LYING; 12]);
        assert!(fallen(&boxes).is_empty());
    }
}
