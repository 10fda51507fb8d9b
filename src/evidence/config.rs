//! `[evidence]` (box-wide: how long clips are kept) and `[cameras.evidence]`
//! (a camera's clip size and frame rate), checked into [`EvidencePlan`] (its
//! keys, each checked: the retention a `Duration`) and
//! [`CameraEvidencePlan`]. Which incidents get a clip, and how many seconds
//! around their start, is each rule's `evidence` key.

use crate::config::table::Checked;
use crate::config::{Ctx, Days, Spanned};

/// Default clip width and height, pixels: enough to see what happened,
/// small enough to encode on a small box and to send over a slow link.
pub const DEFAULT_WIDTH: u32 = 640;
pub const DEFAULT_HEIGHT: u32 = 360;
/// Default clip frame rate.
pub const DEFAULT_FPS: u32 = 5;
/// Default days a clip is kept on the box.
pub const DEFAULT_RETENTION_DAYS: u32 = 7;

crate::config::table! {
    /// `[evidence]`: the box's evidence clips.
    pub struct EvidenceConfig in "evidence." => EvidencePlan {
        /// Days a clip (and its manifest) is kept on the box before it is
        /// deleted (logged), e.g. 7 (the default). From 1 to 365.
        pub retention_days: Spanned<Days> = DEFAULT_RETENTION_DAYS, range 1..=365;
    }
}

crate::config::table! {
    /// `[cameras.evidence]`: the camera's evidence clips.
    pub struct CameraEvidenceConfig in "cameras.evidence." => #[derive(Copy)] CameraEvidenceKeys {
        /// Clip width in pixels, e.g. 640 (the default); even, from 160 to 1920.
        /// The picture is letterboxed into width × height.
        #[apart]
        pub width: Option<Spanned<u32>>;
        /// Clip height in pixels, e.g. 360 (the default); even, from 90 to 1080.
        #[apart]
        pub height: Option<Spanned<u32>>;
        /// Clip frames a second, e.g. 5 (the default); from 1 to 15, and at
        /// most the camera's detect fps: every frame of a clip is a frame the
        /// detector analysed, covered over its own detections.
        #[apart]
        pub fps: Option<Spanned<u32>>;
    }
}

/// A camera's checked clip settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CameraEvidencePlan {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Every key but `width`, `height` and `fps` (each worked out below), checked.
    pub keys: CameraEvidenceKeys,
}

impl Default for CameraEvidencePlan {
    fn default() -> Self {
        Self {
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            fps: DEFAULT_FPS,
            keys: CameraEvidenceKeys::default(),
        }
    }
}

/// Checks a camera's clip settings against its detect rate `detect_fps`;
/// the default frame rate follows a slower detect rate.
pub fn check_camera(
    camera: &str,
    config: &CameraEvidenceConfig,
    detect_fps: Option<u32>,
    ctx: &mut Ctx<'_>,
) -> Option<CameraEvidencePlan> {
    let keys = config.checked(ctx);
    let mut ok = true;
    let mut even = |value: &Option<Spanned<u32>>, default: u32, range: std::ops::RangeInclusive<u32>, key: &str| {
        let Some(v) = value else { return default };
        let checked = ctx.in_range(v, range, key);
        match checked {
            Some(n) if n % 2 == 0 => n,
            Some(n) => {
                ctx.error(v.span(), format!("`{key}` is {n}; use an even number, e.g. {}", n + 1));
                ok = false;
                default
            }
            None => {
                ok = false;
                default
            }
        }
    };
    let width = even(&config.width, DEFAULT_WIDTH, 160..=1920, "cameras.evidence.width");
    let height = even(&config.height, DEFAULT_HEIGHT, 90..=1080, "cameras.evidence.height");
    let fps = match &config.fps {
        None => DEFAULT_FPS.min(detect_fps.unwrap_or(DEFAULT_FPS)).max(1),
        Some(v) => match ctx.in_range(v, 1..=15, "cameras.evidence.fps") {
            Some(n) if detect_fps.is_some_and(|d| n > d) => {
                ctx.error(
                    v.span(),
                    format!(
                        "camera `{camera}`: `cameras.evidence.fps` is {n}, above its detect fps {}; every clip frame \
                         must be a frame the detector analysed: lower it to {0} or raise [cameras.detect] fps",
                        detect_fps.unwrap_or_default()
                    ),
                );
                ok = false;
                DEFAULT_FPS
            }
            Some(n) => n,
            None => {
                ok = false;
                DEFAULT_FPS
            }
        },
    };
    let keys = keys?;
    ok.then_some(CameraEvidencePlan {
        width,
        height,
        fps,
        keys,
    })
}
