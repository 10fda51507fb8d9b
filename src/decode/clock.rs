//! Time in a camera's stream: each branch of its pipeline stamps its frames
//! with a time that keeps increasing across file loops and pipeline
//! rebuilds, so the rules downstream see one continuous stream for the
//! camera's life; every decoded frame gets a time and a duration (rate
//! control needs both); and the waits between rebuilds, which a shutdown cuts short.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use tokio_util::sync::CancellationToken;

/// Keeps frame times increasing across file loops and restarts, per branch
/// (the detect and the motion branch deliver the same frames at their own
/// rates, each in its own streaming thread).
/// A frame whose time does not move on is given at least this much more.
const MIN_STEP_NS: u64 = 1_000_000;

/// The process's own monotonic time, in nanoseconds.
fn monotonic_ns() -> u64 {
    static START: std::sync::LazyLock<std::time::Instant> = std::sync::LazyLock::new(std::time::Instant::now);
    START.elapsed().as_nanos() as u64
}

#[derive(Debug, Default)]
pub(super) struct StreamClock {
    offset_ns: AtomicU64,
    /// The last time given out, per branch.
    last_ns: [AtomicU64; 2],
    /// When (monotonic) it was given out, per branch.
    given_at_ns: [AtomicU64; 2],
}

impl StreamClock {
    /// The frame's stream time: its own when that moves on; else the last
    /// one plus the time that really passed since (at least a millisecond),
    /// so a camera whose timestamps stop advancing still ages its tracks
    /// and timers at the pace of the world.
    pub(super) fn stamp(&self, branch: usize, pts: Option<gst::ClockTime>) -> Duration {
        let branch = branch.min(1);
        let last_ns = &self.last_ns[branch];
        let last = last_ns.load(Ordering::Relaxed);
        let now = monotonic_ns();
        let passed = now.saturating_sub(self.given_at_ns[branch].swap(now, Ordering::Relaxed));
        let raw = pts.map_or(last, |t| t.nseconds() + self.offset_ns.load(Ordering::Relaxed));
        let t = if raw > last || last == 0 {
            raw
        } else {
            last + passed.max(MIN_STEP_NS)
        };
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

/// Gives every decoded frame a time and a duration on its way into
/// `element` (the tee). A variable-rate stream (MJPEG over HTTP) may have
/// frames with neither, and GStreamer 1.22's videorate aborts the whole
/// process on such a frame (an assertion, not an error). A frame without a
/// time gets the pipeline's running time when it arrives (what a live
/// source's `do-timestamp` would give); the duration is the time since the
/// camera's previous frame, or one frame at `fps` for the first. Frames that
/// have both are left alone.
pub(super) fn fill_times(element: &gst::Element, fps: u32) {
    let Some(pad) = element.static_pad("sink") else { return };
    let fallback = gst::ClockTime::from_nseconds(1_000_000_000 / u64::from(fps.max(1)));
    let last = AtomicU64::new(u64::MAX);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let Some(gst::PadProbeData::Buffer(buffer)) = &mut info.data else {
            return gst::PadProbeReturn::Ok;
        };
        let (had_pts, had_duration) = (buffer.pts().is_some(), buffer.duration().is_some());
        if had_pts && had_duration {
            last.store(
                buffer.pts().map_or(u64::MAX, gst::ClockTime::nseconds),
                Ordering::Relaxed,
            );
            return gst::PadProbeReturn::Ok;
        }
        let pts = buffer
            .pts()
            .or_else(|| pad.parent_element().and_then(|e| e.current_running_time()));
        let previous = pts.map(|t| last.swap(t.nseconds(), Ordering::Relaxed));
        let buffer = buffer.make_mut();
        if !had_pts {
            buffer.set_pts(pts);
        }
        if !had_duration {
            let duration = match (pts, previous) {
                (Some(t), Some(p)) if p != u64::MAX && t.nseconds() > p => {
                    gst::ClockTime::from_nseconds(t.nseconds() - p)
                }
                _ => fallback,
            };
            buffer.set_duration(duration);
        }
        gst::PadProbeReturn::Ok
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_that_stop_moving_follow_the_world() {
        let clock = StreamClock::default();
        let stuck = Some(gst::ClockTime::from_seconds(5));
        let first = clock.stamp(0, stuck);
        std::thread::sleep(Duration::from_millis(200));
        let second = clock.stamp(0, stuck);
        // at least the 200 ms that passed, not one millisecond
        assert!(second - first >= Duration::from_millis(200), "{first:?} → {second:?}");
        // a moving stream keeps its own times
        assert_eq!(
            clock.stamp(0, Some(gst::ClockTime::from_seconds(9))),
            Duration::from_secs(9)
        );
        // the other branch keeps its own
        assert_eq!(clock.stamp(1, stuck), Duration::from_secs(5));
    }
}
