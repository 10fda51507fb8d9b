//! The face search: where the face model looks in a picture before it is
//! redacted. One pass sees the whole picture letterboxed to the model's
//! input, for faces up to the whole frame; when that shrinks the picture,
//! tiles of the model's input size then cover it at its own resolution, so a
//! face about 12 pixels high is still 12 pixels high to the model; when it
//! enlarges a small picture, the picture is searched as it is as well. Tiles
//! overlap, so a face that one tile's edge cuts is whole in the next. A very
//! large picture is tiled at a reduced scale to bound the cost
//! ([`MAX_TILES`]). The search returns every face it finds, in the picture's
//! normalised coordinates; it never returns pixels.

use gstreamer as gst;

use crate::decode::convert;
use crate::infer::InferClient;
use crate::vocab::{BBox, Detection, Frame, FrameLayout, Geometry};

/// Pixels by which neighbouring tiles overlap: a face up to this size that a
/// tile edge cuts is whole in the neighbouring tile, and a larger one is
/// found by the whole-picture pass.
const OVERLAP: usize = 48;
/// The most tiles one picture is searched in; beyond it the picture is tiled
/// at a reduced scale (1280×720 needs 6 at full scale).
pub const MAX_TILES: usize = 12;

/// How much a picture smaller than the model's input must be scaled up to
/// fill it before it is searched at its own size as well.
const AS_IT_IS_FROM: f32 = 1.25;

/// Faces in the picture `sample` (tightly packed RGB `pixels`, `width` ×
/// `height`), in its normalised coordinates.
pub fn find_faces(
    client: &mut InferClient,
    sample: &gst::Sample,
    input: (u32, u32),
    picture: (&[u8], usize, usize),
) -> Result<Vec<Detection>, String> {
    let mut faces = whole(client, sample, input)?;
    let (pixels, width, height) = picture;
    let (iw, ih) = (input.0 as usize, input.1 as usize);
    if width <= iw && height <= ih {
        // A small picture, scaled up to fill the input, is also searched as
        // it is: the model's answer depends on the scale, and a pattern
        // beside a patch that looks like nothing at one scale can look like
        // a face at the picture's own (a face check run there found one).
        let scale = (iw as f32 / width.max(1) as f32).min(ih as f32 / height.max(1) as f32);
        if scale >= AS_IT_IS_FROM {
            search_tiles(client, picture, (iw, ih), &[(0, 0)], &mut faces)?;
        }
        return Ok(faces);
    }
    let full = tile_grid(width, height, iw, ih);
    if full.len() <= MAX_TILES {
        search_tiles(client, (pixels, width, height), (iw, ih), &full, &mut faces)?;
        return Ok(faces);
    }
    // Too many tiles at full scale: tile a smaller copy, made by GStreamer.
    let scale = (MAX_TILES as f64 / full.len() as f64).sqrt();
    let reduced_width = ((width as f64 * scale) as u32).max(input.0);
    let smaller = convert::capped_rgb(sample, reduced_width).ok_or("cannot scale the picture for the face search")?;
    let (info, map) = convert::mapped(&smaller)?;
    let (w, h, stride) = (
        info.width() as usize,
        info.height() as usize,
        info.stride()[0].max(0) as usize,
    );
    let packed: Vec<u8> = (0..h)
        .flat_map(|y| &map.as_slice()[y * stride..y * stride + w * 3])
        .copied()
        .collect();
    let grid = tile_grid(w, h, iw, ih);
    search_tiles(client, (&packed, w, h), (iw, ih), &grid, &mut faces)?;
    Ok(faces)
}

/// The whole picture letterboxed to the model's input, as detection sees a
/// camera frame.
fn whole(
    client: &mut InferClient,
    sample: &gst::Sample,
    (width, height): (u32, u32),
) -> Result<Vec<Detection>, String> {
    let source = convert::info_of(sample)?;
    let scaled = convert::letterboxed_rgb(sample, width, height)
        .map_err(|e| format!("cannot scale the picture for the face model: {e}"))?;
    let info = convert::info_of(&scaled)?;
    let par = source.par();
    let frame = Frame {
        buffer: scaled.buffer_owned().ok_or("no buffer")?,
        layout: FrameLayout {
            width: info.width() as usize,
            height: info.height() as usize,
            stride: info.stride()[0].max(0) as usize,
        },
        geometry: Geometry::letterbox(
            source.width(),
            source.height(),
            (par.numer(), par.denom()),
            width,
            height,
        ),
        pts: std::time::Duration::ZERO,
        number: 0,
        arrived: std::time::Instant::now(),
    };
    client
        .detect(&frame)
        .map(<[Detection]>::to_vec)
        .map_err(|e| format!("face detection failed: {e}"))
}

/// Runs the model on each tile (left, top) of `picture` and appends what it
/// finds, mapped to the picture's normalised coordinates.
fn search_tiles(
    client: &mut InferClient,
    (pixels, width, height): (&[u8], usize, usize),
    (iw, ih): (usize, usize),
    tiles: &[(usize, usize)],
    out: &mut Vec<Detection>,
) -> Result<(), String> {
    let (cw, ch) = (iw.min(width), ih.min(height));
    // The tile's pixels, copied for each tile; the part beyond a picture
    // smaller than the input stays black.
    let mut tile = vec![0u8; iw * ih * 3];
    for &(left, top) in tiles {
        for y in 0..ch {
            let from = ((top + y) * width + left) * 3;
            tile[y * iw * 3..y * iw * 3 + cw * 3].copy_from_slice(&pixels[from..from + cw * 3]);
        }
        let frame = Frame {
            buffer: gst::Buffer::from_slice(tile.clone()),
            layout: FrameLayout {
                width: iw,
                height: ih,
                stride: iw * 3,
            },
            geometry: Geometry {
                offset_x: 0.0,
                offset_y: 0.0,
                span_x: cw as f32 / iw as f32,
                span_y: ch as f32 / ih as f32,
            },
            pts: std::time::Duration::ZERO,
            number: 0,
            arrived: std::time::Instant::now(),
        };
        let found = client
            .detect(&frame)
            .map_err(|e| format!("face detection failed: {e}"))?;
        let (fx, fy) = (cw as f32 / width as f32, ch as f32 / height as f32);
        let (ox, oy) = (left as f32 / width as f32, top as f32 / height as f32);
        out.extend(found.iter().map(|d| Detection {
            bbox: BBox {
                x1: ox + d.bbox.x1 * fx,
                y1: oy + d.bbox.y1 * fy,
                x2: ox + d.bbox.x2 * fx,
                y2: oy + d.bbox.y2 * fy,
            },
            ..*d
        }));
    }
    Ok(())
}

/// The top-left corners of tiles of `tw` × `th` that cover a `width` ×
/// `height` picture, neighbours overlapping by at least [`OVERLAP`].
pub fn tile_grid(width: usize, height: usize, tw: usize, th: usize) -> Vec<(usize, usize)> {
    let xs = starts(width, tw);
    let ys = starts(height, th);
    ys.iter().flat_map(|&y| xs.iter().map(move |&x| (x, y))).collect()
}

/// Evenly spread starts of tiles of `tile` along `length`.
fn starts(length: usize, tile: usize) -> Vec<usize> {
    if length <= tile || tile <= OVERLAP {
        return vec![0];
    }
    let n = (length - OVERLAP).div_ceil(tile - OVERLAP);
    (0..n).map(|i| i * (length - tile) / (n - 1)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_picture_and_overlap() {
        for (w, h) in [(1280, 720), (768, 576), (1920, 1080), (641, 385), (500, 1200)] {
            let grid = tile_grid(w, h, 640, 384);
            let (cw, ch) = (640.min(w), 384.min(h));
            // every pixel is inside a tile
            for y in (0..h).step_by(7) {
                for x in (0..w).step_by(7) {
                    assert!(
                        grid.iter().any(|&(l, t)| x >= l && x < l + cw && y >= t && y < t + ch),
                        "{w}x{h}: ({x}, {y}) in no tile"
                    );
                }
            }
            // tiles stay inside, and neighbours overlap by at least OVERLAP
            for &(l, t) in &grid {
                assert!(
                    l + cw <= w && t + ch <= h,
                    "{w}x{h}: tile at ({l}, {t}) leaves the picture"
                );
            }
            let xs = starts(w, 640);
            assert!(xs.windows(2).all(|p| p[0] + 640 >= p[1] + OVERLAP), "{w}: {xs:?}");
        }
        assert_eq!(tile_grid(1280, 720, 640, 384).len(), 6);
        assert_eq!(tile_grid(640, 384, 640, 384), vec![(0, 0)]);
    }
}
