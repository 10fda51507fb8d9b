//! Redaction: the only way to turn a camera picture into something that may
//! leave the box or be written to disk.
//!
//! A [`RawImage`] is a picture as the camera saw it. [`redact`] covers every
//! region the camera's policy names — faces found by the face model, the head
//! of every detected person, whole persons, the plate area of vehicles — with
//! coarse blocks whose values are randomised, so nothing under them can be
//! recovered. The result is a [`RedactedImage`]; it and the [`RedactedJpeg`]
//! encoded from it have private fields and no other constructor, so the
//! publisher and every file writer, which accept only these types, cannot be
//! handed a raw frame.

use std::io::Cursor;

use crate::infer::{BBox, Detection, LabelId};

/// What a camera redacts in its pictures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedactSet {
    pub faces: bool,
    pub heads: bool,
    pub persons: bool,
    pub plates: bool,
}

impl Default for RedactSet {
    /// Faces, and the head of every person in case the face model misses one.
    fn default() -> Self {
        Self {
            faces: true,
            heads: true,
            persons: false,
            plates: false,
        }
    }
}

/// The labels of the camera's detector that redaction acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactLabels {
    pub persons: Vec<LabelId>,
    pub vehicles: Vec<LabelId>,
}

/// A camera picture before redaction: tightly packed RGB.
pub struct RawImage {
    rgb: Vec<u8>,
    width: usize,
    height: usize,
}

impl RawImage {
    /// Copies RGB rows of `stride` bytes; `None` if the buffer is too short.
    pub fn from_rgb(data: &[u8], width: usize, height: usize, stride: usize) -> Option<Self> {
        let row = width.checked_mul(3)?;
        if width == 0 || height == 0 || stride < row || data.len() < stride * (height - 1) + row {
            return None;
        }
        let mut rgb = Vec::with_capacity(row * height);
        for y in 0..height {
            rgb.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        Some(Self { rgb, width, height })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, for the face model's input; never for output.
    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }
}

/// A picture whose regions named by the policy are covered. Only
/// [`redact`] makes one.
pub struct RedactedImage {
    rgb: Vec<u8>,
    width: usize,
    height: usize,
    /// Regions covered, in pixels.
    covered: usize,
}

impl RedactedImage {
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// How many regions were covered.
    pub fn covered(&self) -> usize {
        self.covered
    }

    pub fn rgb(&self) -> &[u8] {
        &self.rgb
    }

    /// Encodes as JPEG at `quality`, lowering it (down to 30) and then halving
    /// the size until the file fits in `max_bytes`.
    pub fn to_jpeg(&self, quality: u8, max_bytes: usize) -> Result<RedactedJpeg, image::ImageError> {
        let size_error = || {
            image::ImageError::Parameter(image::error::ParameterError::from_kind(
                image::error::ParameterErrorKind::DimensionMismatch,
            ))
        };
        let mut current = image::RgbImage::from_raw(self.width as u32, self.height as u32, self.rgb.clone())
            .ok_or_else(size_error)?;
        let mut quality = quality.clamp(1, 100);
        loop {
            let mut out = Cursor::new(Vec::new());
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(&current)?;
            let bytes = out.into_inner();
            let (w, h) = current.dimensions();
            if bytes.len() <= max_bytes || w <= 16 || h <= 16 {
                return Ok(RedactedJpeg { bytes });
            }
            if quality > 30 {
                quality = quality.saturating_sub(15).max(30);
            } else {
                current = image::imageops::thumbnail(&current, (w / 2).max(1), (h / 2).max(1));
            }
        }
    }
}

/// A JPEG of a redacted picture, ready to publish or store.
pub struct RedactedJpeg {
    bytes: Vec<u8>,
}

impl RedactedJpeg {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A head is the top part of a person box, slightly widened.
const HEAD_TOP: f32 = 0.05;
const HEAD_DEPTH: f32 = 0.3;
const HEAD_WIDEN: f32 = 0.1;
/// Faces are grown by this much on each side: a face box is tight.
const FACE_GROW: f32 = 0.3;
/// Plates sit in the lower part of a vehicle box.
const PLATE_FROM: f32 = 0.55;
/// Blocks per side of the longer edge of a region: coarse enough that no
/// face or character survives.
const BLOCKS_PER_REGION: usize = 6;
/// How far, either way, each block's value is pushed at random.
const JITTER: i32 = 40;

/// The regions the policy covers, in normalised coordinates.
pub fn regions(set: &RedactSet, labels: &RedactLabels, faces: &[Detection], scene: &[Detection], out: &mut Vec<BBox>) {
    if set.faces {
        out.extend(faces.iter().map(|f| grow(&f.bbox, FACE_GROW, FACE_GROW)));
    }
    for d in scene {
        let b = &d.bbox;
        let (w, h) = (b.width(), b.height());
        if labels.persons.contains(&d.label) {
            if set.persons {
                out.push(grow(b, 0.05, 0.05));
            } else if set.heads {
                out.push(BBox {
                    x1: b.x1 - w * HEAD_WIDEN,
                    y1: b.y1 - h * HEAD_TOP,
                    x2: b.x2 + w * HEAD_WIDEN,
                    y2: b.y1 + h * HEAD_DEPTH,
                });
            }
        }
        if set.plates && labels.vehicles.contains(&d.label) {
            out.push(BBox {
                x1: b.x1,
                y1: b.y1 + h * PLATE_FROM,
                x2: b.x2,
                y2: b.y2,
            });
        }
    }
}

fn grow(b: &BBox, fx: f32, fy: f32) -> BBox {
    let (w, h) = (b.width(), b.height());
    BBox {
        x1: b.x1 - w * fx,
        y1: b.y1 - h * fy,
        x2: b.x2 + w * fx,
        y2: b.y2 + h * fy,
    }
}

/// Covers every region (normalised; any that fall outside the picture are
/// clipped, empty ones skipped) with coarse randomised blocks.
pub fn redact(image: RawImage, regions: &[BBox]) -> RedactedImage {
    let RawImage { mut rgb, width, height } = image;
    let mut rng = fastrand::Rng::new();
    let mut covered = 0;
    for r in regions {
        let Some((x1, y1, x2, y2)) = to_pixels(r, width, height) else {
            continue;
        };
        let block = ((x2 - x1).max(y2 - y1).div_ceil(BLOCKS_PER_REGION)).max(2);
        let mut by = y1;
        while by < y2 {
            let bh = block.min(y2 - by);
            let mut bx = x1;
            while bx < x2 {
                let bw = block.min(x2 - bx);
                fill_block(&mut rgb, width, (bx, by, bw, bh), &mut rng);
                bx += bw;
            }
            by += bh;
        }
        covered += 1;
    }
    RedactedImage {
        rgb,
        width,
        height,
        covered,
    }
}

/// A normalised box in pixels, clipped; `None` when nothing is left.
fn to_pixels(b: &BBox, width: usize, height: usize) -> Option<(usize, usize, usize, usize)> {
    if !(b.x1.is_finite() && b.y1.is_finite() && b.x2.is_finite() && b.y2.is_finite()) {
        return None;
    }
    let px = |v: f32, size: usize| (v.clamp(0.0, 1.0) * size as f32).round() as usize;
    let (x1, x2) = (px(b.x1, width), px(b.x2, width));
    let (y1, y2) = (px(b.y1, height), px(b.y2, height));
    // A box thinner than a pixel still covers the pixel it touches.
    let (x2, y2) = (x2.max((x1 + 1).min(width)), y2.max((y1 + 1).min(height)));
    (x2 > x1 && y2 > y1 && b.x2 > b.x1 && b.y2 > b.y1).then_some((x1, y1, x2, y2))
}

/// One block becomes its mean colour pushed by a random amount.
fn fill_block(rgb: &mut [u8], width: usize, (x, y, w, h): (usize, usize, usize, usize), rng: &mut fastrand::Rng) {
    let mut sum = [0u64; 3];
    for row in y..y + h {
        let start = (row * width + x) * 3;
        for px in rgb[start..start + w * 3].chunks_exact(3) {
            for c in 0..3 {
                sum[c] += px[c] as u64;
            }
        }
    }
    let n = (w * h) as u64;
    let mut value = [0u8; 3];
    for c in 0..3 {
        let mean = (sum[c] / n) as i32;
        value[c] = (mean + rng.i32(-JITTER..=JITTER)).clamp(0, 255) as u8;
    }
    for row in y..y + h {
        let start = (row * width + x) * 3;
        for px in rgb[start..start + w * 3].chunks_exact_mut(3) {
            px.copy_from_slice(&value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(width: usize, height: usize) -> RawImage {
        let data: Vec<u8> = (0..width * height)
            .flat_map(|i| [(i % 251) as u8, (i * 7 % 253) as u8, (i * 13 % 255) as u8])
            .collect();
        RawImage::from_rgb(&data, width, height, width * 3).unwrap()
    }

    fn region(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    #[test]
    fn a_covered_region_keeps_no_detail_and_the_rest_is_untouched() {
        let original = gradient(64, 64);
        let before = original.rgb().to_vec();
        let out = redact(original, &[region(0.25, 0.25, 0.75, 0.75)]);
        assert_eq!(out.covered(), 1);
        // 32×32 px in blocks of 6 px: each block is one colour.
        let px = |x: usize, y: usize| &out.rgb()[(y * 64 + x) * 3..(y * 64 + x) * 3 + 3];
        assert_eq!(px(16, 16), px(21, 21));
        assert_ne!(px(16, 16), &before[(16 * 64 + 16) * 3..(16 * 64 + 16) * 3 + 3]);
        // Outside: unchanged.
        assert_eq!(&out.rgb()[..16 * 64 * 3], &before[..16 * 64 * 3]);
    }

    #[test]
    fn odd_inputs_never_crash() {
        for (w, h) in [(1, 1), (1, 7), (9, 1)] {
            let img = gradient(w, h);
            let out = redact(
                img,
                &[
                    region(-5.0, -5.0, 10.0, 10.0),            // beyond the picture
                    region(0.5, 0.5, 0.5, 0.5),                // no area
                    region(2.0, 2.0, 3.0, 3.0),                // entirely outside
                    region(f32::NAN, 0.0, 1.0, f32::INFINITY), // not a number
                    region(0.9, 0.9, 0.1, 0.1),                // inverted
                ],
            );
            assert_eq!(out.covered(), 1, "{w}x{h}: only the first region is real");
            assert!(out.to_jpeg(80, 1 << 20).is_ok());
        }
        assert!(RawImage::from_rgb(&[0; 2], 1, 1, 3).is_none());
        assert!(RawImage::from_rgb(&[], 0, 0, 0).is_none());
    }

    #[test]
    fn heads_come_from_persons_and_plates_from_vehicles() {
        let labels = RedactLabels {
            persons: vec![1],
            vehicles: vec![3],
        };
        let person = Detection {
            label: 1,
            score: 0.9,
            bbox: region(0.1, 0.2, 0.3, 0.8),
        };
        let car = Detection {
            label: 3,
            score: 0.9,
            bbox: region(0.5, 0.5, 0.9, 0.9),
        };
        let mut out = Vec::new();
        regions(&RedactSet::default(), &labels, &[], &[person, car], &mut out);
        assert_eq!(out.len(), 1, "default: the person's head only");
        assert!(out[0].y2 < 0.5 && out[0].y1 < 0.2);
        out.clear();
        let all = RedactSet {
            faces: true,
            heads: true,
            persons: true,
            plates: true,
        };
        regions(&all, &labels, &[], &[person, car], &mut out);
        assert_eq!(out.len(), 2, "the whole person (head included) and the plate area");
        assert!(out[1].y1 > 0.5 && out[1].y2 == 0.9);
    }

    #[test]
    fn a_jpeg_is_shrunk_to_fit_its_cap() {
        let big = gradient(640, 360);
        let out = redact(big, &[]);
        let roomy = out.to_jpeg(90, 10 << 20).unwrap();
        let capped = out.to_jpeg(90, roomy.as_bytes().len() / 4).unwrap();
        assert!(capped.as_bytes().len() <= roomy.as_bytes().len() / 4);
        assert_eq!(&capped.as_bytes()[..2], &[0xFF, 0xD8], "a JPEG");
    }
}
