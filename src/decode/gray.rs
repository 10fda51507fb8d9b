//! The motion branch of a camera's pipeline: a grayscale copy of the frames
//! at the rate the pixel-watching rule kinds ask for (`thrown_object`, up to
//! the camera's full rate), for cameras that have such a rule and only them.
//!
//! ```text
//! tee ─▶ queue (leaky when live) ─▶ videorate (drop-only, max-rate = motion fps)
//!     ─▶ videoscale ─▶ videoconvert ─▶ appsink (GRAY8, `width` wide, the source's aspect ratio)
//! ```
//!
//! It sits after the privacy masks like every branch, so a masked area is
//! black here too and never analysed. Rate control, scaling and the
//! conversion to one byte a pixel (for I420 and NV12, a copy of the Y plane)
//! all happen inside GStreamer; the frames reach the camera's motion thread
//! through their own [`super::FrameSlot`], so motion analysis never waits
//! for inference and inference never waits for it.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

/// What the motion branch delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrayBranch {
    /// Frames per second, at most; GStreamer drops the rest.
    pub fps: u32,
    /// Width of the analysed frames; the height follows the source's shape.
    pub width: u32,
}

/// The branch's elements, queue first, appsink last; not yet in a pipeline.
pub fn elements(branch: GrayBranch, live: bool) -> Result<(Vec<gst::Element>, gst_app::AppSink), String> {
    let make = |factory: &str| {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|_| format!("GStreamer element `{factory}` is missing"))
    };
    let queue = make("queue")?;
    queue.set_property("max-size-buffers", 2u32);
    queue.set_property("max-size-bytes", 0u32);
    queue.set_property("max-size-time", 0u64);
    if live {
        queue.set_property_from_str("leaky", "downstream");
    }
    let rate = make("videorate")?;
    rate.set_property("drop-only", true);
    rate.set_property("max-rate", branch.fps.clamp(1, i32::MAX as u32) as i32);
    let scale = make("videoscale")?;
    let convert = make("videoconvert")?;
    let caps = gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::Gray8)
        .width(branch.width.clamp(16, 7680) as i32)
        .build();
    let sink = gst_app::AppSink::builder()
        .caps(&caps)
        .sync(false)
        .max_buffers(1)
        .drop(false)
        .enable_last_sample(false)
        .build();
    Ok((vec![queue, rate, scale, convert, sink.clone().into()], sink))
}
