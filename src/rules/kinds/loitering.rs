//! Rule kind `loitering`: an object stays inside the zone for at least
//! `loiter_secs`. Its dwell time runs from when it entered; stepping out for
//! less than `leave_secs`, or being hidden (a lost track), does not reset it.

use std::time::Duration;

use crate::config::{Secs, Spanned};
use crate::rules::incident::Target;
use crate::rules::kind::{Kind, KindConfig, RuleState, Scope, forget_gone};
use crate::track::Track;

impl KindConfig for Config {
    const KIND: Kind = Kind::area("presence");
}

crate::config::table! {
    /// The keys of a `loitering` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// Seconds an object must stay in the zone to be loitering, e.g. 120.0.
        #[required]
        pub loiter_secs: Spanned<Secs>, range 1.0..=86_400.0;
        /// Seconds out of the zone after which the dwell time starts over, e.g. 5.0.
        pub leave_secs: Spanned<Secs> = 5.0, range 0.0..=3_600.0;
    }
}

#[derive(Debug)]
struct Dwell {
    id: u64,
    entered: Duration,
    outside_since: Option<Duration>,
}

#[derive(Debug, Default)]
pub struct State {
    dwells: Vec<Dwell>,
}

impl RuleState for State {
    type Plan = Plan;

    /// An object already in the zone must dwell `loiter_secs` again.
    fn warm_up(plan: &Plan) -> Duration {
        plan.loiter_secs
    }

    /// The tracks that have been in the zone for `loiter_secs`.
    fn evaluate(&mut self, plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        forget_gone(&mut self.dwells, |d| d.id, tracks);
        let now = scope.now;
        for track in scope.wanted(tracks) {
            let index = self.dwells.iter().position(|d| d.id == track.id);
            // a hidden object is where it was last seen: its dwell goes on
            if !track.lost {
                match (index, scope.inside(track)) {
                    (Some(i), true) => self.dwells[i].outside_since = None,
                    (None, true) => self.dwells.push(Dwell {
                        id: track.id,
                        entered: now,
                        outside_since: None,
                    }),
                    (Some(i), false) => {
                        let since = *self.dwells[i].outside_since.get_or_insert(now);
                        if now.saturating_sub(since) >= plan.leave_secs {
                            self.dwells.swap_remove(i);
                        }
                        continue;
                    }
                    (None, false) => continue,
                }
            }
            let dwell = self.dwells.iter().find(|d| d.id == track.id);
            if let Some(d) = dwell
                && d.outside_since.is_none()
                && now.saturating_sub(d.entered) >= plan.loiter_secs
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

    /// Feeds one track per second, (x, lost) each, and returns the seconds at which it loitered.
    fn loitering(steps: &[(f32, bool)]) -> Vec<usize> {
        let h = Harness::new(area());
        let plan = Plan {
            loiter_secs: Duration::from_secs(3),
            leave_secs: Duration::from_secs(2),
        };
        let mut state = State::new(&plan);
        let mut at = Vec::new();
        for (i, &(x, lost)) in steps.iter().enumerate() {
            let mut t = h.track(1, "person", x, 0.5);
            t.lost = lost;
            let mut out = Vec::new();
            state.evaluate(&plan, &h.scope(i as f64), &[t], &mut out);
            if !out.is_empty() {
                at.push(i);
            }
        }
        at
    }

    const IN: (f32, bool) = (0.5, false);
    const OUT: (f32, bool) = (0.95, false);
    const HIDDEN: (f32, bool) = (0.5, true);

    #[test]
    fn loitering_starts_after_loiter_secs_inside() {
        assert_eq!(loitering(&[OUT, IN, IN, IN, IN, IN]), vec![4, 5]);
    }

    #[test]
    fn a_short_step_out_or_a_hidden_moment_does_not_reset_the_dwell() {
        assert_eq!(loitering(&[IN, OUT, IN, HIDDEN, IN]), vec![3, 4]);
    }

    #[test]
    fn leaving_for_leave_secs_starts_the_dwell_over() {
        assert_eq!(loitering(&[IN, IN, OUT, OUT, OUT, IN, IN, IN, IN]), vec![8]);
    }
}
