//! One camera's GStreamer pipeline, and the loop that keeps it running.
//!
//! ```text
//! source ─▶ parsebin ─▶ decoder (chosen per codec) ─▶ [privacy masks] ─▶ [identity sync=true] ─▶ tee
//!   tee ─▶ queue ─▶ videorate (drop-only, max-rate = detect fps) ─▶ videoscale ─▶ videoconvert
//!         ─▶ appsink (RGB at the model's input size, sync=false)            … the detect branch
//!   tee ─▶ [the motion branch, GRAY8 at up to the full rate, in `super::gray`] … pixel-watching rules
//! ```
//!
//! Frames are dropped by videorate before they are scaled or converted, so a
//! 25 fps camera detected at 5 fps pays for conversion five times a second.
//! The frames videorate passes are also held at full resolution
//! ([`Held`]), so that pictures are made of the very frames the detector
//! saw; they cost nothing until something asks for a picture.
//! A bus error, the end of a live stream, or a stall (no frame for
//! `stall_secs`) tears down and rebuilds only this camera's pipeline, with
//! exponential backoff. Settings (what the operator asked for) live in
//! [`StreamSpec`]; the state of a run lives in [`Stream::run_once`]. A
//! pipeline is always brought back to `Null`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use tokio_util::sync::CancellationToken;

use super::clock::{self, StreamClock, sleep_unless_cancelled};
use super::decoder::attach_decoder;
use super::gray;
use super::held::Held;
use super::limit::{self, Refusal};
use super::mask;
use super::slot::{Delivery, FrameSlot};
use super::spec::{DecodeError, StreamSpec};
use super::status::{CameraState, StreamStatus};
use crate::vocab::{Frame, FrameLayout, Geometry, Resize};

/// Longest a recording may take to yield its first frame.
const FIRST_FRAME: Duration = Duration::from_secs(10);

/// How one run of a pipeline ended without error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A recording reached its end.
    Ended,
    /// Shutdown was asked for.
    Cancelled,
}

/// A camera's stream: runs its pipeline, rebuilding a failed live camera.
pub struct Stream {
    spec: StreamSpec,
    slot: Arc<FrameSlot>,
    /// Where the motion branch delivers, when the spec asks for one.
    gray_slot: Option<Arc<FrameSlot>>,
    clock: Arc<StreamClock>,
    frames: Arc<AtomicU64>,
    gray_frames: Arc<AtomicU64>,
    status: Arc<StreamStatus>,
    /// The analysed frames, at full resolution, for pictures.
    held: Arc<Held>,
    /// Pipelines built so far: which run a held frame belongs to.
    runs: AtomicU64,
    /// GStreamer warnings: one line a minute, across rebuilds.
    warnings: super::throttle::Throttle,
    /// The current pipeline's refusal of an oversized picture.
    refusal: Mutex<Arc<Refusal>>,
}

impl Stream {
    pub fn new(spec: StreamSpec, slot: Arc<FrameSlot>) -> Self {
        Self {
            spec,
            slot,
            gray_slot: None,
            clock: Arc::default(),
            frames: Arc::default(),
            gray_frames: Arc::default(),
            status: Arc::default(),
            held: Arc::default(),
            runs: AtomicU64::new(0),
            warnings: Default::default(),
            refusal: Mutex::default(),
        }
    }

    /// Delivers the motion branch's grayscale frames to `slot` (used only
    /// when the spec has a `gray` branch).
    pub fn with_gray_slot(mut self, slot: Arc<FrameSlot>) -> Self {
        self.gray_slot = Some(slot);
        self
    }

    /// Ends both hand-overs: no more frames, waiting callers wake up.
    fn close_slots(&self) {
        self.slot.close();
        if let Some(slot) = &self.gray_slot {
            slot.close();
        }
    }

    pub fn status(&self) -> Arc<StreamStatus> {
        self.status.clone()
    }

    /// Runs until cancelled or, for a recording, until it ends or fails.
    /// A live camera that fails is rebuilt with exponential backoff.
    pub fn run(&self, cancel: &CancellationToken) -> Result<(), DecodeError> {
        let camera = &*self.spec.camera;
        let mut wait = self.spec.retry_initial;
        loop {
            self.status.set(camera, CameraState::Connecting, None);
            match self.run_once(cancel) {
                Ok(Outcome::Ended) => {
                    self.close_slots();
                    self.status.set(camera, CameraState::Stopped, Some("end of recording"));
                    return Ok(());
                }
                Ok(Outcome::Cancelled) => {
                    self.status.set(camera, CameraState::Stopped, Some("shutdown"));
                    return Ok(());
                }
                Err(error) if !self.spec.source.is_live() => {
                    self.close_slots();
                    let reason = error.to_string();
                    *self.status.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                    self.status.set(camera, CameraState::Failed, Some(&reason));
                    return Err(error);
                }
                Err(error) => {
                    let reason = error.to_string();
                    self.status.set(camera, CameraState::Backoff, Some(&reason));
                    tracing::warn!(camera, error = %reason, retry_in_ms = wait.as_millis() as u64, "camera lost; rebuilding its pipeline");
                    if sleep_unless_cancelled(wait, cancel) {
                        self.status.set(camera, CameraState::Stopped, Some("shutdown"));
                        return Ok(());
                    }
                    wait = (wait * 2).min(self.spec.retry_max);
                    self.status.reconnects.fetch_add(1, Ordering::Relaxed);
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
        // A recording's decode thread may be waiting for the slot to empty:
        // wake it before stopping the pipeline. A live camera's slot never
        // blocks and stays open across rebuilds, so its detect thread keeps going.
        if self.slot.delivery() == Delivery::Every && !matches!(result, Ok(Outcome::Ended)) {
            self.close_slots();
        }
        let _ = pipeline.set_state(gst::State::Null);
        self.held.clear();
        result
    }

    fn play(&self, pipeline: &gst::Pipeline, cancel: &CancellationToken) -> Result<Outcome, DecodeError> {
        let bus = pipeline.bus().ok_or_else(|| self.build_error("pipeline has no bus"))?;
        let started = self.status.now_ms();
        let decoded_before = self.status.decoded.load(Ordering::Relaxed);
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
            let last = self.status.last_frame_ms.load(Ordering::Relaxed);
            // A recording may pause for its consumer, but one with no first
            // frame at all (cut before its index, say) would wait forever.
            if !self.spec.source.is_live()
                && self.status.decoded.load(Ordering::Relaxed) == decoded_before
                && self.status.now_ms().saturating_sub(started) > self.spec.stall.max(FIRST_FRAME).as_millis() as u64
            {
                return Err(DecodeError::Stall {
                    camera: self.spec.camera.clone(),
                    source_uri: self.spec.source.display.clone(),
                    secs: self.spec.stall.max(FIRST_FRAME).as_secs(),
                });
            }
            if self.spec.source.is_live() {
                let last = last.max(started);
                if self.status.now_ms().saturating_sub(last) > self.spec.stall.as_millis() as u64 {
                    return Err(DecodeError::Stall {
                        camera: self.spec.camera.clone(),
                        source_uri: self.spec.source.display.clone(),
                        secs: self.spec.stall.as_secs(),
                    });
                }
            }
            let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(100)) else {
                continue;
            };
            match msg.view() {
                gst::MessageView::Eos(_) if self.spec.source.keys.loop_playback => {
                    tracing::debug!(camera = %self.spec.camera, "end of file; playing it again");
                    self.clock.rebase();
                    if pipeline
                        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT, gst::ClockTime::ZERO)
                        .is_err()
                    {
                        return Err(self.build_error("cannot seek back to the start of the file to loop it"));
                    }
                }
                gst::MessageView::Eos(_) if self.spec.source.is_live() => {
                    return Err(DecodeError::Ended {
                        camera: self.spec.camera.clone(),
                        source_uri: self.spec.source.display.clone(),
                    });
                }
                gst::MessageView::Eos(_) => {
                    tracing::info!(camera = %self.spec.camera, source = %self.spec.source.display, "end of recording");
                    return Ok(Outcome::Ended);
                }
                gst::MessageView::Error(err) => {
                    return Err(match self.refusal.lock().unwrap_or_else(|p| p.into_inner()).size() {
                        Some(size) => DecodeError::TooLarge {
                            camera: self.spec.camera.clone(),
                            size,
                            max: self.spec.max_size,
                        },
                        None => self.stream_error(err),
                    });
                }
                gst::MessageView::Warning(w) => {
                    if let Some(held_back) = self.warnings.due() {
                        tracing::warn!(
                            camera = %self.spec.camera,
                            element = %w.src().map(|s| s.path_string().to_string()).unwrap_or_default(),
                            warning = %self.spec.source.url.scrub(&w.error().to_string()),
                            held_back,
                            "GStreamer warning (at most one a minute per camera; held_back counts the others)"
                        );
                    }
                }
                _ => {}
            }
        }
    }

    fn build(&self) -> Result<gst::Pipeline, DecodeError> {
        let spec = &self.spec;
        let live = spec.source.is_live();
        let letterbox = spec.resize == Resize::Letterbox;
        let pipeline = gst::Pipeline::with_name(&format!("camera-{}", spec.camera));
        let parse = self.element("parsebin")?;
        pipeline.add(&parse).map_err(|e| self.build_error(&e.to_string()))?;
        spec.source
            .build(&pipeline, &parse)
            .map_err(|reason| self.build_error(&reason))?;

        // decoder ─▶ [mask] ─▶ [pace] ─▶ tee
        let mut head = Vec::new();
        if !spec.masks.is_empty() {
            let (status, camera) = (self.status.clone(), spec.camera.clone());
            let masking = mask::elements(&spec.masks, move || status.frame_unmasked(&camera))
                .map_err(|e| self.build_error(&e.to_string()))?;
            head.extend(masking);
        }
        if spec.source.keys.realtime {
            let pace = self.element("identity")?;
            pace.set_property("sync", true);
            head.push(pace);
        }
        let tee = self.element("tee")?;
        head.push(tee.clone());

        // the detect branch
        let detect_queue = self.element("queue")?;
        detect_queue.set_property("max-size-buffers", 2u32);
        detect_queue.set_property("max-size-bytes", 0u32);
        detect_queue.set_property("max-size-time", 0u64);
        if live {
            detect_queue.set_property_from_str("leaky", "downstream");
        }
        let rate = self.element("videorate")?;
        rate.set_property("drop-only", true);
        rate.set_property("max-rate", spec.fps.clamp(1, i32::MAX as u32) as i32);
        let scale = self.element("videoscale")?;
        scale.set_property("add-borders", letterbox);
        let convert = self.element("videoconvert")?;
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

        let run = self.runs.fetch_add(1, Ordering::Relaxed) + 1;
        self.held.clear();
        self.hold_analysed_frames(&rate, run);

        let detect = [detect_queue, rate, scale.clone(), convert, sink.clone().upcast()];
        let all: Vec<&gst::Element> = head.iter().chain(detect.iter()).collect();
        pipeline.add_many(all).map_err(|e| self.build_error(&e.to_string()))?;
        let link =
            |chain: &[&gst::Element]| gst::Element::link_many(chain).map_err(|e| self.build_error(&e.to_string()));
        link(&head.iter().collect::<Vec<_>>())?;
        link(&std::iter::once(&tee).chain(detect.iter()).collect::<Vec<_>>())?;
        if let (Some(branch), Some(slot)) = (spec.gray, &self.gray_slot) {
            let (motion, sink) = gray::elements(branch, live).map_err(|e| self.build_error(&e))?;
            pipeline
                .add_many(&motion)
                .map_err(|e| self.build_error(&e.to_string()))?;
            link(&std::iter::once(&tee).chain(motion.iter()).collect::<Vec<_>>())?;
            self.deliver(&sink, slot.clone(), self.gray_frames.clone(), None, run);
        }

        let geometry = Arc::new(Mutex::new(Geometry::STRETCH));
        if letterbox {
            self.watch_source_caps(&scale, geometry.clone());
        }
        self.count_decoded_frames(&tee);
        clock::fill_times(&tee, spec.fps);
        *self.refusal.lock().unwrap_or_else(|p| p.into_inner()) =
            limit::guard_pipeline(&parse, &head[0], spec.max_size);
        attach_decoder(
            &pipeline,
            &parse,
            &head[0],
            self.spec.camera.clone(),
            self.spec.decoder.clone(),
            None,
        );
        self.deliver(&sink, self.slot.clone(), self.frames.clone(), Some(geometry), run);
        Ok(pipeline)
    }

    /// Holds every frame the rate control passes (a reference to the decoded
    /// buffer) for the pictures made of analysed frames.
    fn hold_analysed_frames(&self, rate: &gst::Element, run: u64) {
        let Some(pad) = rate.static_pad("src") else { return };
        let held = self.held.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
            if let (Some(buffer), Some(caps)) = (info.buffer(), pad.current_caps()) {
                held.hold(run, buffer.clone(), caps);
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// Counts frames out of the decoder and marks the camera streaming on the first.
    fn count_decoded_frames(&self, tee: &gst::Element) {
        let Some(pad) = tee.static_pad("sink") else { return };
        let status = self.status.clone();
        let camera = self.spec.camera.clone();
        let source = self.spec.source.display.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            status.decoded.fetch_add(1, Ordering::Relaxed);
            status.last_frame_ms.store(status.now_ms(), Ordering::Relaxed);
            if status.state() != CameraState::Streaming {
                status.set(&camera, CameraState::Streaming, Some(&source));
            }
            gst::PadProbeReturn::Ok
        });
    }

    /// Keeps the letterbox geometry in step with the source's caps.
    fn watch_source_caps(&self, scale: &gst::Element, geometry: Arc<Mutex<Geometry>>) {
        let (width, height) = (self.spec.width, self.spec.height);
        let Some(pad) = scale.static_pad("sink") else { return };
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
    /// on a live camera. The detect branch passes its letterbox `geometry`
    /// (and announces the camera); the motion branch passes none.
    fn deliver(
        &self,
        sink: &gst_app::AppSink,
        slot: Arc<FrameSlot>,
        frames: Arc<AtomicU64>,
        geometry: Option<Arc<Mutex<Geometry>>>,
        run: u64,
    ) {
        let clock = self.clock.clone();
        // the detect branch names the held frames it delivers
        let held = geometry.as_ref().map(|_| self.held.clone());
        let branch = usize::from(geometry.is_none());
        let camera = self.spec.camera.clone();
        let source = self.spec.source.display.clone();
        let fps = self.spec.fps;
        // Holding the caps keeps their address from being reused by other caps.
        let mut cached: Option<(gst::Caps, FrameLayout)> = None;
        let mut announced = geometry.is_none();
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
                    let raw = buffer.pts();
                    let frame = Frame {
                        pts: clock.stamp(branch, raw),
                        buffer,
                        layout,
                        geometry: geometry
                            .as_ref()
                            .map_or(Geometry::STRETCH, |g| *g.lock().unwrap_or_else(|p| p.into_inner())),
                        number: frames.fetch_add(1, Ordering::Relaxed),
                        arrived: Instant::now(),
                    };
                    if let Some(held) = &held {
                        held.stamp(run, raw, frame.pts);
                    }
                    if slot.put(frame) {
                        Ok(gst::FlowSuccess::Ok)
                    } else {
                        Err(gst::FlowError::Flushing)
                    }
                })
                .build(),
        );
    }

    /// The frames the detect branch passed, at full resolution: pictures
    /// are made of the analysed ones.
    pub fn held(&self) -> &Held {
        &self.held
    }

    fn element(&self, factory: &'static str) -> Result<gst::Element, DecodeError> {
        gst::ElementFactory::make(factory).build().map_err(|_| {
            self.build_error(&format!(
                "GStreamer element `{factory}` is missing (install the gstreamer1.0-plugins-* packages)"
            ))
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
            // Elements may quote the URL they fetch, query credentials and all.
            message: self.spec.source.url.scrub(&err.error().to_string()),
            debug: err.debug().map(|d| self.spec.source.url.scrub(&d)),
        }
    }

    /// Frames delivered to the detect branch since the stream was created.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
}
