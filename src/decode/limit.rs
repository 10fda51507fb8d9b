//! The largest picture a camera may send (`[cameras.decode] max_width` and
//! `max_height`), enforced before any frame is copied: a guard watches the
//! caps of the parsed stream (which most parsers stamp with the picture's
//! size, so an oversized stream is refused before it is decoded at all) and
//! of the decoded stream (for codecs whose parser does not say), and a
//! stream above the maximum is stopped there — its data dropped, one error
//! posted on the bus — before the privacy mask's videoconvert or any branch
//! sees a byte. The camera then fails like any other, and is rebuilt with
//! the usual backoff.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer::prelude::*;

/// The largest picture a camera may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxSize {
    pub width: u32,
    pub height: u32,
}

impl Default for MaxSize {
    /// 4K UHD: 3840×2160.
    fn default() -> Self {
        Self {
            width: 3840,
            height: 2160,
        }
    }
}

impl fmt::Display for MaxSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

impl MaxSize {
    /// The size the caps announce, when it is above this maximum.
    pub fn exceeded_by(&self, caps: &gst::CapsRef) -> Option<(u32, u32)> {
        let s = caps.structure(0)?;
        let (width, height) = (s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?);
        let (width, height) = (width.max(0) as u32, height.max(0) as u32);
        (width > self.width || height > self.height).then_some((width, height))
    }
}

/// The size a pipeline refused, kept until its bus error is read.
#[derive(Debug, Default)]
pub struct Refusal(Mutex<Option<(u32, u32)>>);

impl Refusal {
    /// The refused size, if any.
    pub fn size(&self) -> Option<(u32, u32)> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a refusal; true only for the first.
    fn refuse(&self, size: (u32, u32)) -> bool {
        let mut refused = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let first = refused.is_none();
        refused.get_or_insert(size);
        first
    }
}

/// Guards a pipeline: every stream parsebin exposes (before its decoder is
/// linked) and the sink pad of `first`, the element right after the
/// decoder. Call before [`super::decoder::attach_decoder`].
pub fn guard_pipeline(parse: &gst::Element, first: &gst::Element, max: MaxSize) -> Arc<Refusal> {
    let refusal = Arc::new(Refusal::default());
    if let Some(pad) = first.static_pad("sink") {
        guard(&pad, max, refusal.clone());
    }
    let parsed = refusal.clone();
    parse.connect_pad_added(move |_, pad| guard(pad, max, parsed.clone()));
    refusal
}

/// Refuses caps above `max` on `pad`, now and whenever they change: the
/// first refusal posts an error on the bus; from then on the pad's data is
/// refused (not negotiated), so the element upstream stops.
fn guard(pad: &gst::Pad, max: MaxSize, refusal: Arc<Refusal>) {
    let refuse = move |pad: &gst::Pad, caps: &gst::CapsRef| {
        let Some(size) = max.exceeded_by(caps) else {
            return false;
        };
        if refusal.refuse(size)
            && let Some(element) = pad.parent_element()
        {
            gst::element_error!(
                element,
                gst::StreamError::Format,
                ("the picture is {}x{}, above the maximum {max}", size.0, size.1)
            );
        }
        true
    };
    // Caps set before the guard came (parsebin's pads have theirs already).
    let refused = AtomicBool::new(pad.current_caps().is_some_and(|caps| refuse(pad, &caps)));
    let types = gst::PadProbeType::EVENT_DOWNSTREAM | gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST;
    pad.add_probe(types, move |pad, info| {
        if let Some(gst::EventView::Caps(caps)) = info.event().map(|e| e.view()) {
            refused.store(refuse(pad, caps.caps()), Ordering::Relaxed);
        }
        if refused.load(Ordering::Relaxed) {
            // Fail the push, so the decoder stops before it allocates a frame.
            info.flow_res = Err(gst::FlowError::NotNegotiated);
            gst::PadProbeReturn::Handled
        } else {
            gst::PadProbeReturn::Ok
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_size_above_either_side_is_refused() {
        gst::init().unwrap();
        let max = MaxSize::default();
        let caps = |w: i32, h: i32| {
            gst::Caps::builder("video/x-raw")
                .field("width", w)
                .field("height", h)
                .build()
        };
        assert_eq!(max.exceeded_by(&caps(3840, 2160)), None);
        assert_eq!(max.exceeded_by(&caps(3841, 100)), Some((3841, 100)));
        assert_eq!(max.exceeded_by(&caps(100, 2161)), Some((100, 2161)));
        assert_eq!(max.exceeded_by(&gst::Caps::builder("image/jpeg").build()), None);
        assert_eq!(max.to_string(), "3840x2160");
        let refusal = Refusal::default();
        assert!(refusal.refuse((8192, 8192)) && !refusal.refuse((9000, 9000)));
        assert_eq!(refusal.size(), Some((8192, 8192)));
    }
}
