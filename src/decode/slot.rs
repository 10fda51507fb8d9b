//! The hand-over from decode to inference: a slot holding at most one frame.
//!
//! For a live camera ([`Delivery::Latest`]) a new frame replaces one that was
//! not taken yet, and the replaced frame is counted as dropped: the detector
//! always sees the newest picture and decode never waits. For a recording
//! played as fast as possible ([`Delivery::Every`]) decode waits until the
//! frame was taken, so every frame is analysed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crate::vocab::Frame;

/// How frames are handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Keep only the newest frame (live cameras).
    Latest,
    /// Wait for each frame to be taken (recordings played as fast as possible).
    Every,
}

/// Counters kept per camera.
#[derive(Debug, Default)]
pub struct SlotStats {
    /// Frames decode delivered to the slot.
    pub delivered: AtomicU64,
    /// Frames replaced before inference took them.
    pub dropped: AtomicU64,
    /// Frames inference took.
    pub taken: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    frame: Option<Frame>,
    closed: bool,
}

/// What [`FrameSlot::take`] found.
#[derive(Debug)]
pub enum Taken {
    Frame(Frame),
    /// Nothing arrived within the timeout.
    Empty,
    /// The stream ended and the slot is drained.
    Closed,
}

#[derive(Debug)]
pub struct FrameSlot {
    delivery: Delivery,
    state: Mutex<State>,
    changed: Condvar,
    pub stats: SlotStats,
}

impl FrameSlot {
    pub fn new(delivery: Delivery) -> Self {
        Self {
            delivery,
            state: Mutex::default(),
            changed: Condvar::new(),
            stats: SlotStats::default(),
        }
    }

    pub fn delivery(&self) -> Delivery {
        self.delivery
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the camera down with it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers a frame. Returns false once the slot is closed.
    pub fn put(&self, frame: Frame) -> bool {
        let mut state = self.lock();
        if self.delivery == Delivery::Every {
            while state.frame.is_some() && !state.closed {
                state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        }
        if state.closed {
            return false;
        }
        if state.frame.replace(frame).is_some() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        drop(state);
        self.changed.notify_all();
        true
    }

    /// Waits up to `timeout` for a frame.
    pub fn take(&self, timeout: Duration) -> Taken {
        self.take_or(timeout, || false)
    }

    /// As [`Self::take`], but also returns [`Taken::Empty`] as soon as
    /// `ready()` holds: a detect thread with frames in inference waits for
    /// whichever comes first, the next frame or a reply. `ready` is checked
    /// with the slot locked, each time the slot changes or [`Self::wake`] is
    /// called.
    pub fn take_or(&self, timeout: Duration, mut ready: impl FnMut() -> bool) -> Taken {
        let state = self.lock();
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.frame.is_none() && !s.closed && !ready())
            .unwrap_or_else(|p| p.into_inner());
        match state.frame.take() {
            Some(frame) => {
                self.stats.taken.fetch_add(1, Ordering::Relaxed);
                drop(state);
                self.changed.notify_all();
                Taken::Frame(frame)
            }
            None if state.closed => Taken::Closed,
            None => Taken::Empty,
        }
    }

    /// Wakes a caller waiting in [`Self::take_or`] to check its condition
    /// again. Taking the lock first means a wake-up between its check and its
    /// wait cannot be missed.
    pub fn wake(&self) {
        let _state = self.lock();
        self.changed.notify_all();
    }

    /// Ends the stream: no more frames are accepted, waiting callers wake up.
    /// A frame already in the slot can still be taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::vocab::{FrameLayout, Geometry};

    fn frame(number: u64) -> Frame {
        gstreamer::init().unwrap();
        Frame {
            buffer: gstreamer::Buffer::new(),
            layout: FrameLayout {
                width: 0,
                height: 0,
                stride: 0,
            },
            geometry: Geometry::STRETCH,
            pts: Duration::from_millis(number * 100),
            number,
            arrived: std::time::Instant::now(),
        }
    }

    fn number(t: Taken) -> Option<u64> {
        match t {
            Taken::Frame(f) => Some(f.number),
            _ => None,
        }
    }

    #[test]
    fn latest_keeps_the_newest_frame_and_counts_the_replaced_one() {
        let slot = FrameSlot::new(Delivery::Latest);
        assert!(slot.put(frame(1)));
        assert!(slot.put(frame(2)));
        assert_eq!(number(slot.take(Duration::ZERO)), Some(2));
        assert_eq!(slot.stats.dropped.load(Ordering::Relaxed), 1);
        assert!(matches!(slot.take(Duration::ZERO), Taken::Empty));
    }

    #[test]
    fn take_or_returns_when_woken_with_its_condition_met_or_with_a_frame() {
        use std::sync::atomic::AtomicBool;
        let slot = Arc::new(FrameSlot::new(Delivery::Latest));
        let ready = Arc::new(AtomicBool::new(false));
        let waker = {
            let (slot, ready) = (slot.clone(), ready.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                ready.store(true, Ordering::SeqCst);
                slot.wake();
            })
        };
        // Woken long before the hour is up, with no frame: Empty.
        let taken = slot.take_or(Duration::from_secs(3600), || ready.load(Ordering::SeqCst));
        assert!(matches!(taken, Taken::Empty));
        waker.join().unwrap();
        // A frame that is there is taken even when the condition holds.
        assert!(slot.put(frame(7)));
        assert_eq!(number(slot.take_or(Duration::from_secs(3600), || true)), Some(7));
    }

    #[test]
    fn every_waits_for_the_taker_and_loses_nothing() {
        let slot = Arc::new(FrameSlot::new(Delivery::Every));
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for n in 0..50 {
                    slot.put(frame(n));
                }
                slot.close();
            })
        };
        let mut seen = Vec::new();
        loop {
            match slot.take(Duration::from_secs(5)) {
                Taken::Frame(f) => seen.push(f.number),
                Taken::Closed => break,
                Taken::Empty => panic!("producer stalled"),
            }
        }
        producer.join().unwrap();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(slot.stats.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn close_wakes_a_waiting_producer() {
        let slot = Arc::new(FrameSlot::new(Delivery::Every));
        slot.put(frame(0));
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || slot.put(frame(1)))
        };
        slot.close();
        assert!(!producer.join().unwrap());
    }
}
