//! Frames: one decoded, scaled picture of a camera, where the model input
//! sits inside it, and how it was fitted. Decode makes them; inference,
//! motion analysis and snapshots read them.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::bbox::BBox;

/// How a camera frame is fitted to the model input, inside GStreamer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resize {
    /// Scale each axis to the input size (what TF SSD models were trained with).
    Stretch,
    /// Keep the aspect ratio and pad with black (what YOLO models expect).
    Letterbox,
}

/// Where the model input sits inside the source frame, so boxes found on the
/// scaled image map back to source coordinates. Carried with every frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Geometry {
    /// Left and top of the picture inside the model input, normalised.
    pub offset_x: f32,
    pub offset_y: f32,
    /// Width and height of the picture inside the model input, normalised.
    pub span_x: f32,
    pub span_y: f32,
}

impl Geometry {
    /// The source fills the whole input (stretched).
    pub const STRETCH: Geometry = Geometry {
        offset_x: 0.0,
        offset_y: 0.0,
        span_x: 1.0,
        span_y: 1.0,
    };

    /// The borders GStreamer's videoscale adds to keep the display aspect
    /// ratio of a `src_w`×`src_h` source (pixel aspect `par`) in `dst_w`×`dst_h`.
    pub fn letterbox(src_w: u32, src_h: u32, par: (i32, i32), dst_w: u32, dst_h: u32) -> Geometry {
        if src_w == 0 || src_h == 0 || dst_w == 0 || dst_h == 0 || par.0 <= 0 || par.1 <= 0 {
            return Self::STRETCH;
        }
        let dar = (src_w as f64 * par.0 as f64) / (src_h as f64 * par.1 as f64);
        let (content_w, content_h) = if dar > dst_w as f64 / dst_h as f64 {
            (dst_w, ((dst_w as f64 / dar).round() as u32).clamp(1, dst_h))
        } else {
            (((dst_h as f64 * dar).round() as u32).clamp(1, dst_w), dst_h)
        };
        let pad_x = (dst_w - content_w) / 2;
        let pad_y = (dst_h - content_h) / 2;
        Geometry {
            offset_x: pad_x as f32 / dst_w as f32,
            offset_y: pad_y as f32 / dst_h as f32,
            span_x: content_w as f32 / dst_w as f32,
            span_y: content_h as f32 / dst_h as f32,
        }
    }

    /// Maps a box from source-normalised to model-input coordinates (the
    /// inverse of [`Self::to_source`]).
    pub fn to_input(&self, b: &BBox) -> BBox {
        BBox::new(
            self.offset_x + b.x1 * self.span_x,
            self.offset_y + b.y1 * self.span_y,
            self.offset_x + b.x2 * self.span_x,
            self.offset_y + b.y2 * self.span_y,
        )
    }

    /// Maps a box from model-input to source-normalised coordinates.
    pub fn to_source(&self, b: &BBox) -> BBox {
        BBox::new(
            (b.x1 - self.offset_x) / self.span_x,
            (b.y1 - self.offset_y) / self.span_y,
            (b.x2 - self.offset_x) / self.span_x,
            (b.y2 - self.offset_y) / self.span_y,
        )
    }
}

/// Size and row stride of the frames a stream delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    pub width: usize,
    pub height: usize,
    pub stride: usize,
}

/// One decoded, scaled frame. The pixels stay in GStreamer's pooled buffer.
#[derive(Debug, Clone)]
pub struct Frame {
    pub buffer: gstreamer::Buffer,
    pub layout: FrameLayout,
    pub geometry: Geometry,
    /// Stream time: continuous for the camera's life, across file loops.
    pub pts: Duration,
    /// Frame number since the stream started.
    pub number: u64,
    /// When the decoded, scaled frame reached watchpost (the appsink), on the
    /// monotonic clock: the start of the frame's age and of alert latency.
    pub arrived: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_of_a_wide_source_pads_top_and_bottom() {
        let g = Geometry::letterbox(1280, 720, (1, 1), 640, 640);
        assert_eq!(g.offset_x, 0.0);
        assert_eq!(g.span_x, 1.0);
        assert!((g.span_y - 360.0 / 640.0).abs() < 1e-6);
        assert!((g.offset_y - 140.0 / 640.0).abs() < 1e-6);
        // the bottom edge of the picture maps to the bottom of the source
        let b = g.to_source(&BBox {
            x1: 0.0,
            y1: g.offset_y,
            x2: 1.0,
            y2: g.offset_y + g.span_y,
        });
        assert!((b.y1).abs() < 1e-6 && (b.y2 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn stretch_is_the_identity() {
        let b = BBox {
            x1: 0.1,
            y1: 0.2,
            x2: 0.3,
            y2: 0.4,
        };
        assert_eq!(Geometry::STRETCH.to_source(&b), b);
    }

    #[test]
    fn degenerate_sizes_fall_back_to_stretch() {
        assert_eq!(Geometry::letterbox(0, 10, (1, 1), 300, 300), Geometry::STRETCH);
        assert_eq!(Geometry::letterbox(10, 10, (0, 1), 300, 300), Geometry::STRETCH);
    }
}
