//! What one camera's pipeline is asked to do (the settings, apart from the
//! state of a run) and how a run can fail.

use std::sync::Arc;
use std::time::Duration;

use super::decoder::DecoderChoice;
use super::gray::GrayBranch;
use super::limit::MaxSize;
use super::mask;
use crate::source::SourcePlan;
use crate::vocab::Resize;

/// What one camera's pipeline is asked to do.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub camera: Arc<str>,
    pub source: SourcePlan,
    /// Model input size the detect branch scales to.
    pub width: u32,
    pub height: u32,
    pub resize: Resize,
    /// Frames per second delivered to the detector.
    pub fps: u32,
    pub decoder: DecoderChoice,
    /// A live camera with no frame for this long is rebuilt.
    pub stall: Duration,
    /// First wait before rebuilding a failed live camera; doubles up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// A camera sending a larger picture fails before its frames are copied.
    pub max_size: MaxSize,
    /// Privacy masks, blacked out right after decoding (normalised polygons).
    pub masks: Vec<mask::Polygon>,
    /// The grayscale motion branch, for cameras whose rules watch pixels.
    pub gray: Option<GrayBranch>,
}

impl StreamSpec {
    /// A spec with the default decode settings (auto decoder, 10 s stall,
    /// 1–30 s backoff, pictures up to 3840×2160).
    pub fn new(camera: &str, source: SourcePlan, width: u32, height: u32, resize: Resize, fps: u32) -> Self {
        Self {
            camera: Arc::from(camera),
            source,
            width,
            height,
            resize,
            fps,
            decoder: DecoderChoice::Auto,
            stall: Duration::from_secs(10),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            max_size: MaxSize::default(),
            masks: Vec::new(),
            gray: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("camera `{camera}`: cannot build the pipeline: {reason}")]
    Build { camera: Arc<str>, reason: String },
    #[error("camera `{camera}` ({source_uri}): {message} (from {element}){}", debug.as_deref().map(|d| format!("; {d}")).unwrap_or_default())]
    Stream {
        camera: Arc<str>,
        source_uri: String,
        element: String,
        message: String,
        debug: Option<String>,
    },
    #[error("camera `{camera}` ({source_uri}): no frame for {secs} s; the stream stalled")]
    Stall {
        camera: Arc<str>,
        source_uri: String,
        secs: u64,
    },
    #[error(
        "camera `{camera}` sends {}x{}, above the maximum {max} ([cameras.decode] max_width/max_height)",
        size.0,
        size.1
    )]
    TooLarge {
        camera: Arc<str>,
        size: (u32, u32),
        max: MaxSize,
    },
    #[error("camera `{camera}` ({source_uri}): the stream ended")]
    Ended { camera: Arc<str>, source_uri: String },
}
