//! A camera's recent past as the tracker saw it: the confirmed tracks of
//! every analysed frame of the last [`WINDOW`], with their stream and wall
//! times, kept by the camera's detect thread for the console's "try on the
//! last minute" ([`super::trial`]). The slots are reused, so a warm camera
//! allocates nothing; no picture is kept.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::track::Track;

/// How much of a camera's recent past is kept.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Frames kept at most, whatever the stream's times say (a minute at
/// 30 fps): a camera whose times stop advancing cannot grow the ring.
pub const MAX_FRAMES: usize = 1800;

/// One analysed frame's tracks.
#[derive(Debug, Clone)]
pub struct TrackFrame {
    /// Stream time of the frame.
    pub pts: Duration,
    pub wall: SystemTime,
    pub tracks: Vec<Track>,
}

impl TrackFrame {
    fn empty() -> Self {
        Self {
            pts: Duration::ZERO,
            wall: SystemTime::UNIX_EPOCH,
            tracks: Vec::new(),
        }
    }
}

/// A camera's last [`WINDOW`] of tracks.
#[derive(Debug, Default)]
pub struct Recent {
    frames: Mutex<VecDeque<TrackFrame>>,
}

impl Recent {
    /// Keeps one analysed frame's tracks, dropping what is older than the
    /// window (its slot is reused for this frame).
    pub fn record(&self, pts: Duration, wall: SystemTime, tracks: &[Track]) {
        let mut frames = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        // A stream that starts over (a looped file, a reconnect) starts the window over.
        if frames.back().is_some_and(|b| b.pts > pts) {
            frames.clear();
        }
        let mut slot = None;
        while frames.front().is_some_and(|f| f.pts + WINDOW < pts) || frames.len() >= MAX_FRAMES {
            slot = frames.pop_front();
        }
        let mut slot = slot.unwrap_or_else(TrackFrame::empty);
        slot.pts = pts;
        slot.wall = wall;
        slot.tracks.clear();
        slot.tracks.extend_from_slice(tracks);
        frames.push_back(slot);
    }

    /// The frames kept now, oldest first.
    pub fn frames(&self) -> Vec<TrackFrame> {
        self.frames
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: u64) -> Track {
        Track {
            id,
            label: 1,
            score: 0.9,
            bbox: Default::default(),
            hits: 3,
            first_seen: Duration::ZERO,
            first_bbox: Default::default(),
            last_seen: Duration::ZERO,
            moved: 0.0,
            lost: false,
            predicted: Default::default(),
            stationary: false,
            size: (0.0, 0.0),
        }
    }

    #[test]
    fn the_ring_keeps_the_last_minute_and_starts_over_with_the_stream() {
        let recent = Recent::default();
        for i in 0..700u64 {
            recent.record(Duration::from_millis(i * 200), SystemTime::UNIX_EPOCH, &[track(i)]);
        }
        let frames = recent.frames();
        let (first, last) = (frames[0].pts, frames[frames.len() - 1].pts);
        assert_eq!(last, Duration::from_millis(699 * 200));
        assert!(last - first <= WINDOW && last - first >= WINDOW - Duration::from_millis(400));
        assert_eq!(frames[frames.len() - 1].tracks[0].id, 699);
        // a looped file starts its stream time over: so does the window
        recent.record(Duration::from_millis(100), SystemTime::UNIX_EPOCH, &[]);
        assert_eq!(recent.frames().len(), 1);
    }

    #[test]
    fn a_stream_whose_times_barely_move_cannot_grow_the_ring() {
        let recent = Recent::default();
        for i in 0..(3 * MAX_FRAMES as u64) {
            recent.record(Duration::from_micros(i), SystemTime::UNIX_EPOCH, &[track(i)]);
        }
        let frames = recent.frames();
        assert_eq!(frames.len(), MAX_FRAMES);
        assert_eq!(frames[frames.len() - 1].tracks[0].id, 3 * MAX_FRAMES as u64 - 1);
    }
}
