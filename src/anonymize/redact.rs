//! Redaction: the only way to turn a camera picture into something that may
//! leave the box or be written to disk.
//!
//! A [`RawImage`] is a picture as the camera saw it. [`redact`] covers every
//! region the camera's policy names — faces found by the face model, the head
//! of every detected person, whole persons, the plate area of vehicles — with
//! one flat colour, its mean pushed by an amount drawn from the covered
//! pixels, so nothing under it can be recovered and nothing in it looks like
//! a face; the same picture always gets the same patches, so the picture
//! searched for faces is the picture that leaves the box. The result is a [`RedactedImage`]; it and the [`RedactedJpeg`]
//! encoded from it have private fields and no other constructor, so the
//! publisher and every file writer, which accept only these types, cannot be
//! handed a raw frame. A redacted picture can be annotated ([`Mark`]: solid
//! outlines and labels), scaled down, and tiled with other redacted pictures
//! ([`contact_sheet`]); each takes and returns `RedactedImage`s and none takes
//! pixels from anywhere else.

use std::io::Cursor;

use crate::vocab::{BBox, LabelId, LabelMap};

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

/// The detector labels a `plates` redaction covers.
const VEHICLES: &[&str] = &["car", "truck", "bus", "motorcycle"];

impl RedactLabels {
    /// The person and vehicle labels of a detector's label map.
    pub fn of(labels: &LabelMap) -> Self {
        let ids = |names: &[&str]| names.iter().flat_map(|n| labels.ids_of(n)).collect::<Vec<_>>();
        Self {
            persons: ids(&["person"]),
            vehicles: ids(VEHICLES),
        }
    }
}

/// A camera picture before redaction: tightly packed RGB.
pub struct RawImage {
    rgb: Vec<u8>,
    width: usize,
    height: usize,
}

impl RawImage {
    /// Copies RGB rows of `stride` bytes; `None` if the buffer is too short.
    pub(crate) fn from_rgb(data: &[u8], width: usize, height: usize, stride: usize) -> Option<Self> {
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

/// An annotation for [`RedactedImage::annotate`], in normalised coordinates
/// (0..1 from the top-left). Marks are outlines and short labels in solid
/// colours: they add pixels of their own and take none from any picture.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// A straight line.
    Line {
        from: [f32; 2],
        to: [f32; 2],
        colour: [u8; 3],
    },
    /// The outline of a box.
    Rect { bbox: BBox, colour: [u8; 3] },
    /// A short label (digits, `.`, `:`, `-`, `#` and spaces; other
    /// characters are left blank) on a dark plate, its top-left at `at`.
    Text {
        at: [f32; 2],
        text: String,
        colour: [u8; 3],
    },
}

impl RedactedImage {
    /// Draws `marks` over the picture. Drawing only sets pixels to a mark's
    /// colour, so what redaction covered stays covered; the result is still a
    /// redacted picture, which is why this is the one way to annotate one.
    pub fn annotate(mut self, marks: &[Mark]) -> RedactedImage {
        let (w, h) = (self.width, self.height);
        let thick = (w.max(h) / 400).max(1) as i64;
        let scale = (w.max(h) / 320).max(1) as i64 + 1;
        let px = |v: f32, size: usize| -> i64 {
            if v.is_finite() {
                (v.clamp(-1.0, 2.0) * size as f32).round() as i64
            } else {
                -1
            }
        };
        for mark in marks {
            match mark {
                Mark::Line { from, to, colour } => {
                    let (a, b) = ((px(from[0], w), px(from[1], h)), (px(to[0], w), px(to[1], h)));
                    self.line(a, b, thick, *colour);
                }
                Mark::Rect { bbox, colour } => {
                    let (x1, y1, x2, y2) = (px(bbox.x1, w), px(bbox.y1, h), px(bbox.x2, w), px(bbox.y2, h));
                    for (a, b) in [
                        ((x1, y1), (x2, y1)),
                        ((x2, y1), (x2, y2)),
                        ((x2, y2), (x1, y2)),
                        ((x1, y2), (x1, y1)),
                    ] {
                        self.line(a, b, thick, *colour);
                    }
                }
                Mark::Text { at, text, colour } => self.text((px(at[0], w), px(at[1], h)), text, scale, *colour),
            }
        }
        self
    }

    /// A copy scaled down (never up) to fit in `max_width` × `max_height`;
    /// each pixel is an average of redacted pixels.
    pub fn thumbnail(&self, max_width: usize, max_height: usize) -> RedactedImage {
        let ratio = (max_width as f64 / self.width as f64).min(max_height as f64 / self.height as f64);
        if ratio >= 1.0 {
            return self.copy();
        }
        let w = ((self.width as f64 * ratio).round() as usize).max(1);
        let h = ((self.height as f64 * ratio).round() as usize).max(1);
        let Some(image) = image::RgbImage::from_raw(self.width as u32, self.height as u32, self.rgb.clone()) else {
            return self.copy();
        };
        let small = image::imageops::thumbnail(&image, w as u32, h as u32);
        RedactedImage {
            width: small.width() as usize,
            height: small.height() as usize,
            rgb: small.into_raw(),
            covered: self.covered,
        }
    }

    fn copy(&self) -> RedactedImage {
        RedactedImage {
            rgb: self.rgb.clone(),
            width: self.width,
            height: self.height,
            covered: self.covered,
        }
    }

    /// A filled square of side `size` at (x, y), clipped to the picture.
    fn square(&mut self, x: i64, y: i64, size: i64, colour: [u8; 3]) {
        let (w, h) = (self.width as i64, self.height as i64);
        for yy in y.max(0)..(y + size).min(h) {
            for xx in x.max(0)..(x + size).min(w) {
                let i = (yy * w + xx) as usize * 3;
                self.rgb[i..i + 3].copy_from_slice(&colour);
            }
        }
    }

    /// Bresenham, each point a square of side `thick`; off-picture parts are clipped.
    fn line(&mut self, (x0, y0): (i64, i64), (x1, y1): (i64, i64), thick: i64, colour: [u8; 3]) {
        let limit = 4 * (self.width + self.height) as i64;
        if [x0, y0, x1, y1].iter().any(|v| v.abs() > limit) {
            return;
        }
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.square(x - thick / 2, y - thick / 2, thick, colour);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    fn text(&mut self, (x, y): (i64, i64), text: &str, scale: i64, colour: [u8; 3]) {
        let advance = (GLYPH_W + 1) * scale;
        let count = text.chars().count() as i64;
        // a dark plate keeps the label legible on any background
        for py in 0..(GLYPH_H + 2) * scale {
            for px in 0..count * advance + scale {
                self.square(x + px, y + py, 1, [0, 0, 0]);
            }
        }
        for (i, c) in text.chars().enumerate() {
            let Some(rows) = glyph(c) else { continue };
            let left = x + scale + i as i64 * advance;
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..GLYPH_W {
                    if bits >> (GLYPH_W - 1 - col) & 1 == 1 {
                        self.square(left + col * scale, y + scale + row as i64 * scale, scale, colour);
                    }
                }
            }
        }
    }
}

const GLYPH_W: i64 = 3;
const GLYPH_H: i64 = 5;

/// A 3×5 bitmap font: each row's three bits, left to right.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        ':' => [0b000, 0b010, 0b000, 0b010, 0b000],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '#' => [0b101, 0b111, 0b101, 0b111, 0b101],
        _ => return None,
    })
}

/// Lays redacted pictures out row by row, `columns` to a row, each in a cell
/// the size of the largest one, on a dark background: a contact sheet. It is
/// made of redacted pictures only, so it is one too. `None` without tiles.
pub fn contact_sheet(tiles: &[RedactedImage], columns: usize) -> Option<RedactedImage> {
    const GAP: usize = 4;
    let columns = columns.clamp(1, tiles.len().max(1));
    let cell_w = tiles.iter().map(|t| t.width).max()?;
    let cell_h = tiles.iter().map(|t| t.height).max()?;
    let rows = tiles.len().div_ceil(columns);
    let width = columns * (cell_w + GAP) + GAP;
    let height = rows * (cell_h + GAP) + GAP;
    let mut rgb = vec![32u8; width.checked_mul(height)?.checked_mul(3)?];
    for (i, tile) in tiles.iter().enumerate() {
        let left = GAP + (i % columns) * (cell_w + GAP);
        let top = GAP + (i / columns) * (cell_h + GAP);
        for y in 0..tile.height {
            let from = y * tile.width * 3;
            let to = ((top + y) * width + left) * 3;
            rgb[to..to + tile.width * 3].copy_from_slice(&tile.rgb[from..from + tile.width * 3]);
        }
    }
    Some(RedactedImage {
        rgb,
        width,
        height,
        covered: tiles.iter().map(|t| t.covered).sum(),
    })
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

/// How far, either way, a patch's colour is pushed from the mean of what it
/// covers, by an amount drawn from what it covers (the same picture gets the
/// same patches, so what was searched for faces is what leaves the box).
/// A region is one flat patch: a mosaic of a face (six blocks across were
/// used before) keeps its layout — dark eyes, light
/// forehead — and a face detector still finds faces in such mosaics and in
/// patterns of random-coloured blocks (tests/suite/face_set.rs found them at
/// scores up to 0.36).
const JITTER: i32 = 16;

/// Covers every region (normalised; any that fall outside the picture are
/// clipped, empty ones skipped) with a flat colour, pushed from the mean.
pub(crate) fn redact(image: RawImage, regions: &[BBox]) -> RedactedImage {
    paint(image, regions, 0)
}

/// [`fill_regions`] over a picture's pixels.
fn paint(image: RawImage, regions: &[BBox], painted: usize) -> RedactedImage {
    let RawImage { mut rgb, width, height } = image;
    let covered = fill_regions(&mut rgb, width, height, regions, painted);
    RedactedImage {
        rgb,
        width,
        height,
        covered,
    }
}

/// Covers a redacted picture again with `regions`: the first `painted` are
/// those it is already covered with, the rest are new, such as what the face
/// search still finds in it. A patch that touches no new region keeps its
/// colour, so the picture that leaves the box differs from the one searched
/// only where the search found something; a patch that does is refilled
/// with the new regions it touches, as [`redact`] fills them.
pub(crate) fn cover(image: RedactedImage, regions: &[BBox], painted: usize) -> RedactedImage {
    let RedactedImage { rgb, width, height, .. } = image;
    paint(RawImage { rgb, width, height }, regions, painted)
}

/// Fills the regions of tightly packed RGB; returns how many cover it.
/// Regions that overlap or touch form a group, and a group gets one
/// colour: neighbouring patches of different colours can together look
/// like a face (a face detector found such patterns), one colour cannot.
/// A group made only of the first `painted` regions is already filled and
/// left as it is.
fn fill_regions(rgb: &mut [u8], width: usize, height: usize, regions: &[BBox], painted: usize) -> usize {
    type Rect = (usize, usize, usize, usize);
    // each region in pixels, and whether it is new
    let (rects, fresh): (Vec<Rect>, Vec<bool>) = regions
        .iter()
        .enumerate()
        .filter_map(|(i, r)| to_pixels(r, width, height).map(|rect| (rect, i >= painted)))
        .unzip();
    let mut group: Vec<usize> = (0..rects.len()).collect();
    fn root(group: &mut [usize], mut i: usize) -> usize {
        while group[i] != i {
            group[i] = group[group[i]];
            i = group[i];
        }
        i
    }
    let touch = |a: &Rect, b: &Rect| a.0 <= b.2 && b.0 <= a.2 && a.1 <= b.3 && b.1 <= a.3;
    for i in 0..rects.len() {
        for j in i + 1..rects.len() {
            if touch(&rects[i], &rects[j]) {
                let (a, b) = (root(&mut group, i), root(&mut group, j));
                group[a] = b;
            }
        }
    }
    // the groups that take a new colour: those holding a new region
    let mut refill = std::collections::HashSet::new();
    for (i, _) in fresh.iter().enumerate().filter(|(_, new)| **new) {
        refill.insert(root(&mut group, i));
    }
    let mut colours: std::collections::HashMap<usize, ([u64; 3], u64)> = std::collections::HashMap::new();
    for (i, &(x1, y1, x2, y2)) in rects.iter().enumerate() {
        let g = root(&mut group, i);
        if !refill.contains(&g) {
            continue;
        }
        let entry = colours.entry(g).or_default();
        for row in y1..y2 {
            for px in rgb[(row * width + x1) * 3..(row * width + x2) * 3].chunks_exact(3) {
                for (total, &v) in entry.0.iter_mut().zip(px) {
                    *total += v as u64;
                }
            }
        }
        entry.1 += ((x2 - x1) * (y2 - y1)) as u64;
    }
    let colours: std::collections::HashMap<usize, [u8; 3]> = colours
        .into_iter()
        .map(|(g, (sum, n))| {
            // the push is drawn from the covered pixels themselves: the
            // mean does not leave the box, and the picture gets the same
            // patches every time it is made
            let mut rng = fastrand::Rng::with_seed(sum[0] ^ sum[1].rotate_left(21) ^ sum[2].rotate_left(42) ^ n);
            let value = sum.map(|total| ((total / n.max(1)) as i32 + rng.i32(-JITTER..=JITTER)).clamp(0, 255) as u8);
            (g, value)
        })
        .collect();
    for (i, &(x1, y1, x2, y2)) in rects.iter().enumerate() {
        let Some(&value) = colours.get(&root(&mut group, i)) else {
            continue;
        };
        for row in y1..y2 {
            for px in rgb[(row * width + x1) * 3..(row * width + x2) * 3].chunks_exact_mut(3) {
                px.copy_from_slice(&value);
            }
        }
    }
    rects.len()
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
        let out = redact(original, &[region(0.25, 0.25, 0.75, 0.75), region(0.7, 0.5, 0.8, 0.9)]);
        assert_eq!(out.covered(), 2);
        // 32×32 px of one flat colour.
        let px = |x: usize, y: usize| &out.rgb()[(y * 64 + x) * 3..(y * 64 + x) * 3 + 3];
        assert_eq!(px(16, 16), px(47, 47));
        // a region that touches it takes the same colour
        assert_eq!(px(16, 16), px(50, 55));
        assert_ne!(px(16, 16), &before[(16 * 64 + 16) * 3..(16 * 64 + 16) * 3 + 3]);
        // Outside: unchanged.
        assert_eq!(&out.rgb()[..16 * 64 * 3], &before[..16 * 64 * 3]);
    }

    #[test]
    fn the_same_picture_gets_the_same_patches_and_a_new_find_refills_only_what_it_touches() {
        let regions = [region(0.1, 0.1, 0.3, 0.3), region(0.6, 0.6, 0.9, 0.9)];
        let first = redact(gradient(64, 64), &regions);
        let again = redact(gradient(64, 64), &regions);
        assert_eq!(first.rgb(), again.rgb());
        let px = |img: &RedactedImage, x: usize, y: usize| img.rgb()[(y * 64 + x) * 3..(y * 64 + x) * 3 + 3].to_vec();
        let (left, right) = (px(&first, 10, 10), px(&first, 45, 45));
        // a find touching the second patch only
        let mut more = regions.to_vec();
        more.push(region(0.85, 0.5, 0.95, 0.7));
        let covered = cover(first, &more, regions.len());
        assert_eq!(covered.covered(), 3);
        assert_eq!(
            px(&covered, 10, 10),
            left,
            "a patch the find does not touch keeps its colour"
        );
        assert_eq!(
            px(&covered, 45, 45),
            px(&covered, 58, 36),
            "the find and the patch it touches share one colour"
        );
        assert_ne!(px(&covered, 45, 45), right, "and that colour is drawn again over both");
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
    fn marks_add_solid_pixels_and_leave_covered_blocks_covered() {
        let out = redact(gradient(64, 64), &[region(0.0, 0.0, 0.5, 0.5)]);
        let before = out.rgb().to_vec();
        let red = [255, 0, 0];
        let marked = out.annotate(&[
            Mark::Rect {
                bbox: region(0.5, 0.5, 0.9, 0.9),
                colour: red,
            },
            Mark::Line {
                from: [-3.0, f32::NAN],
                to: [9.0, 9.0],
                colour: red,
            },
            Mark::Text {
                at: [0.6, 0.1],
                text: "12#x".into(),
                colour: red,
            },
        ]);
        assert_eq!(marked.covered(), 1);
        let changed: Vec<usize> = (0..64 * 64)
            .filter(|i| marked.rgb()[i * 3..i * 3 + 3] != before[i * 3..i * 3 + 3])
            .collect();
        assert!(!changed.is_empty());
        for i in changed {
            let px = &marked.rgb()[i * 3..i * 3 + 3];
            assert!(px == red || px == [0, 0, 0], "only mark colours are drawn: {px:?}");
        }
        // The box's top-left corner, and nothing in the covered quarter.
        assert_eq!(&marked.rgb()[(32 * 64 + 32) * 3..(32 * 64 + 32) * 3 + 3], &red);
        assert_eq!(&marked.rgb()[..32 * 3], &before[..32 * 3]);
    }

    #[test]
    fn a_contact_sheet_tiles_redacted_pictures() {
        let tiles: Vec<RedactedImage> = (0..5)
            .map(|_| redact(gradient(64, 48), &[region(0.1, 0.1, 0.4, 0.4)]).thumbnail(32, 32))
            .collect();
        assert_eq!((tiles[0].width(), tiles[0].height()), (32, 24));
        let sheet = contact_sheet(&tiles, 3).unwrap();
        assert_eq!((sheet.width(), sheet.height()), (3 * 36 + 4, 2 * 28 + 4));
        assert_eq!(sheet.covered(), 5);
        assert_eq!(
            &sheet.rgb()[(4 * sheet.width() + 4) * 3..][..32 * 3],
            &tiles[0].rgb()[..32 * 3]
        );
        assert!(contact_sheet(&[], 3).is_none());
        let same = redact(gradient(8, 8), &[]).thumbnail(100, 100);
        assert_eq!((same.width(), same.height()), (8, 8), "never upscaled");
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
