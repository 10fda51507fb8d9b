//! The reconnect backoff of the link task: doubling up to `retry_max`, with
//! jitter so that boxes that lost the broker together do not come back in
//! step, and reset only by a link that stayed up a while — a broker that
//! accepts and then drops the connection at once (another client with the
//! same id, an ACL, a refused packet) gets the growing wait too, not a
//! reconnect every half second.

use std::time::{Duration, Instant};

/// A link up at least this long counts as working: the next failure starts
/// the backoff again from its first step.
pub const STABLE_LINK: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    up_since: Option<Instant>,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            next: initial,
            up_since: None,
        }
    }

    /// The broker accepted the connection (CONNACK) at `now`.
    pub fn connected(&mut self, now: Instant) {
        self.up_since = Some(now);
    }

    /// The link failed at `now`: how long to wait before the next attempt,
    /// between half and all of the current step.
    pub fn failed(&mut self, now: Instant) -> Duration {
        if self
            .up_since
            .take()
            .is_some_and(|since| now.saturating_duration_since(since) >= STABLE_LINK)
        {
            self.next = self.initial;
        }
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        step.mul_f64(0.5 + 0.5 * fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INITIAL: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    #[test]
    fn a_link_dropped_right_after_connack_keeps_backing_off() {
        let mut backoff = Backoff::new(INITIAL, MAX);
        let mut now = Instant::now();
        let mut waits = Vec::new();
        for _ in 0..12 {
            backoff.connected(now);
            now += Duration::from_millis(400); // kicked off by a twin after 0.4 s
            let wait = backoff.failed(now);
            waits.push(wait);
            now += wait;
        }
        // The steps double to the cap and stay there; each wait is within [step/2, step].
        assert!(waits[0] <= INITIAL && waits[0] >= INITIAL / 2, "{waits:?}");
        assert!(waits[11] >= MAX / 2 && waits[11] <= MAX, "{waits:?}");
    }

    #[test]
    fn a_stable_link_starts_the_backoff_again() {
        let mut backoff = Backoff::new(INITIAL, MAX);
        let mut now = Instant::now();
        for _ in 0..8 {
            now += backoff.failed(now);
        }
        backoff.connected(now);
        now += STABLE_LINK;
        assert!(backoff.failed(now) <= INITIAL);
    }

    #[test]
    fn waits_are_jittered() {
        let mut waits = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let mut backoff = Backoff::new(INITIAL, MAX);
            waits.insert(backoff.failed(Instant::now()));
        }
        assert!(waits.len() > 1, "twenty boxes would reconnect in step: {waits:?}");
    }
}
