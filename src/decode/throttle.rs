//! A log line that a broken or hostile camera could repeat without end
//! (GStreamer warnings from a corrupt stream) goes out at most once per
//! period per camera, with the count of those held back since the last one,
//! so one camera cannot flood the journal.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One line per camera per minute.
pub const PERIOD: Duration = Duration::from_secs(60);

/// Decides which repeats of a log line are written; shared by the threads
/// that may write it.
#[derive(Debug, Default)]
pub struct Throttle(Mutex<Held>);

/// When a line was last written, and how many were held back since.
#[derive(Debug, Default)]
struct Held {
    last: Option<Instant>,
    count: u64,
}

impl Throttle {
    /// `Some(n)` when a line is due now, `n` being how many were held back
    /// since the last; `None` to hold this one back.
    pub fn due(&self) -> Option<u64> {
        self.admit(Instant::now())
    }

    /// [`Self::due`] at the moment `now`.
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match held.last {
            Some(last) if now.duration_since(last) < PERIOD => {
                held.count += 1;
                None
            }
            _ => {
                held.last = Some(now);
                Some(std::mem::take(&mut held.count))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_held_back() {
        let throttle = Throttle::default();
        let t0 = Instant::now();
        assert_eq!(throttle.admit(t0), Some(0));
        for i in 1..=500 {
            assert_eq!(throttle.admit(t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(throttle.admit(t0 + PERIOD), Some(500));
        assert_eq!(throttle.admit(t0 + PERIOD + Duration::from_secs(1)), None);
    }
}
