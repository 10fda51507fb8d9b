//! Rule kind `fire_lane`: a vehicle stands still in the zone (a fire lane, a
//! no-parking bay) for at least `park_secs`. "Still" is measured here, not
//! taken from the tracker alone: each vehicle's anchor must stay within
//! `max_drift_widths` of where its stop began, measured in its own box
//! widths, so a car far from the camera and one near it are judged alike.
//! Passing traffic is never still for long; a car crawling along (looking for
//! a space, queueing) keeps leaving its drift circle, and each time the
//! clock starts over. A vehicle hidden for a moment (a lost track, say
//! behind a passing lorry) keeps its clock.

use std::time::Duration;

use crate::config::{Secs, Spanned};
use crate::rules::geometry::Point;
use crate::rules::incident::Target;
use crate::rules::kind::{Kind, KindConfig, Labels, RuleState, Scope, forget_gone};
use crate::track::Track;

impl KindConfig for Config {
    const KIND: Kind = Kind::area("safety").labels(Labels::Default(&["car", "truck", "bus", "motorcycle"]));
}

crate::config::table! {
    /// The keys of a `fire_lane` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// Seconds a vehicle must stand still in the zone to be parked, e.g. 60.0.
        #[required]
        pub park_secs: Spanned<Secs>, range 1.0..=86_400.0;
        /// How far the vehicle's anchor may drift while standing still, in widths
        /// of its own box (detector jitter, a door opening), e.g. 0.25.
        pub max_drift_widths: Spanned<f32> = 0.25, range 0.01..=2.0;
    }
}

/// One vehicle's current stop.
#[derive(Debug)]
struct Stop {
    id: u64,
    at: Point,
    since: Duration,
}

#[derive(Debug, Default)]
pub struct State {
    stops: Vec<Stop>,
}

impl RuleState for State {
    type Plan = Plan;

    /// An object already in the zone must dwell `park_secs` again.
    fn warm_up(plan: &Plan) -> Duration {
        plan.park_secs
    }

    /// The vehicles that have stood still in the zone for `park_secs`.
    fn evaluate(&mut self, plan: &Plan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
        forget_gone(&mut self.stops, |s| s.id, tracks);
        let now = scope.now;
        for track in scope.wanted(tracks) {
            let p = scope.anchor.of(&track.bbox);
            let index = self.stops.iter().position(|s| s.id == track.id);
            if !track.lost {
                if !scope.inside(track) {
                    if let Some(i) = index {
                        self.stops.swap_remove(i);
                    }
                    continue;
                }
                let reach = plan.max_drift_widths * (track.bbox.x2 - track.bbox.x1).max(0.0);
                match index {
                    Some(i) => {
                        let s = &mut self.stops[i];
                        let (dx, dy) = (p.x - s.at.x, p.y - s.at.y);
                        if (dx * dx + dy * dy).sqrt() > reach {
                            // moving on: a new stop may begin here
                            s.at = p;
                            s.since = now;
                        }
                    }
                    None => self.stops.push(Stop {
                        id: track.id,
                        at: p,
                        since: now,
                    }),
                }
            }
            if let Some(s) = self.stops.iter().find(|s| s.id == track.id)
                && now.saturating_sub(s.since) >= plan.park_secs
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

    /// Feeds one car, one position per second, and returns the seconds at which it was parked.
    fn parked(xs: &[f32]) -> Vec<usize> {
        let mut h = Harness::new(area());
        h.labels = h.names.ids_of("car");
        let plan = Plan {
            park_secs: Duration::from_secs(5),
            max_drift_widths: 0.25,
        };
        let mut state = State::new(&plan);
        let mut at = Vec::new();
        for (i, &x) in xs.iter().enumerate() {
            let mut out = Vec::new();
            // the harness box is 0.1 wide: drift up to 0.025 is still
            state.evaluate(&plan, &h.scope(i as f64), &[h.track(1, "car", x, 0.5)], &mut out);
            if !out.is_empty() {
                at.push(i);
            }
        }
        at
    }

    #[test]
    fn a_car_standing_still_for_park_secs_is_parked_jitter_and_all() {
        let xs = [0.5, 0.51, 0.49, 0.5, 0.51, 0.5, 0.49, 0.5];
        assert_eq!(parked(&xs), vec![5, 6, 7]);
    }

    #[test]
    fn a_slow_car_keeps_leaving_its_stop_and_is_never_parked() {
        // 0.03 of the frame a second: a walking-pace crawl through the lane
        let xs: Vec<f32> = (0..18).map(|i| 0.25 + 0.03 * i as f32).collect();
        assert!(parked(&xs).is_empty());
    }

    #[test]
    fn leaving_the_zone_ends_the_stop() {
        let xs = [0.5, 0.5, 0.5, 0.5, 0.95, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5];
        assert_eq!(parked(&xs), vec![10]);
    }
}
