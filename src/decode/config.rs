//! `[cameras.decode]`: how a camera's stream is decoded, kept alive and
//! captured for snapshots, checked into a [`DecodePlan`].

use std::time::Duration;

use serde::Deserialize;

use super::decoder::{self, DecoderChoice};
use super::limit::MaxSize;
use crate::config::Ctx;
use crate::config::Spanned;

/// `[cameras.decode]`: how the stream is decoded and kept alive.
#[derive(Debug, Clone, Default, Deserialize, schemars::JsonSchema)]
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
    /// Widest picture a camera may send, e.g. 3840 (the default); a wider
    /// one fails the camera before its frames are copied. From 64 to 16384.
    #[serde(default)]
    pub max_width: Option<Spanned<u32>>,
    /// Tallest picture a camera may send, e.g. 2160 (the default). From 64 to 16384.
    #[serde(default)]
    pub max_height: Option<Spanned<u32>>,
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
    /// The largest picture a camera may send.
    pub max_size: MaxSize,
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
            max_size: MaxSize::default(),
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
    let mut side = |v: &Option<Spanned<u32>>, default: u32, key: &str| match v {
        Some(v) => ctx.in_range(v, 64..=16384, key),
        None => Some(default),
    };
    let max_width = side(&config.max_width, defaults.max_size.width, "decode.max_width");
    let max_height = side(&config.max_height, defaults.max_size.height, "decode.max_height");
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
        max_size: MaxSize {
            width: max_width?,
            height: max_height?,
        },
    };
    ok.then_some(plan)
}
