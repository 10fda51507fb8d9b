//! The frames being analysed, kept at full resolution so that a picture
//! can be made of exactly the frame its detections were made on.
//!
//! Every frame that passes the detect branch's rate control is held here
//! (a reference to GStreamer's decoded buffer, never a copy) until the
//! detect thread has finished with a later one, or until [`CAPACITY`]
//! newer frames push it out. The detect branch's sink stamps each held
//! frame with the stream time it hands to the analysis ([`Held::stamp`]),
//! so the analysis names a frame by the time it already knows. Pictures —
//! live views, snapshots, trajectory strips — ask for a frame by that time
//! ([`Held::picture`]); a frame that is no longer held gives no picture,
//! never another frame in its place.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use gstreamer as gst;

use super::convert;

/// Frames held at most: the one analysed last, those in inference, and
/// those between the rate control and the analysis (on a recording, whose
/// queues do not drop frames, up to about ten). When full, the oldest goes
/// — never the one analysed last, which pictures are made of.
pub const CAPACITY: usize = 12;

struct Entry {
    /// The pipeline run that decoded it.
    run: u64,
    /// The decoder's own time of the frame.
    raw: Option<gst::ClockTime>,
    /// The stream time the analysis knows it by, once its sink stamped it.
    stamped: Option<Duration>,
    buffer: gst::Buffer,
    caps: gst::Caps,
}

/// One camera's held frames.
pub struct Held {
    frames: Mutex<VecDeque<Entry>>,
}

impl Default for Held {
    fn default() -> Self {
        Self {
            frames: Mutex::new(VecDeque::with_capacity(CAPACITY + 1)),
        }
    }
}

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Entry>> {
        self.frames.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds a frame that passed the rate control (a streaming thread; a
    /// reference, no copy, and no allocation once the ring is full).
    pub(super) fn hold(&self, run: u64, buffer: gst::Buffer, caps: gst::Caps) {
        let mut frames = self.lock();
        if frames.len() >= CAPACITY {
            // the front is the frame analysed last once the analysis let go
            // of older ones: keep it, and let the next oldest go
            let keep_front = frames.front().is_some_and(|e| e.stamped.is_some()) && frames.len() > 1;
            frames.remove(usize::from(keep_front));
        }
        frames.push_back(Entry {
            run,
            raw: buffer.pts(),
            stamped: None,
            buffer,
            caps,
        });
    }

    /// Names the oldest unnamed frame of `run` decoded at `raw` by the stream
    /// time `pts` the analysis will know it by.
    pub(super) fn stamp(&self, run: u64, raw: Option<gst::ClockTime>, pts: Duration) {
        let mut frames = self.lock();
        if let Some(entry) = frames
            .iter_mut()
            .find(|e| e.run == run && e.stamped.is_none() && e.raw == raw)
        {
            entry.stamped = Some(pts);
        }
    }

    /// Lets go of every frame older than the one at `pts`: the analysis has
    /// finished with it, and pictures are made of the newest analysed frame.
    pub fn release_before(&self, pts: Duration) {
        let mut frames = self.lock();
        if frames.iter().all(|e| e.stamped != Some(pts)) {
            return; // not held (any more): keep what there is
        }
        while frames.front().is_some_and(|e| e.stamped != Some(pts)) {
            frames.pop_front();
        }
    }

    /// Forgets every frame (the pipeline is rebuilt).
    pub(super) fn clear(&self) {
        self.lock().clear();
    }

    /// The frame the analysis knows as `pts`, as RGB no wider than
    /// `max_width`; None when it is no longer held.
    pub fn picture(&self, pts: Duration, max_width: u32) -> Option<gst::Sample> {
        let sample = {
            let frames = self.lock();
            let entry = frames.iter().find(|e| e.stamped == Some(pts))?;
            gst::Sample::builder().buffer(&entry.buffer).caps(&entry.caps).build()
        };
        convert::capped_rgb(&sample, max_width)
    }

    /// The frame the analysis knows as `pts` as decoded (a reference, no
    /// copy, no conversion); None when it is no longer held.
    pub fn sample(&self, pts: Duration) -> Option<gst::Sample> {
        let frames = self.lock();
        let entry = frames.iter().find(|e| e.stamped == Some(pts))?;
        Some(gst::Sample::builder().buffer(&entry.buffer).caps(&entry.caps).build())
    }

    /// Frames held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps() -> gst::Caps {
        gstreamer_video::VideoInfo::builder(gstreamer_video::VideoFormat::Rgb, 2, 2)
            .build()
            .unwrap()
            .to_caps()
            .unwrap()
    }

    fn buffer(raw_ms: u64, value: u8) -> gst::Buffer {
        let mut buffer = gst::Buffer::from_slice(vec![value; 2 * 2 * 4]);
        buffer.get_mut().unwrap().set_pts(gst::ClockTime::from_mseconds(raw_ms));
        buffer
    }

    fn value(sample: &gst::Sample) -> u8 {
        sample.buffer().unwrap().map_readable().unwrap()[0]
    }

    #[test]
    fn a_picture_is_of_the_frame_named_and_of_no_other() {
        gst::init().unwrap();
        let held = Held::default();
        for (i, raw) in [0, 100, 200].into_iter().enumerate() {
            held.hold(1, buffer(raw, i as u8 + 1), caps());
        }
        // the sink names the frames it delivers: the first and the third
        held.stamp(1, Some(gst::ClockTime::from_mseconds(0)), Duration::from_secs(10));
        held.stamp(1, Some(gst::ClockTime::from_mseconds(200)), Duration::from_secs(11));
        assert_eq!(value(&held.picture(Duration::from_secs(10), 64).unwrap()), 1);
        assert_eq!(value(&held.picture(Duration::from_secs(11), 64).unwrap()), 3);
        assert!(
            held.picture(Duration::from_secs(12), 64).is_none(),
            "never another frame"
        );
        held.release_before(Duration::from_secs(11));
        assert!(held.picture(Duration::from_secs(10), 64).is_none(), "released");
        assert_eq!(value(&held.picture(Duration::from_secs(11), 64).unwrap()), 3);
        // a frame that was never named lets nothing go
        held.release_before(Duration::from_secs(99));
        assert!(held.picture(Duration::from_secs(11), 64).is_some());
    }

    #[test]
    fn a_looped_recording_names_the_newest_frame_of_a_repeated_time_and_the_ring_is_bounded() {
        gst::init().unwrap();
        let held = Held::default();
        held.hold(1, buffer(0, 1), caps());
        held.stamp(1, Some(gst::ClockTime::ZERO), Duration::from_secs(1));
        // the file starts again: the same decoder time, a later stream time
        held.hold(1, buffer(0, 2), caps());
        held.stamp(1, Some(gst::ClockTime::ZERO), Duration::from_secs(2));
        assert_eq!(value(&held.picture(Duration::from_secs(2), 64).unwrap()), 2);
        // a frame of an earlier run is not named by a later run's sink
        held.hold(1, buffer(500, 7), caps());
        held.stamp(2, Some(gst::ClockTime::from_mseconds(500)), Duration::from_secs(3));
        assert!(held.picture(Duration::from_secs(3), 64).is_none());
        for i in 0..3 * CAPACITY as u64 {
            held.hold(2, buffer(1000 + i, 0), caps());
        }
        assert_eq!(held.len(), CAPACITY);
        assert!(
            held.picture(Duration::from_secs(1), 64).is_some(),
            "the oldest named frame is kept while newer ones come and go"
        );
        held.clear();
        assert!(held.is_empty());
    }
}
