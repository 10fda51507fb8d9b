//! A closer look for persons, for covering only: before a picture is
//! redacted, the camera's own detector looks at it again in overlapping
//! tiles, each a part of the picture enlarged to the detector's input, and
//! every person it finds there (at the privacy threshold) is covered too.
//! Someone small, at the picture's edge, beside a post or in a group, whom
//! the detector missed on the whole frame shrunk to its input, is larger
//! to it in a tile. The rules never see these persons; the detect thread's
//! rate is untouched: the look is taken only when a picture is made.

use gstreamer as gst;
use gstreamer_video as gst_video;

use crate::infer::InferClient;
use crate::vocab::{BBox, Frame, FrameLayout, Geometry, LabelId};

/// Tiles across and down.
const TILES: usize = 2;
/// Each tile's share of the picture's width and height: neighbours
/// overlap by a fifth of the picture, so a person a tile's edge cuts is
/// whole in the next.
const TILE_SHARE: f32 = 0.6;

/// A box whose top is this close to a tile's top (normalised to the tile)
/// is cut by it.
const CUT: f32 = 0.01;

/// The camera's detector, for a closer look at its pictures.
pub struct Closer {
    client: InferClient,
    /// The detector's input, which each tile is scaled to.
    input: (usize, usize),
    /// The detector's person labels.
    persons: Vec<LabelId>,
    /// One tile's pixels, reused.
    tile: Vec<u8>,
}

impl Closer {
    /// A closer look with `client`, a handle on the camera's detector (whose
    /// input is `input` pixels, and whose person labels are `persons`).
    pub fn new(client: InferClient, input: (u32, u32), persons: Vec<LabelId>) -> Self {
        let input = (input.0.max(1) as usize, input.1.max(1) as usize);
        Self {
            client,
            input,
            persons,
            tile: vec![0; input.0 * input.1 * 3],
        }
    }

    /// Appends to `found` the persons the detector finds in the tiles of
    /// `sample` (RGB), in its normalised coordinates. Fails when the
    /// picture cannot be read or the detector fails.
    pub fn look(&mut self, sample: &gst::Sample, found: &mut Vec<BBox>) -> Result<(), String> {
        let (info, map) = crate::decode::convert::mapped(sample)?;
        if info.format() != gst_video::VideoFormat::Rgb {
            return Err(format!("a closer look needs an RGB picture, not {:?}", info.format()));
        }
        let (width, height) = (info.width() as usize, info.height() as usize);
        let stride = info.stride()[0].max(0) as usize;
        let pixels = map.as_slice();
        if width == 0 || height == 0 || pixels.len() < stride * (height - 1) + width * 3 {
            return Err("the picture's pixels are short".into());
        }
        let (tw, th) = (
            ((width as f32 * TILE_SHARE) as usize).clamp(1, width),
            ((height as f32 * TILE_SHARE) as usize).clamp(1, height),
        );
        for ty in 0..TILES {
            for tx in 0..TILES {
                let left = (width - tw) * tx / (TILES - 1).max(1);
                let top = (height - th) * ty / (TILES - 1).max(1);
                scale_into(pixels, stride, (left, top, tw, th), self.input, &mut self.tile);
                let frame = Frame {
                    buffer: gst::Buffer::from_slice(self.tile.clone()),
                    layout: FrameLayout {
                        width: self.input.0,
                        height: self.input.1,
                        stride: self.input.0 * 3,
                    },
                    geometry: Geometry {
                        offset_x: 0.0,
                        offset_y: 0.0,
                        span_x: 1.0,
                        span_y: 1.0,
                    },
                    pts: std::time::Duration::ZERO,
                    number: 0,
                    arrived: std::time::Instant::now(),
                };
                let tile_found = self
                    .client
                    .detect(&frame)
                    .map_err(|e| format!("the closer look failed: {e}"))?;
                let (fx, fy) = (tw as f32 / width as f32, th as f32 / height as f32);
                let (ox, oy) = (left as f32 / width as f32, top as f32 / height as f32);
                found.extend(
                    tile_found
                        .iter()
                        .filter(|d| self.persons.contains(&d.label))
                        // cut by the top of a lower tile: the legs of someone
                        // the tile above sees with the head
                        .filter(|d| top == 0 || d.bbox.y1 > CUT)
                        .map(|d| BBox {
                            x1: ox + d.bbox.x1 * fx,
                            y1: oy + d.bbox.y1 * fy,
                            x2: ox + d.bbox.x2 * fx,
                            y2: oy + d.bbox.y2 * fy,
                        }),
                );
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for Closer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closer")
            .field("input", &self.input)
            .field("persons", &self.persons)
            .finish_non_exhaustive()
    }
}

/// Boxes overlapping this much are one person seen twice.
pub const SAME: f32 = 0.5;

/// Intersection over union of two boxes.
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let inter = w * h;
    let union = a.width() * a.height() + b.width() * b.height() - inter;
    if union > 0.0 { inter / union } else { 0.0 }
}

/// Scales the `(left, top, w, h)` part of an RGB picture (rows `stride`
/// bytes apart) into `out`, `size` pixels, bilinearly.
fn scale_into(
    pixels: &[u8],
    stride: usize,
    (left, top, w, h): (usize, usize, usize, usize),
    size: (usize, usize),
    out: &mut [u8],
) {
    let (ow, oh) = size;
    let sx = w as f32 / ow as f32;
    let sy = h as f32 / oh as f32;
    for y in 0..oh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let y0 = fy as usize;
        let y1 = (y0 + 1).min(h - 1);
        let wy = fy - y0 as f32;
        for x in 0..ow {
            let fx = ((x as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let x0 = fx as usize;
            let x1 = (x0 + 1).min(w - 1);
            let wx = fx - x0 as f32;
            for c in 0..3 {
                let at = |xx: usize, yy: usize| f32::from(pixels[(top + yy) * stride + (left + xx) * 3 + c]);
                let v = (at(x0, y0) * (1.0 - wx) + at(x1, y0) * wx) * (1.0 - wy)
                    + (at(x0, y1) * (1.0 - wx) + at(x1, y1) * wx) * wy;
                out[(y * ow + x) * 3 + c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_scaled_to_the_input() {
        // 4x2 picture: left half black, right half white
        let mut pixels = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 2..4 {
                pixels[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3].fill(255);
            }
        }
        let mut out = vec![0u8; 4 * 4 * 3];
        scale_into(&pixels, 12, (2, 0, 2, 2), (4, 4), &mut out);
        assert!(out.iter().all(|&v| v == 255), "the right half only");
        scale_into(&pixels, 12, (0, 0, 4, 2), (4, 4), &mut out);
        assert_eq!(out[0], 0);
        assert_eq!(out[3 * 3], 255);
    }

    #[test]
    fn overlapping_boxes_are_one_person() {
        let a = BBox {
            x1: 0.1,
            y1: 0.1,
            x2: 0.3,
            y2: 0.5,
        };
        let b = BBox { x1: 0.12, ..a };
        let c = BBox { x1: 0.5, x2: 0.6, ..a };
        assert!(iou(&a, &b) > SAME);
        assert!(iou(&a, &c) < SAME);
    }
}
