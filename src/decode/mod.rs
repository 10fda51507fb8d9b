//! Decode: one GStreamer pipeline per camera that demuxes, decodes,
//! rate-limits and scales to the model input — all inside GStreamer — and
//! hands the newest frame to inference through a [`FrameSlot`].
//!
//! Decode never waits for inference on a live camera: a frame that was not
//! picked up in time is replaced by the next one and counted as dropped.

pub mod decoder;
pub mod gray;
pub mod mask;
pub mod pipeline;
pub mod probe;
pub mod slot;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use toml::Spanned;

pub use decoder::DecoderChoice;
pub use gray::GrayBranch;
pub use pipeline::{CameraState, DecodeError, Stream, StreamSpec, StreamStatus};
pub use slot::{Delivery, FrameSlot, SlotStats, Taken};

use crate::config::Ctx;
use crate::infer::{BBox, ModelPlan};

/// `[cameras.detect]`: the detect branch of a camera.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Name of a model under `[models]`, e.g. "coco".
    pub model: Spanned<String>,
    /// Frames per second sent to the detector, e.g. 5. GStreamer drops the rest.
    #[serde(default = "default_fps")]
    pub fps: Spanned<u32>,
}

fn default_fps() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}

/// `[cameras.decode]`: how the stream is decoded and kept alive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeConfig {
    /// "auto" (a hardware decoder when one is installed, else software),
    /// "software", or a GStreamer element name such as "vah264dec".
    #[serde(default)]
    pub decoder: Option<Spanned<String>>,
    /// Seconds without a frame before a live camera is rebuilt, e.g. 10.
    #[serde(default)]
    pub stall_secs: Option<Spanned<u64>>,
    /// First wait before rebuilding a failed camera, e.g. 1.
    #[serde(default)]
    pub retry_initial_secs: Option<Spanned<u64>>,
    /// Longest wait between rebuilds, e.g. 30.
    #[serde(default)]
    pub retry_max_secs: Option<Spanned<u64>>,
    /// Snapshots are the source size, capped at this width, e.g. 1280.
    #[serde(default)]
    pub snapshot_max_width: Option<Spanned<u32>>,
    /// JPEG quality of snapshots, e.g. 80.
    #[serde(default)]
    pub snapshot_quality: Option<Spanned<u8>>,
    /// Largest snapshot in kB, e.g. 200; quality, then size, are lowered to fit.
    #[serde(default)]
    pub snapshot_max_kb: Option<Spanned<u32>>,
}

/// A checked decode section.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodePlan {
    pub decoder: DecoderChoice,
    pub stall: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub snapshot_max_width: u32,
    pub snapshot_quality: u8,
    pub snapshot_max_bytes: usize,
}

impl Default for DecodePlan {
    fn default() -> Self {
        Self {
            decoder: DecoderChoice::Auto,
            stall: Duration::from_secs(10),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            snapshot_max_width: 1280,
            snapshot_quality: 80,
            snapshot_max_bytes: 200 * 1024,
        }
    }
}

/// Checks `[cameras.decode]`.
pub fn check_decode(camera: &str, config: &DecodeConfig, ctx: &mut Ctx<'_>) -> Option<DecodePlan> {
    let defaults = DecodePlan::default();
    let mut ok = true;
    let mut secs = |v: &Option<Spanned<u64>>, default: Duration, key: &str, ctx: &mut Ctx<'_>| match v {
        Some(v) => ctx
            .in_range(v, 1..=3600, key)
            .map(Duration::from_secs)
            .unwrap_or_else(|| {
                ok = false;
                default
            }),
        None => default,
    };
    let stall = secs(&config.stall_secs, defaults.stall, "decode.stall_secs", ctx);
    let retry_initial = secs(
        &config.retry_initial_secs,
        defaults.retry_initial,
        "decode.retry_initial_secs",
        ctx,
    );
    let retry_max = secs(&config.retry_max_secs, defaults.retry_max, "decode.retry_max_secs", ctx);
    let snapshot_max_width = match &config.snapshot_max_width {
        Some(w) => ctx.in_range(w, 64..=7680, "decode.snapshot_max_width"),
        None => Some(defaults.snapshot_max_width),
    };
    let snapshot_quality = match &config.snapshot_quality {
        Some(q) => ctx.in_range(q, 10..=100, "decode.snapshot_quality"),
        None => Some(defaults.snapshot_quality),
    };
    let snapshot_max_bytes = match &config.snapshot_max_kb {
        Some(kb) => ctx
            .in_range(kb, 16..=1024, "decode.snapshot_max_kb")
            .map(|kb| kb as usize * 1024),
        None => Some(defaults.snapshot_max_bytes),
    };
    let decoder = match &config.decoder {
        Some(name) => {
            let choice = DecoderChoice::from(name.get_ref().clone());
            if let DecoderChoice::Element(element) = &choice
                && (gstreamer::init().is_err() || !decoder::installed(element))
            {
                ctx.error(
                    name.span(),
                    format!("camera `{camera}`: decoder `{element}` is not installed; use \"auto\", \"software\" or an installed decoder element"),
                );
                ok = false;
            }
            choice
        }
        None => DecoderChoice::Auto,
    };
    if retry_max < retry_initial {
        ctx.error(
            0..0,
            format!("camera `{camera}`: decode.retry_max_secs is below retry_initial_secs"),
        );
        ok = false;
    }
    let plan = DecodePlan {
        decoder,
        stall,
        retry_initial,
        retry_max,
        snapshot_max_width: snapshot_max_width?,
        snapshot_quality: snapshot_quality?,
        snapshot_max_bytes: snapshot_max_bytes?,
    };
    ok.then_some(plan)
}

/// A checked detect branch.
#[derive(Debug, Clone)]
pub struct DetectPlan {
    pub model: Arc<ModelPlan>,
    pub fps: u32,
}

/// Checks `[cameras.detect]` against the models that exist.
pub fn check_detect(
    camera: &str,
    config: &DetectConfig,
    models: &std::collections::BTreeMap<String, Arc<ModelPlan>>,
    known_models: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<DetectPlan> {
    let fps = ctx.in_range(&config.fps, 1..=60, "detect.fps");
    let name = config.model.get_ref();
    let model = match models.get(name) {
        Some(model) => Some(model.clone()),
        None if known_models.contains(name) => None, // the model itself is broken; reported there
        None => {
            let known = if known_models.is_empty() {
                "none defined".to_string()
            } else {
                known_models.join(", ")
            };
            ctx.error(
                config.model.span(),
                format!(
                    "camera `{camera}` uses model `{name}`, which is not defined under [models]; known models: {known}"
                ),
            );
            None
        }
    };
    Some(DetectPlan {
        model: model?,
        fps: fps?,
    })
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

    /// Maps a box from model-input to source-normalised coordinates.
    pub fn to_source(&self, b: &BBox) -> BBox {
        BBox {
            x1: (b.x1 - self.offset_x) / self.span_x,
            y1: (b.y1 - self.offset_y) / self.span_y,
            x2: (b.x2 - self.offset_x) / self.span_x,
            y2: (b.y2 - self.offset_y) / self.span_y,
        }
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
