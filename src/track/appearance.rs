//! What a tracked box looks like, for association only: a coarse colour
//! histogram of the upper and the lower half of a box, read from the decoded
//! frame the detector ran on. Two people who pass each other on a counting
//! line often give the detector boxes that stay where they are while the
//! people swap places under them; their colours tell the tracker which box
//! went which way. A look is a few hundred numbers kept with a track while
//! it lives in the process: it is never stored, logged or published, and it
//! identifies nobody (it is not compared across tracks that have ended).

use crate::vocab::BBox;
use crate::vocab::frame::{FrameLayout, Geometry};

/// Levels per colour channel (4 × 4 × 4 colours per half box).
const LEVELS: usize = 4;
const BINS: usize = LEVELS * LEVELS * LEVELS;
/// The part of a box read, as fractions of its width and height: the middle
/// of the width (a person is a thin box with the walkway at its sides) and
/// the body from below the head to above the feet, split at the middle.
const INSET_X: f32 = 0.25;
const TOP: f32 = 0.12;
const SPLIT: f32 = 0.5;
const BOTTOM: f32 = 0.9;
/// Fewest pixels a half must have for a look to be taken.
const MIN_PIXELS: u32 = 12;
/// How far (summed over R, G and B) a pixel must be from the background for
/// it to count as part of what moves: a sign, a lamp post or the walkway
/// inside a box is not what the person looks like.
const FOREGROUND: i32 = 40;
/// The background follows the picture by 1/2^BACKGROUND_SHIFT of the
/// difference per frame the detector ran on (about three seconds at 10 fps).
const BACKGROUND_SHIFT: u32 = 5;

/// A slow running average of the frames (8.8 fixed point per channel),
/// held by the tracker, so a look is taken from what differs from it.
/// Allocated once per frame size.
#[derive(Debug, Default)]
pub struct Background {
    data: Vec<u16>,
    width: usize,
    height: usize,
}

impl Background {
    /// Folds a frame in (the first frame, or one of a new size, is taken as is).
    pub fn update(&mut self, pixels: &Pixels<'_>) {
        let l = &pixels.layout;
        if !readable(pixels) {
            return;
        }
        let fresh = self.width != l.width || self.height != l.height || self.data.len() != l.width * l.height * 3;
        if fresh {
            self.width = l.width;
            self.height = l.height;
            self.data.clear();
            self.data.resize(l.width * l.height * 3, 0);
        }
        for (y, bg) in self.data.chunks_exact_mut(l.width * 3).enumerate() {
            let line = &pixels.data[y * l.stride..y * l.stride + l.width * 3];
            for (b, &p) in bg.iter_mut().zip(line) {
                let target = (p as i32) << 8;
                *b = if fresh {
                    target as u16
                } else {
                    (*b as i32 + ((target - *b as i32) >> BACKGROUND_SHIFT)) as u16
                };
            }
        }
    }

    /// Whether the pixel (x, y) of a frame of this size differs from the background.
    fn moves(&self, x: usize, y: usize, px: &[u8]) -> bool {
        let i = (y * self.width + x) * 3;
        let Some(bg) = self.data.get(i..i + 3) else {
            return true;
        };
        let d: i32 = px
            .iter()
            .zip(bg)
            .map(|(&p, &b)| (p as i32 - (b as i32 >> 8)).abs())
            .sum();
        d > FOREGROUND
    }

    fn fits(&self, l: &FrameLayout) -> bool {
        self.width == l.width && self.height == l.height && !self.data.is_empty()
    }
}

/// Whether the frame's buffer holds every row its layout promises, in RGB.
pub(super) fn readable(pixels: &Pixels<'_>) -> bool {
    let l = &pixels.layout;
    l.width > 0
        && l.height > 0
        && l.stride >= l.width * 3
        && pixels.data.len() >= l.stride * (l.height - 1) + l.width * 3
}

/// The decoded frame the detections were found on: packed RGB at the model's
/// input size, and where the camera picture sits inside it.
#[derive(Debug, Clone, Copy)]
pub struct Pixels<'a> {
    pub data: &'a [u8],
    pub layout: FrameLayout,
    pub geometry: Geometry,
}

/// The square roots of the two halves' normalised colour histograms, so the
/// Bhattacharyya coefficient of two looks is a dot product.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Look {
    bins: [f32; 2 * BINS],
    /// False when no look could be taken (no pixels, a box too small).
    pub valid: bool,
}

impl Default for Look {
    fn default() -> Self {
        Self {
            bins: [0.0; 2 * BINS],
            valid: false,
        }
    }
}

impl Look {
    /// Reads the look of `bbox` (source-normalised) from `pixels` into self:
    /// of the pixels that differ from `background` when it has this frame's
    /// size, of all of them otherwise.
    pub fn measure(&mut self, pixels: &Pixels<'_>, background: &Background, bbox: &BBox) {
        self.valid = false;
        self.bins = [0.0; 2 * BINS];
        let l = &pixels.layout;
        if !readable(pixels) {
            return;
        }
        let bg = background.fits(l).then_some(background);
        let b = pixels.geometry.to_input(bbox);
        let (w, h) = (l.width as f32, l.height as f32);
        let bw = b.x2 - b.x1;
        let bh = b.y2 - b.y1;
        if !(bw > 0.0 && bh > 0.0) {
            return;
        }
        let col = |f: f32| ((b.x1 + bw * f) * w).clamp(0.0, w) as usize;
        let row = |f: f32| ((b.y1 + bh * f) * h).clamp(0.0, h) as usize;
        let (x0, x1) = (col(INSET_X), col(1.0 - INSET_X).max(col(INSET_X) + 1).min(l.width));
        let rows = [(row(TOP), row(SPLIT)), (row(SPLIT), row(BOTTOM))];
        for (half, &(y0, y1)) in rows.iter().enumerate() {
            let bins = &mut self.bins[half * BINS..(half + 1) * BINS];
            let mut n = 0u32;
            for y in y0..y1.min(l.height) {
                let line = &pixels.data[y * l.stride..y * l.stride + l.width * 3];
                for (x, px) in (x0..).zip(line[x0 * 3..x1 * 3].chunks_exact(3)) {
                    if bg.is_some_and(|bg| !bg.moves(x, y, px)) {
                        continue;
                    }
                    let q = |v: u8| v as usize * LEVELS / 256;
                    bins[(q(px[0]) * LEVELS + q(px[1])) * LEVELS + q(px[2])] += 1.0;
                    n += 1;
                }
            }
            if n < MIN_PIXELS {
                return;
            }
            let inv = 1.0 / n as f32;
            for v in bins.iter_mut() {
                *v = (*v * inv).sqrt();
            }
        }
        self.valid = true;
    }

    /// How alike two looks are, 0 (no colour in common) to 1 (the same
    /// colours): the mean of the halves' Bhattacharyya coefficients.
    pub fn similarity(&self, other: &Look) -> f32 {
        if !self.valid || !other.valid {
            return 0.0;
        }
        let dot: f32 = self.bins.iter().zip(&other.bins).map(|(a, b)| a * b).sum();
        dot * 0.5
    }

    /// Moves this look towards `new` by `gain` (0..1), or takes it when this
    /// one holds none.
    pub fn blend(&mut self, new: &Look, gain: f32) {
        if !new.valid {
            return;
        }
        if !self.valid {
            *self = *new;
            return;
        }
        for half in self.bins.chunks_exact_mut(BINS).zip(new.bins.chunks_exact(BINS)) {
            let (mine, theirs) = half;
            let mut norm = 0.0;
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += gain * (b - *a);
                norm += *a * *a;
            }
            let inv = if norm > 0.0 { norm.sqrt().recip() } else { 0.0 };
            for a in mine.iter_mut() {
                *a *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40×40 RGB frame: the left half `left`, the right half `right`.
    fn frame(left: [u8; 3], right: [u8; 3]) -> Vec<u8> {
        let mut data = Vec::with_capacity(40 * 40 * 3);
        for _ in 0..40 {
            for x in 0..40 {
                data.extend_from_slice(if x < 20 { &left } else { &right });
            }
        }
        data
    }

    fn pixels(data: &[u8]) -> Pixels<'_> {
        Pixels {
            data,
            layout: FrameLayout {
                width: 40,
                height: 40,
                stride: 120,
            },
            geometry: Geometry::STRETCH,
        }
    }

    #[test]
    fn boxes_of_one_colour_look_alike_and_of_others_do_not() {
        let data = frame([240, 240, 240], [20, 20, 30]);
        let px = pixels(&data);
        let (mut a, mut b, mut c) = (Look::default(), Look::default(), Look::default());
        a.measure(&px, &Background::default(), &BBox::new(0.0, 0.0, 0.4, 1.0));
        b.measure(&px, &Background::default(), &BBox::new(0.05, 0.1, 0.45, 0.9));
        c.measure(&px, &Background::default(), &BBox::new(0.55, 0.0, 0.95, 1.0));
        assert!(a.valid && b.valid && c.valid);
        assert!((a.similarity(&b) - 1.0).abs() < 1e-4);
        assert!(a.similarity(&c) < 1e-4);
        // blending half-way lands between the two
        let mut m = a;
        m.blend(&c, 0.5);
        let (ma, mc) = (m.similarity(&a), m.similarity(&c));
        assert!(ma > 0.5 && mc > 0.5 && ma < 1.0 && mc < 1.0, "{ma} {mc}");
    }

    #[test]
    fn a_box_off_the_frame_or_too_small_has_no_look() {
        let data = frame([0, 0, 0], [0, 0, 0]);
        let px = pixels(&data);
        let mut a = Look::default();
        a.measure(&px, &Background::default(), &BBox::new(1.5, 0.0, 1.9, 1.0));
        assert!(!a.valid);
        a.measure(&px, &Background::default(), &BBox::new(0.1, 0.1, 0.11, 0.12));
        assert!(!a.valid);
        // a short buffer is refused, not read past its end
        let short = &data[..100];
        a.measure(&pixels(short), &Background::default(), &BBox::new(0.0, 0.0, 0.5, 0.5));
        assert!(!a.valid);
        assert_eq!(a.similarity(&Look::default()), 0.0);
    }
}
