//! Time in a camera's stream: each branch of its pipeline stamps its frames
//! with a time that keeps increasing across file loops and pipeline
//! rebuilds, so the rules downstream see one continuous stream for the
//! camera's life; and the waits between rebuilds, which a shutdown cuts
//! short.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gstreamer as gst;
use tokio_util::sync::CancellationToken;

/// Keeps frame times increasing across file loops and restarts, per branch
/// (the detect and the motion branch deliver the same frames at their own
/// rates, each in its own streaming thread).
#[derive(Debug, Default)]
pub(super) struct StreamClock {
    offset_ns: AtomicU64,
    /// The last time given out, per branch.
    last_ns: [AtomicU64; 2],
}

impl StreamClock {
    pub(super) fn stamp(&self, branch: usize, pts: Option<gst::ClockTime>) -> Duration {
        let last_ns = &self.last_ns[branch.min(1)];
        let last = last_ns.load(Ordering::Relaxed);
        let raw = pts.map_or(last, |t| t.nseconds() + self.offset_ns.load(Ordering::Relaxed));
        let t = if raw > last || last == 0 { raw } else { last + 1_000_000 };
        last_ns.store(t, Ordering::Relaxed);
        Duration::from_nanos(t)
    }

    /// The next frames continue after the last one instead of starting at zero.
    pub(super) fn rebase(&self) {
        let last = self
            .last_ns
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .max()
            .unwrap_or(0);
        self.offset_ns.store(last + 1_000_000, Ordering::Relaxed);
    }
}

/// Sleeps in short steps; true if cancelled meanwhile.
pub(super) fn sleep_unless_cancelled(total: Duration, cancel: &CancellationToken) -> bool {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total {
        if cancel.is_cancelled() {
            return true;
        }
        std::thread::sleep(step);
        slept += step;
    }
    cancel.is_cancelled()
}
