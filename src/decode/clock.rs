//! Stream time: each branch of a camera's pipeline stamps its frames with a
//! time that keeps increasing across file loops and pipeline rebuilds, so
//! the rules downstream see one continuous stream for the camera's life.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gstreamer as gst;

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
