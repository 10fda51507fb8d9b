//! Motion gating: spend no inference on a scene where nothing moves.
//!
//! Each frame handed to the detector is reduced to a small grayscale copy
//! (block averages, about 80 pixels wide) and compared with a slowly updated
//! background. Inference runs when enough of the picture changed, while a
//! tracked object is still moving, and at a periodic refresh that re-observes
//! whatever stands still (a parked car, a person waiting). Each is
//! configurable in `[cameras.motion]`. The gray copy and background are
//! reused buffers.

use std::time::Duration;

use super::preprocess::ImageView;
use crate::config::{Secs, Spanned};

crate::config::table! {
    /// `[cameras.motion]`.
    pub struct MotionConfig in "motion." => #[derive(Copy)] MotionPlan {
        /// Gate inference on motion (default true). When false every frame is inferred.
        pub enabled: Spanned<bool> = true;
        /// Gray-level change (0–255) that counts a small-copy pixel as changed, e.g. 20.
        pub pixel_threshold: Spanned<u8> = 20, range 1..=255;
        /// Fraction of the picture that must change to count as motion, e.g. 0.003.
        pub min_area: Spanned<f32> = 0.003, range 0.0..=1.0;
        /// Keep inferring while a tracked object is moving (default true).
        pub while_tracking: Spanned<bool> = true;
        /// Infer at least this often even in a still scene, in seconds, e.g. 5.
        pub refresh_secs: Spanned<Secs> = 5.0, range 0.1..=3600.0;
    }
}

/// Why a frame is inferred (or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Gating is off.
    Always,
    Motion,
    Tracking,
    Refresh,
    /// Nothing moved, nothing tracked, refresh not due: skip inference.
    Skip,
}

impl Verdict {
    pub fn infer(self) -> bool {
        self != Verdict::Skip
    }
}

/// Target width of the small grayscale copy.
const SMALL_WIDTH: usize = 80;

/// What [`MotionGate::sample`] measured on one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Whether enough of the picture changed; `None` when gating is off.
    moved: Option<bool>,
}

#[derive(Debug)]
pub struct MotionGate {
    plan: MotionPlan,
    small: Vec<u8>,
    background: Vec<f32>,
    dims: (usize, usize),
    last_inference: Option<Duration>,
    /// Fraction of the small copy that changed in the last frame.
    pub last_change: f32,
}

impl MotionGate {
    pub fn new(plan: MotionPlan) -> Self {
        Self {
            plan,
            small: Vec::new(),
            background: Vec::new(),
            dims: (0, 0),
            last_inference: None,
            last_change: 0.0,
        }
    }

    /// Decides whether to infer this frame, and updates the background.
    pub fn decide(&mut self, image: &ImageView<'_>, now: Duration, tracks_moving: bool) -> Verdict {
        let sample = self.sample(image);
        self.verdict(sample, now, Some(tracks_moving)).unwrap_or(Verdict::Skip)
    }

    /// The first half of [`Self::decide`]: measures the frame against the
    /// background (and updates it). [`Self::verdict`] finishes the decision.
    pub fn sample(&mut self, image: &ImageView<'_>) -> Sample {
        Sample {
            moved: self.plan.enabled.then(|| self.measure(image)),
        }
    }

    /// Whether the verdict on `sample` depends on the tracks: only for a
    /// frame where nothing moved, when the gate keeps inferring while a
    /// tracked object moves.
    pub fn needs_tracks(&self, sample: Sample) -> bool {
        sample.moved == Some(false) && self.plan.while_tracking
    }

    /// The second half of [`Self::decide`]. `tracks_moving` may be `None`
    /// when [`Self::needs_tracks`] says it is not needed; `None` comes back
    /// (and nothing changes) if it was needed.
    pub fn verdict(&mut self, sample: Sample, now: Duration, tracks_moving: Option<bool>) -> Option<Verdict> {
        let verdict = match sample.moved {
            None => Verdict::Always,
            Some(true) => Verdict::Motion,
            Some(false) if self.plan.while_tracking && tracks_moving? => Verdict::Tracking,
            Some(false) if self.refresh_due(now) => Verdict::Refresh,
            Some(false) => Verdict::Skip,
        };
        if verdict.infer() {
            self.last_inference = Some(now);
        }
        Some(verdict)
    }

    fn refresh_due(&self, now: Duration) -> bool {
        self.last_inference
            .is_none_or(|t| now.saturating_sub(t) >= self.plan.refresh_secs)
    }

    /// Builds the small gray copy and compares it with the background.
    fn measure(&mut self, image: &ImageView<'_>) -> bool {
        let block = (image.width / SMALL_WIDTH).max(1);
        let (w, h) = (image.width / block, image.height / block);
        if w == 0 || h == 0 || image.data.len() < image.stride * (image.height - 1) + image.width * 3 {
            return true;
        }
        let n = w * h;
        let fresh = self.dims != (w, h);
        if fresh {
            self.dims = (w, h);
            self.small.resize(n, 0);
            self.background.resize(n, 0.0);
        }
        let per_block = (block * block) as u32;
        for by in 0..h {
            for bx in 0..w {
                let mut sum = 0u32;
                for y in by * block..(by + 1) * block {
                    let row = &image.data[y * image.stride + bx * block * 3..y * image.stride + (bx + 1) * block * 3];
                    for px in row.chunks_exact(3) {
                        sum += (px[0] as u32 * 77 + px[1] as u32 * 150 + px[2] as u32 * 29) >> 8;
                    }
                }
                self.small[by * w + bx] = (sum / per_block) as u8;
            }
        }
        if fresh {
            for (b, &s) in self.background.iter_mut().zip(&self.small) {
                *b = s as f32;
            }
            self.last_change = 1.0;
            return true;
        }
        let threshold = self.plan.pixel_threshold as f32;
        let mut changed = 0usize;
        for (b, &s) in self.background.iter_mut().zip(&self.small) {
            let s = s as f32;
            if (s - *b).abs() > threshold {
                changed += 1;
            }
            // A slow running average follows daylight and lamps, not people.
            *b += (s - *b) * 0.1;
        }
        self.last_change = changed as f32 / n as f32;
        self.last_change >= self.plan.min_area
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(square_at: Option<usize>) -> Vec<u8> {
        let mut px = vec![100u8; 160 * 120 * 3];
        if let Some(x0) = square_at {
            for y in 40..70 {
                for x in x0..x0 + 30 {
                    let i = (y * 160 + x) * 3;
                    px[i..i + 3].copy_from_slice(&[250, 250, 250]);
                }
            }
        }
        px
    }

    fn view(px: &[u8]) -> ImageView<'_> {
        ImageView {
            data: px,
            width: 160,
            height: 120,
            stride: 480,
        }
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_still_scene_is_skipped_until_the_refresh_and_motion_wakes_it() {
        let mut gate = MotionGate::new(MotionPlan::default());
        let still = frame(None);
        assert_eq!(gate.decide(&view(&still), at(0), false), Verdict::Motion); // first frame
        assert_eq!(gate.decide(&view(&still), at(200), false), Verdict::Skip);
        assert_eq!(gate.decide(&view(&still), at(400), true), Verdict::Tracking);
        assert_eq!(gate.decide(&view(&still), at(5_400), false), Verdict::Refresh);
        let moved = frame(Some(60));
        assert_eq!(gate.decide(&view(&moved), at(5_600), false), Verdict::Motion);
    }

    #[test]
    fn gating_off_infers_everything() {
        let plan = MotionPlan {
            enabled: false,
            ..MotionPlan::default()
        };
        let mut gate = MotionGate::new(plan);
        let still = frame(None);
        for t in 0..5 {
            assert_eq!(gate.decide(&view(&still), at(t * 200), false), Verdict::Always);
        }
    }
}
