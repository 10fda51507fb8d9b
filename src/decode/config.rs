//! `[cameras.decode]`: how a camera's stream is decoded, kept alive and
//! captured for snapshots, checked into a [`DecodePlan`].

use std::time::Duration;

use super::decoder::{self, DecoderChoice};
use super::limit::MaxSize;
use crate::config::Ctx;
use crate::config::Spanned;
use crate::config::table::Checked;

crate::config::table! {
    /// `[cameras.decode]`: how the stream is decoded and kept alive.
    pub struct DecodeConfig in "decode." => DecodeKeys {
        /// "auto" (a hardware decoder when one is installed, else software),
        /// "software", or a GStreamer element name such as "vah264dec".
        #[apart]
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

/// A checked decode section: the decoder chosen, the keys (`keys`) and the
/// values worked out from them.
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
    /// Every key but `decoder`, checked; those above filled in with their
    /// defaults, so a key written at its default makes the same plan (and
    /// no restart on reload).
    pub keys: DecodeKeys,
}

impl DecodePlan {
    /// The plan of `keys`, each key not written at its default.
    fn of(decoder: DecoderChoice, mut keys: DecodeKeys) -> Self {
        let size = MaxSize::default();
        let stall = *keys.stall_secs.get_or_insert(10);
        let retry_initial = *keys.retry_initial_secs.get_or_insert(1);
        let retry_max = *keys.retry_max_secs.get_or_insert(30);
        let snapshot_max_width = *keys.snapshot_max_width.get_or_insert(1280);
        let snapshot_quality = *keys.snapshot_quality.get_or_insert(80);
        let snapshot_max_kb = *keys.snapshot_max_kb.get_or_insert(200);
        let width = *keys.max_width.get_or_insert(size.width);
        let height = *keys.max_height.get_or_insert(size.height);
        Self {
            decoder,
            stall: Duration::from_secs(stall),
            retry_initial: Duration::from_secs(retry_initial),
            retry_max: Duration::from_secs(retry_max),
            snapshot_max_width,
            snapshot_quality,
            snapshot_max_bytes: snapshot_max_kb as usize * 1024,
            max_size: MaxSize { width, height },
            keys,
        }
    }
}

impl Default for DecodePlan {
    fn default() -> Self {
        Self::of(DecoderChoice::Auto, DecodeKeys::default())
    }
}

/// Checks `[cameras.decode]`.
pub fn check_decode(camera: &str, config: &DecodeConfig, ctx: &mut Ctx<'_>) -> Option<DecodePlan> {
    let keys = config.checked(ctx);
    let mut ok = true;
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
    // A retry key out of range (reported above) counts at its default here.
    let defaults = DecodePlan::default();
    let retry_initial = ctx.quiet(|ctx| config.retry_initial_secs(ctx));
    let retry_max = ctx.quiet(|ctx| config.retry_max_secs(ctx));
    if retry_max.flatten().map_or(defaults.retry_max, Duration::from_secs)
        < retry_initial
            .flatten()
            .map_or(defaults.retry_initial, Duration::from_secs)
    {
        ctx.error(
            0..0,
            format!("camera `{camera}`: decode.retry_max_secs is below retry_initial_secs"),
        );
        ok = false;
    }
    let plan = DecodePlan::of(decoder, keys?);
    ok.then_some(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_written_at_its_default_makes_the_same_plan() {
        let written = DecodeKeys {
            stall_secs: Some(10),
            snapshot_max_kb: Some(200),
            max_width: Some(MaxSize::default().width),
            ..DecodeKeys::default()
        };
        assert_eq!(DecodePlan::of(DecoderChoice::Auto, written), DecodePlan::default());
        let other = DecodeKeys {
            stall_secs: Some(11),
            ..DecodeKeys::default()
        };
        assert_ne!(DecodePlan::of(DecoderChoice::Auto, other), DecodePlan::default());
    }
}
