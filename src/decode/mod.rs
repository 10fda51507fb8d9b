//! Decode: one GStreamer pipeline per camera that demuxes, decodes,
//! rate-limits and scales to the model input — all inside GStreamer — and
//! hands the newest frame to inference through a [`FrameSlot`].
//!
//! Decode never waits for inference on a live camera: a frame that was not
//! picked up in time is replaced by the next one and counted as dropped.

mod clock;
pub mod config;
pub mod convert;
pub mod decoder;
pub mod gray;
pub mod held;
pub mod limit;
pub mod mask;
pub mod pipeline;
pub mod probe;
pub mod slot;
pub mod spec;
pub mod status;
pub mod throttle;

pub use config::{DecodeConfig, DecodePlan, check_decode};
pub use decoder::DecoderChoice;
pub use gray::GrayBranch;
pub use limit::MaxSize;
pub use pipeline::Stream;
pub use slot::{Delivery, FrameSlot, SlotStats, Taken};
pub use spec::{DecodeError, StreamSpec};
pub use status::{CameraState, StreamStatus};
