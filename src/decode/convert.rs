//! Conversions of a decoded picture into packed RGB of another size, done
//! by GStreamer (`videoconvert`/`videoscale` through `convert_sample`), never
//! by a loop in Rust. Snapshots, the face search and replay's pictures all
//! come through here.

use gstreamer as gst;
use gstreamer_video as gst_video;

/// The layout (format, size, stride) of a decoded picture.
pub fn info_of(sample: &gst::Sample) -> Result<gst_video::VideoInfo, String> {
    gst_video::VideoInfo::from_caps(sample.caps().ok_or("no caps")?).map_err(|e| e.to_string())
}

/// A decoded picture's layout and its bytes, mapped for reading.
pub fn mapped(
    sample: &gst::Sample,
) -> Result<(gst_video::VideoInfo, gst::BufferMap<'_, gst::buffer::Readable>), String> {
    let info = info_of(sample)?;
    let map = sample
        .buffer()
        .ok_or("no buffer")?
        .map_readable()
        .map_err(|e| e.to_string())?;
    Ok((info, map))
}

/// Longest one conversion may take.
const TIMEOUT_SECS: u64 = 5;

/// `sample` as RGB at exactly `width`×`height` with square pixels: a
/// picture of another shape is letterboxed (padded with black), as a
/// model that wants its input undistorted expects.
pub fn letterboxed_rgb(sample: &gst::Sample, width: u32, height: u32) -> Result<gst::Sample, String> {
    let caps = rgb_caps(width, height)
        .pixel_aspect_ratio(gst::Fraction::new(1, 1))
        .build();
    convert(sample, &caps)
}

/// `sample` as RGB no wider than `max_width`, keeping its aspect ratio and
/// never upscaled; the sample itself when it already is such a picture.
pub fn capped_rgb(sample: &gst::Sample, max_width: u32) -> Option<gst::Sample> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    if info.format() == gst_video::VideoFormat::Rgb && info.width() <= max_width {
        return Some(sample.clone());
    }
    let (w, h) = snapshot_size(info.width(), info.height(), max_width);
    convert(sample, &rgb_caps(w, h).build()).ok()
}

fn rgb_caps(width: u32, height: u32) -> gst_video::VideoCapsBuilder<gst::caps::NoFeature> {
    gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::Rgb)
        .width(width as i32)
        .height(height as i32)
}

fn convert(sample: &gst::Sample, caps: &gst::Caps) -> Result<gst::Sample, String> {
    gst_video::convert_sample(sample, caps, Some(gst::ClockTime::from_seconds(TIMEOUT_SECS)))
        .map_err(|e| format!("cannot convert the picture to RGB: {e}"))
}

/// The source size, scaled down (never up) to `max_width`, even dimensions.
pub fn snapshot_size(width: u32, height: u32, max_width: u32) -> (u32, u32) {
    if width <= max_width || width == 0 {
        return (width, height);
    }
    let h = (height as u64 * max_width as u64 / width as u64) as u32;
    (max_width & !1, (h & !1).max(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_capped_not_upscaled() {
        assert_eq!(snapshot_size(1920, 1080, 1280), (1280, 720));
        assert_eq!(snapshot_size(640, 360, 1280), (640, 360));
        assert_eq!(snapshot_size(768, 576, 500), (500, 374));
    }
}
