//! What the health watch measures on one grayscale frame of the motion
//! branch: brightness (mean, the share of saturated pixels), structure (the
//! share of the picture that is flat), sharpness (edge energy against
//! contrast, so that dimming does not look like blur), a 32×18 thumbnail of
//! the view (for the comparison with the reference) and the change since the
//! previous analysed frame.
//!
//! It reads a bounded sample of the frame — every row up to
//! [`MAX_ROWS`] rows, every column up to [`MAX_COLS`] columns, evenly
//! spaced otherwise — so its cost does not grow with the branch's width,
//! and it allocates nothing once the frame size is known.

use crate::rules::blobs::GrayFrame;

/// Width of the grayscale frames the health watch asks of the motion
/// branch when no rule asks for more.
pub const BRANCH_WIDTH: u32 = 320;
/// Thumbnail columns and rows (cells of the view).
pub const THUMB_W: usize = 32;
pub const THUMB_H: usize = 18;
pub const THUMB: usize = THUMB_W * THUMB_H;
/// Most rows and columns read per frame.
pub const MAX_ROWS: usize = 96;
pub const MAX_COLS: usize = 320;
/// A block (2×2 thumbnail cells) whose standard deviation is below this
/// many grey levels has no structure.
const FLAT_STD: f64 = 4.0;
/// Grey level from which a pixel counts as saturated (video-range white is 235).
const SATURATED: u8 = 230;

/// One frame's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Measures {
    /// Mean grey level, 0–255.
    pub mean: f64,
    /// Share of sampled pixels at or above the saturation level.
    pub saturated: f64,
    /// Share of the picture's blocks without structure.
    pub flat: f64,
    /// Root mean square difference between neighbours over the standard
    /// deviation of the picture (plus one): blur lowers it, dimming does not.
    /// (Squared, so that an edge spread over more pixels counts less: the
    /// plain sum of differences across an edge does not change with blur.)
    pub sharpness: f64,
    /// Mean absolute change against the previous measured frame, grey
    /// levels; None for the first frame of a size.
    pub change: Option<f64>,
    /// Mean grey level of each thumbnail cell, row by row.
    pub thumb: [f32; THUMB],
}

impl Default for Measures {
    fn default() -> Self {
        Self {
            mean: 0.0,
            saturated: 0.0,
            flat: 0.0,
            sharpness: 0.0,
            change: None,
            thumb: [0.0; THUMB],
        }
    }
}

/// Reusable buffers of the measurement, sized for one frame size.
#[derive(Debug)]
pub struct Measurer {
    size: (u32, u32),
    /// Sampled columns and their thumbnail column.
    cols: Vec<(usize, u8)>,
    /// Sampled rows and their thumbnail row.
    rows: Vec<(usize, u8)>,
    /// The previous frame's samples, for the change.
    previous: Vec<u8>,
    has_previous: bool,
    sums: [u64; THUMB],
    squares: [u64; THUMB],
    counts: [u32; THUMB],
}

impl Default for Measurer {
    fn default() -> Self {
        Self {
            size: (0, 0),
            cols: Vec::new(),
            rows: Vec::new(),
            previous: Vec::new(),
            has_previous: false,
            sums: [0; THUMB],
            squares: [0; THUMB],
            counts: [0; THUMB],
        }
    }
}

impl Measurer {
    fn resize(&mut self, width: u32, height: u32) {
        self.size = (width, height);
        let pick = |n: usize, most: usize, cells: usize| -> Vec<(usize, u8)> {
            let taken = n.min(most);
            (0..taken)
                .map(|i| {
                    let at = i * n / taken;
                    (at, (at * cells / n) as u8)
                })
                .collect()
        };
        // the last column and row are left out: they have no right or lower neighbour
        self.cols = pick(width as usize - 1, MAX_COLS, THUMB_W);
        self.rows = pick(height as usize - 1, MAX_ROWS, THUMB_H);
        self.previous = vec![0; self.cols.len() * self.rows.len()];
        self.has_previous = false;
    }

    /// Measures `frame` into `out`; false when the frame is too small or its
    /// data too short for its size (nothing measured).
    pub fn measure(&mut self, frame: &GrayFrame<'_>, out: &mut Measures) -> bool {
        let (w, h) = (frame.width as usize, frame.height as usize);
        if w < THUMB_W * 2 || h < THUMB_H * 2 || frame.stride < w || frame.data.len() < frame.stride * (h - 1) + w {
            return false;
        }
        if self.size != (frame.width, frame.height) {
            self.resize(frame.width, frame.height);
        }
        self.sums = [0; THUMB];
        self.squares = [0; THUMB];
        self.counts = [0; THUMB];
        let (mut saturated, mut grad, mut change, mut n) = (0u64, 0u64, 0u64, 0u64);
        let mut k = 0;
        for &(y, cy) in &self.rows {
            let row = &frame.data[y * frame.stride..y * frame.stride + w];
            let below = &frame.data[(y + 1) * frame.stride..(y + 1) * frame.stride + w];
            let base = cy as usize * THUMB_W;
            for &(x, cx) in &self.cols {
                let p = row[x];
                let cell = base + cx as usize;
                self.sums[cell] += u64::from(p);
                self.squares[cell] += u64::from(p) * u64::from(p);
                self.counts[cell] += 1;
                saturated += u64::from(p >= SATURATED);
                let (dx, dy) = (u64::from(p.abs_diff(row[x + 1])), u64::from(p.abs_diff(below[x])));
                grad += dx * dx + dy * dy;
                change += u64::from(p.abs_diff(self.previous[k]));
                self.previous[k] = p;
                k += 1;
            }
            n += self.cols.len() as u64;
        }
        let n = n.max(1) as f64;
        let total: u64 = self.sums.iter().sum();
        let total_sq: u64 = self.squares.iter().sum();
        let mean = total as f64 / n;
        let sd = (total_sq as f64 / n - mean * mean).max(0.0).sqrt();
        out.mean = mean;
        out.saturated = saturated as f64 / n;
        out.sharpness = (grad as f64 / (2.0 * n)).sqrt() / (sd + 1.0);
        out.change = self.has_previous.then(|| change as f64 / n);
        self.has_previous = true;
        for (cell, thumb) in out.thumb.iter_mut().enumerate() {
            *thumb = (self.sums[cell] as f64 / f64::from(self.counts[cell].max(1))) as f32;
        }
        // blocks of 2×2 cells
        let (mut flat, mut blocks) = (0u32, 0u32);
        for by in (0..THUMB_H).step_by(2) {
            for bx in (0..THUMB_W).step_by(2) {
                let (mut s, mut q, mut c) = (0u64, 0u64, 0u64);
                for cell in [
                    by * THUMB_W + bx,
                    by * THUMB_W + bx + 1,
                    (by + 1) * THUMB_W + bx,
                    (by + 1) * THUMB_W + bx + 1,
                ] {
                    s += self.sums[cell];
                    q += self.squares[cell];
                    c += u64::from(self.counts[cell]);
                }
                if c == 0 {
                    continue;
                }
                let m = s as f64 / c as f64;
                let var = q as f64 / c as f64 - m * m;
                blocks += 1;
                flat += u32::from(var < FLAT_STD * FLAT_STD);
            }
        }
        out.flat = f64::from(flat) / f64::from(blocks.max(1));
        true
    }
}

/// How alike two thumbnails are: their normalised cross-correlation, which
/// a change of brightness or contrast leaves alone (1 alike, 0 unrelated).
/// Two thumbnails without structure are alike; one with and one without are not.
pub fn similarity(a: &[f32; THUMB], b: &[f32; THUMB]) -> f64 {
    let n = THUMB as f64;
    let ma = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let mb = b.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    // below a grey level of spread per cell, a thumbnail is uniform
    let (flat_a, flat_b) = (aa < n, bb < n);
    match (flat_a, flat_b) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        (false, false) => ab / (aa * bb).sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn frame(data: &[u8], w: u32, h: u32) -> GrayFrame<'_> {
        GrayFrame {
            width: w,
            height: h,
            stride: w as usize,
            data,
            pts: Duration::ZERO,
        }
    }

    /// A checkerboard of 8-pixel squares between `lo` and `hi`.
    fn checks(w: u32, h: u32, lo: u8, hi: u8, shift: usize) -> Vec<u8> {
        (0..h as usize)
            .flat_map(|y| (0..w as usize).map(move |x| if ((x + shift) / 8 + y / 8) % 2 == 0 { lo } else { hi }))
            .collect()
    }

    #[test]
    fn a_uniform_picture_is_flat_dark_and_without_sharpness() {
        let data = vec![16u8; 320 * 180];
        let (mut m, mut out) = (Measurer::default(), Measures::default());
        assert!(m.measure(&frame(&data, 320, 180), &mut out));
        assert_eq!(out.flat, 1.0);
        assert_eq!(out.mean, 16.0);
        assert_eq!(out.sharpness, 0.0);
        assert_eq!(out.change, None);
        assert!(m.measure(&frame(&data, 320, 180), &mut out));
        assert_eq!(out.change, Some(0.0));
    }

    #[test]
    fn dimming_keeps_sharpness_and_similarity_blur_does_not_keep_sharpness() {
        let bright = checks(320, 180, 60, 200, 0);
        let dim = checks(320, 180, 20, 66, 0);
        let (mut m, mut a, mut b) = (Measurer::default(), Measures::default(), Measures::default());
        m.measure(&frame(&bright, 320, 180), &mut a);
        m.measure(&frame(&dim, 320, 180), &mut b);
        assert!(
            (a.sharpness - b.sharpness).abs() < 0.2 * a.sharpness,
            "{} {}",
            a.sharpness,
            b.sharpness
        );
        assert!(similarity(&a.thumb, &b.thumb) > 0.99);
        assert!(b.mean < a.mean / 2.0);
        assert_eq!(a.flat, 0.0);
        // a box blur of 9×9 pixels
        let blurred: Vec<u8> = (0..180usize)
            .flat_map(|y| {
                let bright = &bright;
                (0..320usize).map(move |x| {
                    let (x0, x1) = (x.saturating_sub(4), (x + 4).min(319));
                    let (y0, y1) = (y.saturating_sub(4), (y + 4).min(179));
                    let s: usize = (y0..=y1)
                        .flat_map(|j| (x0..=x1).map(move |i| usize::from(bright[j * 320 + i])))
                        .sum();
                    (s / ((x1 - x0 + 1) * (y1 - y0 + 1))) as u8
                })
            })
            .collect();
        m.measure(&frame(&blurred, 320, 180), &mut b);
        assert!(b.sharpness < 0.7 * a.sharpness, "{} {}", a.sharpness, b.sharpness);
    }

    #[test]
    fn a_shifted_view_is_less_similar() {
        let a = checks(320, 180, 40, 200, 0);
        let mut b = checks(320, 180, 40, 200, 0);
        // a bright object in one corner, then the whole view shifted
        let (mut m, mut ma, mut mb) = (Measurer::default(), Measures::default(), Measures::default());
        m.measure(&frame(&a, 320, 180), &mut ma);
        for y in 0..40 {
            b[y * 320..y * 320 + 40].fill(255);
        }
        m.measure(&frame(&b, 320, 180), &mut mb);
        let same_view = similarity(&ma.thumb, &mb.thumb);
        let shifted = checks(320, 180, 40, 200, 4);
        m.measure(&frame(&shifted, 320, 180), &mut mb);
        assert!(similarity(&ma.thumb, &mb.thumb) < same_view);
        let uniform = [7.0f32; THUMB];
        assert_eq!(similarity(&uniform, &uniform), 1.0);
        assert_eq!(similarity(&uniform, &ma.thumb), 0.0);
    }

    #[test]
    fn a_short_buffer_or_a_tiny_frame_is_not_measured() {
        let (mut m, mut out) = (Measurer::default(), Measures::default());
        let data = vec![0u8; 100];
        assert!(!m.measure(&frame(&data, 320, 180), &mut out));
        assert!(!m.measure(&frame(&data, 10, 10), &mut out));
    }
}
