//! `[cameras.decode]`: how a camera's stream is decoded, kept alive and
//! captured for snapshots, checked into a [`DecodePlan`].

use std::time::Duration;

use super::decoder::{self, DecoderChoice};
use super::limit::MaxSize;
use crate::config::Ctx;
use crate::config::Spanned;

crate::config::table! {
    /// `[cameras.decode]`: how the stream is decoded and kept alive.
    pub struct DecodeConfig in "decode." {
        /// "auto" (a hardware decoder when one is installed, else software),
        /// "software", or a GStreamer element name such as "vah264dec".
        pub decoder: Option<Spanned<String>>;
        /// Seconds without a frame before a live camera is rebuilt, e.g. 10.
        pub stall_secs: Option<Spanned<u64>>, range 1..=3600;
        /// First wait before rebuilding a failed camera, e.g. 1.
        pub retry_initial_secs: Option<Spanned<u64>>, range 1..=3600;
        /// Longest wait between rebuilds, e.g. 30.
        pub retry_max_secs: Option<Spanned<u64>>, range 1..=3600;
        /// Snapshots are the source size, capped at this width, e.g. 1280.
        pub snapshot_max_width: Option<Spanned<u32>>, range 64..=7680;
        /// JPEG quality of snapshots, e.g. 80.
        pub snapshot_quality: Option<Spanned<u8>>, range 10..=100;
        /// Largest snapshot in kB, e.g. 200; quality, then size, are lowered to fit.
        pub snapshot_max_kb: Option<Spanned<u32>>, range 16..=1024;
        /// Widest picture a camera may send, e.g. 3840 (the default); a wider
        /// one fails the camera before its frames are copied. From 64 to 16384.
        pub max_width: Option<Spanned<u32>>, range 64..=16384;
        /// Tallest picture a camera may send, e.g. 2160 (the default). From 64 to 16384.
        pub max_height: Option<Spanned<u32>>, range 64..=16384;
    }
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
    // A key out of range is reported; the check goes on with its default.
    let mut secs = |checked: Option<Option<u64>>, default: Duration| match checked {
        Some(secs) => secs.map_or(default, Duration::from_secs),
        None => {
            ok = false;
            default
        }
    };
    let stall = secs(config.stall_secs(ctx), defaults.stall);
    let retry_initial = secs(config.retry_initial_secs(ctx), defaults.retry_initial);
    let retry_max = secs(config.retry_max_secs(ctx), defaults.retry_max);
    let snapshot_max_width = config
        .snapshot_max_width(ctx)
        .map(|w| w.unwrap_or(defaults.snapshot_max_width));
    let snapshot_quality = config
        .snapshot_quality(ctx)
        .map(|q| q.unwrap_or(defaults.snapshot_quality));
    let snapshot_max_bytes = config
        .snapshot_max_kb(ctx)
        .map(|kb| kb.map_or(defaults.snapshot_max_bytes, |kb| kb as usize * 1024));
    let max_width = config.max_width(ctx).map(|w| w.unwrap_or(defaults.max_size.width));
    let max_height = config.max_height(ctx).map(|h| h.unwrap_or(defaults.max_size.height));
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
