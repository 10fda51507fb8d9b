//! Cuts: frames after which the picture shows another place. A camera
//! turned to another preset, knocked, or a recording that jumps from one
//! shot to the next shows no one the tracks before it followed; a track
//! carried over would match whoever stands where it was (a crossing no one
//! made) and its lost box would cover a stretch of the new picture where
//! no one is. The tracker drops every track at a cut and starts again.
//!
//! A cut is told by the picture's layout of light and dark: the frame's
//! brightness averaged over a coarse grid, compared with the previous
//! analysed frame's by their correlation. People walking, a car passing,
//! the lights going down or a cloud keep it high (above 0.8 on the
//! project's fixed-camera recordings analysed at 2 to 10 frames a second);
//! another place brings it near zero or below.

use super::appearance::{Pixels, readable};
use crate::vocab::BBox;

/// The grid the picture's brightness is averaged over.
const COLS: usize = 16;
const ROWS: usize = 12;
const CELLS: usize = COLS * ROWS;
/// Every SAMPLE-th pixel of every SAMPLE-th line is read.
const SAMPLE: usize = 2;
/// Below this correlation with the previous frame's grid, the frame is a cut.
const CUT: f32 = 0.3;

/// The previous analysed frame's grid, reused for every frame.
#[derive(Debug, Clone)]
pub struct CutWatch {
    last: [f32; CELLS],
    now: [f32; CELLS],
    has_last: bool,
}

impl Default for CutWatch {
    fn default() -> Self {
        Self {
            last: [0.0; CELLS],
            now: [0.0; CELLS],
            has_last: false,
        }
    }
}

impl CutWatch {
    /// Reads a frame; true when it shows another place than the frame read
    /// before it. An unreadable frame is not a cut and leaves the last grid.
    pub fn cut(&mut self, pixels: &Pixels<'_>) -> bool {
        if !self.measure(pixels) {
            return false;
        }
        let cut = self.has_last && correlation(&self.last, &self.now) < CUT;
        self.last = self.now;
        self.has_last = true;
        cut
    }

    /// Averages the picture's brightness (the model input's part that
    /// holds the camera picture) into `now`; false when there is none.
    fn measure(&mut self, pixels: &Pixels<'_>) -> bool {
        if !readable(pixels) {
            return false;
        }
        let l = &pixels.layout;
        let p = pixels.geometry.to_input(&BBox::new(0.0, 0.0, 1.0, 1.0));
        let (w, h) = (l.width as f32, l.height as f32);
        let x0 = (p.x1 * w).clamp(0.0, w) as usize;
        let x1 = (p.x2 * w).clamp(0.0, w) as usize;
        let y0 = (p.y1 * h).clamp(0.0, h) as usize;
        let y1 = (p.y2 * h).clamp(0.0, h) as usize;
        if x1 < x0 + COLS || y1 < y0 + ROWS {
            return false;
        }
        self.now = [0.0; CELLS];
        let mut counts = [0u32; CELLS];
        let (w, h) = (x1 - x0, y1 - y0);
        // every other pixel of every other line: the grid's cells are
        // hundreds of pixels each, and the check runs on every analysed frame
        for y in (y0..y1).step_by(SAMPLE) {
            let row = (y - y0) * ROWS / h;
            let line = &pixels.data[y * l.stride..y * l.stride + x1 * 3];
            for col in 0..COLS {
                let (a, b) = (x0 + col * w / COLS, x0 + (col + 1) * w / COLS);
                let cell = row * COLS + col;
                for px in line[a * 3..b * 3].chunks_exact(3).step_by(SAMPLE) {
                    // integer luma, near enough to Rec. 601 for a layout of light
                    self.now[cell] += (px[0] as u32 * 77 + px[1] as u32 * 150 + px[2] as u32 * 29) as f32;
                    counts[cell] += 1;
                }
            }
        }
        for (v, &n) in self.now.iter_mut().zip(&counts) {
            *v /= n.max(1) as f32 * 256.0;
        }
        true
    }
}

/// Pearson correlation of two grids; 1 for two flat ones (nothing to tell
/// apart: a covered lens stays covered).
fn correlation(a: &[f32; CELLS], b: &[f32; CELLS]) -> f32 {
    let mean = |g: &[f32; CELLS]| g.iter().sum::<f32>() / CELLS as f32;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (&x, &y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        ab += dx * dy;
        aa += dx * dx;
        bb += dy * dy;
    }
    // a grid flat to within a grey level has no layout to compare
    const FLAT: f32 = CELLS as f32;
    if aa < FLAT || bb < FLAT {
        return 1.0;
    }
    ab / (aa * bb).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::frame::{FrameLayout, Geometry};

    const W: usize = 64;
    const H: usize = 48;

    fn frame(f: impl Fn(usize, usize) -> u8) -> Vec<u8> {
        let mut data = vec![0u8; W * H * 3];
        for y in 0..H {
            for x in 0..W {
                let v = f(x, y);
                data[(y * W + x) * 3..(y * W + x) * 3 + 3].copy_from_slice(&[v, v, v]);
            }
        }
        data
    }

    fn pixels(data: &[u8]) -> Pixels<'_> {
        Pixels {
            data,
            layout: FrameLayout {
                width: W,
                height: H,
                stride: W * 3,
            },
            geometry: Geometry::STRETCH,
        }
    }

    /// A street: bright sky above, a dark road below, a post on the left.
    fn street(x: usize, y: usize) -> u8 {
        if x > 8 && x < 12 {
            30
        } else if y < H / 3 {
            200
        } else {
            70
        }
    }

    #[test]
    fn people_walking_and_the_light_going_down_are_not_a_cut() {
        let mut watch = CutWatch::default();
        assert!(!watch.cut(&pixels(&frame(street))));
        // someone walks across
        for step in 0..5 {
            let walker = frame(|x, y| {
                if (20 + step * 6..26 + step * 6).contains(&x) && y > 10 {
                    120
                } else {
                    street(x, y)
                }
            });
            assert!(!watch.cut(&pixels(&walker)), "step {step}");
        }
        // dusk: everything at half the light
        assert!(!watch.cut(&pixels(&frame(|x, y| street(x, y) / 2))));
    }

    #[test]
    fn another_place_is_a_cut_and_the_next_frame_of_it_is_not() {
        let mut watch = CutWatch::default();
        assert!(!watch.cut(&pixels(&frame(street))));
        // the camera now looks at a wall lit from the right, sky below a bridge
        let other = |x: usize, y: usize| if y > H / 2 { 210 } else { (x * 3) as u8 };
        assert!(watch.cut(&pixels(&frame(other))));
        assert!(!watch.cut(&pixels(&frame(other))));
    }

    #[test]
    fn a_covered_lens_and_an_unreadable_frame_are_not_cuts() {
        let mut watch = CutWatch::default();
        assert!(!watch.cut(&pixels(&frame(|_, _| 12))));
        assert!(!watch.cut(&pixels(&frame(|_, _| 13))));
        assert!(!watch.cut(&pixels(&[0u8; 10])));
    }
}
