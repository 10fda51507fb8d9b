//! `watchpost probe <uri>`: opens a source the way a camera would, decodes
//! until the first frame, and reports codec, size, frame rate, the decoder
//! chosen and the time to the first frame — or a clear reason why not.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_video as gst_video;

use super::decoder::DecoderChoice;
use super::decoder::{DecoderReport, attach_decoder};
use crate::source::SourcePlan;

#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub source: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub fps: Option<(i32, i32)>,
    pub decoder: String,
    pub decoder_reason: String,
    pub first_frame: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{source_uri}: {reason}")]
    Failed { source_uri: String, reason: String },
}

/// Probes a source; `timeout` bounds the wait for the first frame.
pub fn probe(source: &SourcePlan, choice: &DecoderChoice, timeout: Duration) -> Result<ProbeReport, ProbeError> {
    let fail = |reason: String| ProbeError::Failed {
        source_uri: source.display.clone(),
        reason,
    };
    gst::init().map_err(|e| fail(e.to_string()))?;
    let pipeline = gst::Pipeline::with_name("probe");
    let make = |f: &str| {
        gst::ElementFactory::make(f)
            .build()
            .map_err(|_| fail(format!("GStreamer element `{f}` is missing")))
    };
    let parse = make("parsebin")?;
    let sink = make("fakesink")?;
    sink.set_property("sync", false);
    pipeline.add_many([&parse, &sink]).map_err(|e| fail(e.to_string()))?;
    source.build(&pipeline, &parse).map_err(fail)?;
    let report = Arc::new(Mutex::new(DecoderReport::default()));
    attach_decoder(
        &pipeline,
        &parse,
        &sink,
        Arc::from("probe"),
        choice.clone(),
        Some(report.clone()),
    );

    let first: Arc<Mutex<Option<(Instant, gst::Caps)>>> = Arc::default();
    if let Some(pad) = sink.static_pad("sink") {
        let first = first.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, _| {
            let mut slot = first.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none()
                && let Some(caps) = pad.current_caps()
            {
                *slot = Some((Instant::now(), caps));
            }
            gst::PadProbeReturn::Ok
        });
    }
    let start = Instant::now();
    let bus = pipeline.bus().ok_or_else(|| fail("pipeline has no bus".into()))?;
    let result = (|| {
        pipeline.set_state(gst::State::Playing).map_err(|_| {
            bus.timed_pop_filtered(gst::ClockTime::from_seconds(2), &[gst::MessageType::Error])
                .and_then(|m| match m.view() {
                    gst::MessageView::Error(e) => Some(explain(&e.error().to_string(), e.debug().as_deref())),
                    _ => None,
                })
                .unwrap_or_else(|| "the pipeline refused to start".into())
        })?;
        while start.elapsed() < timeout {
            if let Some((at, caps)) = first.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                return Ok((at - start, caps));
            }
            if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) {
                match msg.view() {
                    gst::MessageView::Error(e) => return Err(explain(&e.error().to_string(), e.debug().as_deref())),
                    gst::MessageView::Eos(_) => return Err("the stream ended before the first frame".into()),
                    _ => {}
                }
            }
        }
        Err(format!("no frame within {} s", timeout.as_secs()))
    })();
    let _ = pipeline.set_state(gst::State::Null);
    let (first_frame, caps) = result.map_err(fail)?;
    let info = gst_video::VideoInfo::from_caps(&caps).map_err(|e| fail(e.to_string()))?;
    let fps = info.fps();
    let decoder = report.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(ProbeReport {
        source: source.display.clone(),
        codec: decoder.codec,
        width: info.width(),
        height: info.height(),
        fps: (fps.numer() > 0).then(|| (fps.numer(), fps.denom())),
        decoder: decoder.decoder,
        decoder_reason: decoder.reason,
        first_frame,
    })
}

/// GStreamer's wording, plus what an installer should check.
fn explain(message: &str, debug: Option<&str>) -> String {
    let debug = debug.unwrap_or_default();
    let lower = format!("{message} {debug}").to_ascii_lowercase();
    if lower.contains("unauthorized") || lower.contains("401") {
        format!("the camera refused the credentials ({message}); check the user name and password")
    } else if lower.contains("not found") && lower.contains("404") || lower.contains("not found (404)") {
        format!("the camera has no stream at this path ({message}); check the URL's path")
    } else if lower.contains("could not connect")
        || lower.contains("failed to connect")
        || lower.contains("connection refused")
    {
        format!("cannot reach the camera ({message}); check the host, port and network")
    } else {
        message.to_string()
    }
}
