//! One camera's GStreamer pipeline, and the loop that keeps it running.
//!
//! ```text
//! uridecodebin ─▶ [identity sync=true] ─▶ videorate (drop-only, max-rate = detect fps)
//!   ─▶ videoscale ─▶ videoconvert ─▶ appsink (RGB at the model's input size, sync=false)
//! ```
//!
//! Frames are dropped by videorate before they are scaled or converted, so a
//! 25 fps camera detected at 5 fps pays for conversion five times a second.
//! The settings (what the operator asked for) live in [`StreamSpec`]; the
//! state of one run lives inside [`Stream::run_once`]. A pipeline is always
//! brought back to `Null`, whatever happened.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use tokio_util::sync::CancellationToken;

use super::{Frame, FrameLayout, FrameSlot, Geometry};
use crate::infer::manifest::Resize;
use crate::source::SourcePlan;

/// What one camera's pipeline is asked to do.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub camera: Arc<str>,
    pub source: SourcePlan,
    /// Model input size the frames are scaled to.
    pub width: u32,
    pub height: u32,
    pub resize: Resize,
    /// Frames per second delivered to the detector.
    pub fps: u32,
    /// First wait before restarting a failed live camera; doubles up to `retry_max`.
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("camera `{camera}`: GStreamer element `{element}` is missing ({hint})")]
    MissingElement {
        camera: Arc<str>,
        element: &'static str,
        hint: &'static str,
    },
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
}

/// How one run of a pipeline ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A recording reached its end.
    Ended,
    /// Shutdown was asked for.
    Cancelled,
}

/// Keeps frame times increasing across file loops and restarts.
#[derive(Debug, Default)]
struct StreamClock {
    offset_ns: AtomicU64,
    last_ns: AtomicU64,
}

impl StreamClock {
    fn stamp(&self, pts: Option<gst::ClockTime>) -> Duration {
        let last = self.last_ns.load(Ordering::Relaxed);
        let raw = pts.map_or(last, |t| t.nseconds() + self.offset_ns.load(Ordering::Relaxed));
        let t = if raw > last || last == 0 { raw } else { last + 1_000_000 };
        self.last_ns.store(t, Ordering::Relaxed);
        Duration::from_nanos(t)
    }

    /// The next frames continue after the last one instead of starting at zero.
    fn rebase(&self) {
        self.offset_ns
            .store(self.last_ns.load(Ordering::Relaxed) + 1_000_000, Ordering::Relaxed);
    }
}

/// A camera's stream: runs its pipeline, restarting a failed live camera.
pub struct Stream {
    spec: StreamSpec,
    slot: Arc<FrameSlot>,
    clock: Arc<StreamClock>,
    frames: Arc<AtomicU64>,
}

impl Stream {
    pub fn new(spec: StreamSpec, slot: Arc<FrameSlot>) -> Self {
        Self {
            spec,
            slot,
            clock: Arc::default(),
            frames: Arc::default(),
        }
    }

    /// Runs until cancelled or, for a recording, until it ends or fails.
    /// A live camera that fails is rebuilt with exponential backoff.
    pub fn run(&self, cancel: &CancellationToken) -> Result<(), DecodeError> {
        let mut wait = self.spec.retry_initial;
        loop {
            let result = self.run_once(cancel);
            match result {
                Ok(Outcome::Ended) => {
                    self.slot.close();
                    return Ok(());
                }
                Ok(Outcome::Cancelled) => return Ok(()),
                Err(error) if !self.spec.source.is_live() => {
                    self.slot.close();
                    return Err(error);
                }
                Err(error) => {
                    tracing::error!(camera = %self.spec.camera, %error, retry_in_ms = wait.as_millis() as u64, "camera failed; restarting");
                    if sleep_unless_cancelled(wait, cancel) {
                        return Ok(());
                    }
                    wait = (wait * 2).min(self.spec.retry_max);
                    self.slot.reopen();
                    self.clock.rebase();
                }
            }
        }
    }

    /// Builds the pipeline, plays it until it ends, fails or is cancelled,
    /// and always brings it back to `Null`.
    pub fn run_once(&self, cancel: &CancellationToken) -> Result<Outcome, DecodeError> {
        let pipeline = self.build()?;
        let result = self.play(&pipeline, cancel);
        // Wake a decode thread waiting on the slot before stopping the pipeline.
        if !matches!(result, Ok(Outcome::Ended)) {
            self.slot.close();
        }
        let _ = pipeline.set_state(gst::State::Null);
        result
    }

    fn play(&self, pipeline: &gst::Pipeline, cancel: &CancellationToken) -> Result<Outcome, DecodeError> {
        let bus = pipeline.bus().ok_or_else(|| self.build_error("pipeline has no bus"))?;
        if pipeline.set_state(gst::State::Playing).is_err() {
            // The reason is on the bus.
            if let Some(msg) = bus.timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
                && let gst::MessageView::Error(err) = msg.view()
            {
                return Err(self.stream_error(err));
            }
            return Err(self.build_error("the pipeline refused to start"));
        }
        loop {
            if cancel.is_cancelled() {
                return Ok(Outcome::Cancelled);
            }
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
                continue;
            };
            match msg.view() {
                gst::MessageView::Eos(_) if self.spec.source.loop_playback => {
                    tracing::debug!(camera = %self.spec.camera, "end of file; playing it again");
                    self.clock.rebase();
                    if pipeline
                        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
                        .is_err()
                    {
                        return Err(self.build_error("cannot seek back to the start of the file to loop it"));
                    }
                }
                gst::MessageView::Eos(_) => {
                    tracing::info!(camera = %self.spec.camera, source = %self.spec.source.display, "end of recording");
                    return Ok(Outcome::Ended);
                }
                gst::MessageView::Error(err) => return Err(self.stream_error(err)),
                gst::MessageView::Warning(w) => {
                    tracing::warn!(
                        camera = %self.spec.camera,
                        element = %w.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                        warning = %w.error(),
                        "GStreamer warning"
                    );
                }
                _ => {}
            }
        }
    }

    fn build(&self) -> Result<gst::Pipeline, DecodeError> {
        let spec = &self.spec;
        let letterbox = spec.resize == Resize::Letterbox;
        let pipeline = gst::Pipeline::with_name(&format!("camera-{}", spec.camera));
        let source = self.element("uridecodebin", "gstreamer1.0-plugins-base")?;
        source.set_property("uri", &spec.source.uri);
        let mut chain = Vec::new();
        if spec.source.realtime {
            let pace = self.element("identity", "gstreamer1.0 core")?;
            pace.set_property("sync", true);
            chain.push(pace);
        }
        let rate = self.element("videorate", "gstreamer1.0-plugins-base")?;
        rate.set_property("drop-only", true);
        rate.set_property("max-rate", spec.fps.clamp(1, i32::MAX as u32) as i32);
        let scale = self.element("videoscale", "gstreamer1.0-plugins-base")?;
        scale.set_property("add-borders", letterbox);
        let convert = self.element("videoconvert", "gstreamer1.0-plugins-base")?;
        chain.extend([rate, scale.clone(), convert]);

        let mut caps = gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::Rgb)
            .width(spec.width as i32)
            .height(spec.height as i32);
        if letterbox {
            caps = caps.pixel_aspect_ratio(gst::Fraction::new(1, 1));
        }
        let sink = gst_app::AppSink::builder()
            .caps(&caps.build())
            .sync(false)
            .max_buffers(1)
            .drop(false)
            .enable_last_sample(false)
            .build();

        pipeline
            .add_many(
                std::iter::once(&source)
                    .chain(chain.iter())
                    .chain(std::iter::once(sink.upcast_ref())),
            )
            .map_err(|e| self.build_error(&e.to_string()))?;
        gst::Element::link_many(chain.iter().chain(std::iter::once(sink.upcast_ref())))
            .map_err(|e| self.build_error(&e.to_string()))?;

        let geometry = Arc::new(Mutex::new(Geometry::STRETCH));
        if letterbox {
            self.watch_source_caps(&scale, geometry.clone());
        }
        self.link_decoded_video(&source, &chain[0]);
        self.deliver_frames(&sink, geometry);
        Ok(pipeline)
    }

    /// uridecodebin exposes its pads once it knows the stream: link the first video one.
    fn link_decoded_video(&self, source: &gst::Element, first: &gst::Element) {
        let sink_pad = first.static_pad("sink");
        let camera = self.spec.camera.clone();
        source.connect_pad_added(move |_, pad| {
            let Some(sink_pad) = sink_pad.as_ref() else {
                return;
            };
            let is_video = pad
                .current_caps()
                .and_then(|caps| caps.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or(false);
            if !is_video || sink_pad.is_linked() {
                return;
            }
            if let Err(e) = pad.link(sink_pad) {
                tracing::error!(camera = %camera, error = ?e, "cannot link the decoded video");
            }
        });
    }

    /// Keeps the letterbox geometry in step with the source's caps.
    fn watch_source_caps(&self, scale: &gst::Element, geometry: Arc<Mutex<Geometry>>) {
        let (width, height) = (self.spec.width, self.spec.height);
        let Some(pad) = scale.static_pad("sink") else {
            return;
        };
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::EventView::Caps(caps)) = info.event().map(|e| e.view())
                && let Ok(vi) = gst_video::VideoInfo::from_caps(caps.caps())
            {
                let par = vi.par();
                let g = Geometry::letterbox(vi.width(), vi.height(), (par.numer(), par.denom()), width, height);
                *geometry.lock().unwrap_or_else(|p| p.into_inner()) = g;
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// appsink → slot. Runs on GStreamer's streaming thread: no allocation
    /// beyond GStreamer's own pooled buffers, and it never waits for inference
    /// on a live camera.
    fn deliver_frames(&self, sink: &gst_app::AppSink, geometry: Arc<Mutex<Geometry>>) {
        let slot = self.slot.clone();
        let clock = self.clock.clone();
        let frames = self.frames.clone();
        let camera = self.spec.camera.clone();
        let source = self.spec.source.display.clone();
        let fps = self.spec.fps;
        // Holding the caps keeps their address from being reused by other caps.
        let mut cached: Option<(gst::Caps, FrameLayout)> = None;
        let mut announced = false;
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |sink| {
                    let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    let (Some(buffer), Some(caps)) = (sample.buffer_owned(), sample.caps()) else {
                        return Ok(gst::FlowSuccess::Ok);
                    };
                    let layout = match &cached {
                        Some((known, layout)) if known.as_ptr() == caps.as_ptr() => *layout,
                        _ => {
                            let info =
                                gst_video::VideoInfo::from_caps(caps).map_err(|_| gst::FlowError::NotNegotiated)?;
                            let layout = FrameLayout {
                                width: info.width() as usize,
                                height: info.height() as usize,
                                stride: info.stride()[0].max(0) as usize,
                            };
                            cached = Some((caps.to_owned(), layout));
                            layout
                        }
                    };
                    if !announced {
                        announced = true;
                        tracing::info!(camera = %camera, source = %source, detect_fps = fps,
                            size = %format!("{}x{}", layout.width, layout.height), "camera streaming");
                    }
                    let frame = Frame {
                        pts: clock.stamp(buffer.pts()),
                        buffer,
                        layout,
                        geometry: *geometry.lock().unwrap_or_else(|p| p.into_inner()),
                        number: frames.fetch_add(1, Ordering::Relaxed),
                    };
                    if slot.put(frame) {
                        Ok(gst::FlowSuccess::Ok)
                    } else {
                        Err(gst::FlowError::Flushing)
                    }
                })
                .build(),
        );
    }

    fn element(&self, factory: &'static str, hint: &'static str) -> Result<gst::Element, DecodeError> {
        gst::ElementFactory::make(factory)
            .build()
            .map_err(|_| DecodeError::MissingElement {
                camera: self.spec.camera.clone(),
                element: factory,
                hint,
            })
    }

    fn build_error(&self, reason: &str) -> DecodeError {
        DecodeError::Build {
            camera: self.spec.camera.clone(),
            reason: reason.to_string(),
        }
    }

    fn stream_error(&self, err: &gst::message::Error) -> DecodeError {
        DecodeError::Stream {
            camera: self.spec.camera.clone(),
            source_uri: self.spec.source.display.clone(),
            element: err
                .src()
                .map(|s| s.path_string().to_string())
                .unwrap_or_else(|| "pipeline".into()),
            message: err.error().to_string(),
            debug: err.debug().map(|d| d.to_string()),
        }
    }

    /// Frames delivered since the stream was created.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
}

/// Sleeps in short steps; true if cancelled meanwhile.
fn sleep_unless_cancelled(total: Duration, cancel: &CancellationToken) -> bool {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < total {
        if cancel.is_cancelled() {
            return true;
        }
        std::thread::sleep(step);
        slept += step;
    }
    cancel.is_cancelled()
}
