//! Privacy masks: polygons of a camera's picture blacked out right after
//! decoding, at source resolution, before the frame is split for detection
//! and snapshots — so motion detection, inference and every snapshot only
//! ever see black there, and those pixels never leave the box.
//!
//! The decoded frame is converted to I420 (a no-op for the usual decoders)
//! and a pad probe writes Y = 16, U = V = 128 (black) over the masked spans.
//! The spans are rasterised once per frame size, not per frame.

use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

/// One polygon, in coordinates normalised to the frame.
pub type Polygon = Vec<[f32; 2]>;

/// Rows of pixel spans `[x0, x1)` covered by the polygons at one size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spans {
    pub width: usize,
    pub height: usize,
    /// `rows[y]`: the spans of row y.
    pub rows: Vec<Vec<(usize, usize)>>,
}

impl Spans {
    /// Rasterises the polygons (even-odd, sampled at pixel centres).
    pub fn new(polygons: &[Polygon], width: usize, height: usize) -> Self {
        let mut rows = vec![Vec::new(); height];
        let mut crossings: Vec<f32> = Vec::new();
        for polygon in polygons.iter().filter(|p| p.len() >= 3) {
            for (y, row) in rows.iter_mut().enumerate() {
                let cy = (y as f32 + 0.5) / height as f32;
                crossings.clear();
                for (i, a) in polygon.iter().enumerate() {
                    let b = polygon[(i + 1) % polygon.len()];
                    if (a[1] <= cy) != (b[1] <= cy) {
                        let t = (cy - a[1]) / (b[1] - a[1]);
                        crossings.push(a[0] + t * (b[0] - a[0]));
                    }
                }
                crossings.sort_by(f32::total_cmp);
                for pair in crossings.chunks_exact(2) {
                    let x0 = ((pair[0] * width as f32 - 0.5).ceil().max(0.0)) as usize;
                    let x1 = ((pair[1] * width as f32 - 0.5).floor() + 1.0).clamp(0.0, width as f32) as usize;
                    if x1 > x0 {
                        row.push((x0, x1));
                    }
                }
            }
        }
        Self { width, height, rows }
    }

    /// Pixels covered.
    pub fn area(&self) -> usize {
        self.rows.iter().flatten().map(|(a, b)| b - a).sum()
    }
}

/// Blacks out the spans in an I420 frame; false when any span could not
/// be painted (a plane missing or shorter than the spans): the frame must
/// then not be passed on.
fn paint(frame: &mut gst_video::VideoFrameRef<&mut gst::BufferRef>, spans: &Spans) -> bool {
    let strides: Vec<usize> = frame.plane_stride().iter().map(|&s| s.max(0) as usize).collect();
    if strides.len() < 3 {
        return false;
    }
    let Ok(luma) = frame.plane_data_mut(0) else {
        return false;
    };
    for (y, row) in spans.rows.iter().enumerate() {
        for &(x0, x1) in row {
            match luma.get_mut(y * strides[0] + x0..y * strides[0] + x1) {
                Some(px) => px.fill(16),
                None => return false,
            }
        }
    }
    for plane in [1, 2] {
        let stride = strides[plane];
        let Ok(chroma) = frame.plane_data_mut(plane as u32) else {
            return false;
        };
        // A chroma sample covers a 2×2 block of luma: neutral wherever its
        // first luma row is masked.
        for (y, row) in spans.rows.iter().enumerate().step_by(2) {
            for &(x0, x1) in row {
                let (c0, c1) = (x0 / 2, x1.div_ceil(2));
                match chroma.get_mut((y / 2) * stride + c0..(y / 2) * stride + c1) {
                    Some(px) => px.fill(128),
                    None => return false,
                }
            }
        }
    }
    true
}

/// The elements that mask a camera's decoded frames: videoconvert and an
/// I420 capsfilter, with the painting probe on the capsfilter's output. The
/// probe fails closed: a frame it cannot paint (no caps, unreadable video
/// info, a buffer it cannot map) is dropped, never passed on, and
/// `unpainted` is told.
pub fn elements(
    polygons: &[Polygon],
    unpainted: impl Fn() + Send + Sync + 'static,
) -> Result<[gst::Element; 2], gst::glib::BoolError> {
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let caps = gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::I420)
        .build();
    let filter = gst::ElementFactory::make("capsfilter").property("caps", caps).build()?;
    let Some(pad) = filter.static_pad("src") else {
        return Err(gst::glib::bool_error!("capsfilter has no src pad"));
    };
    let polygons: Arc<[Polygon]> = polygons.into();
    let cache: Mutex<Option<(gst_video::VideoInfo, Spans)>> = Mutex::new(None);
    pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
        let video = pad
            .current_caps()
            .and_then(|caps| gst_video::VideoInfo::from_caps(&caps).ok());
        let Some(video) = video else {
            unpainted();
            return gst::PadProbeReturn::Drop;
        };
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.as_ref().is_none_or(|(v, _)| *v != video) {
            let spans = Spans::new(&polygons, video.width() as usize, video.height() as usize);
            *cache = Some((video, spans));
        }
        let painted = match (cache.as_ref(), info.buffer_mut()) {
            (Some((video, spans)), Some(buffer)) => {
                match gst_video::VideoFrameRef::from_buffer_ref_writable(buffer.make_mut(), video) {
                    Ok(mut frame) => paint(&mut frame, spans),
                    Err(_) => false,
                }
            }
            _ => false,
        };
        if painted {
            gst::PadProbeReturn::Ok
        } else {
            unpainted();
            gst::PadProbeReturn::Drop
        }
    });
    Ok([convert, filter])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rectangle_covers_exactly_its_pixels() {
        let rect = vec![[0.25, 0.5], [0.75, 0.5], [0.75, 1.0], [0.25, 1.0]];
        let spans = Spans::new(&[rect], 8, 4);
        assert_eq!(spans.rows[0], vec![]);
        assert_eq!(spans.rows[1], vec![]);
        assert_eq!(spans.rows[2], vec![(2, 6)]);
        assert_eq!(spans.rows[3], vec![(2, 6)]);
        assert_eq!(spans.area(), 8);
    }

    #[test]
    fn a_triangle_narrows_and_degenerate_polygons_cover_nothing() {
        let triangle = vec![[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        let spans = Spans::new(&[triangle], 10, 10);
        let widths: Vec<usize> = spans.rows.iter().map(|r| r.iter().map(|(a, b)| b - a).sum()).collect();
        assert!(widths.windows(2).all(|w| w[0] <= w[1]), "{widths:?}");
        assert!(widths[9] >= 9 && widths[0] <= 1);
        let line = vec![[0.1, 0.1], [0.9, 0.9]];
        let flat = vec![[0.1, 0.5], [0.9, 0.5], [0.5, 0.5]];
        assert_eq!(Spans::new(&[line, flat], 10, 10).area(), 0);
        assert_eq!(Spans::new(&[vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]], 0, 0).area(), 0);
    }
}
