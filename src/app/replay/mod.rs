//! `watchpost replay`: one camera's full pipeline run on a recording, as fast
//! as it decodes, for tuning zones and rules offline.
//!
//! The camera's source is replaced by the recording (played once, not paced);
//! everything else is the camera's own: GStreamer decode at its detect fps,
//! privacy masks, the motion gate, the model, the tracker and the rules. Each
//! incident event is printed on stdout as one JSON line — the payload an MQTT
//! alert would carry, built by [`anonymize::alert`] — and nothing is published.
//!
//! With `--out DIR` it also writes annotated frames (zones, lines, boxes, track
//! ids) and a contact sheet per incident. Every one of those pictures is a
//! [`RedactedImage`] made by the snapshot [`Redactor`] from the camera's
//! privacy policy and then drawn on: this module never writes a raw pixel. The
//! full-resolution frames come from a second pipeline over the same file with
//! the same rate limiting, matched to the analysed frames by timestamp.
//!
//! Frames go through the model as a live camera's do: every session of the
//! model busy, several frames in flight, completed in order
//! ([`FrameAnalyzer::for_recording`]), which gives exactly what one frame at
//! a time gives (`--in-flight 1`). The rules run on the recording's clock:
//! `--start` plus the frame's position, so schedules follow the recording.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::analysis::FrameAnalyzer;
use super::motion_watch::{engine as motion_engine, step_motion};
use crate::anonymize;
use crate::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use crate::infer::{Detector, ModelService, runtime};
use crate::plan::{CameraPlan, Plan};
use crate::rules::{IncidentEvent, RuleEngine};
use crate::source::SourcePlan;
use crate::vocab::Frame;

mod out;
use out::FrameWriter;

/// Exit status for a config that failed its check, or a camera it lacks.
const EXIT_CONFIG: u8 = 2;
/// `watchpost replay`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  watchpost replay --config /etc/watchpost/watchpost.toml --camera north-gate \
                        gate-tuesday.mp4 --out /tmp/gate > incidents.jsonl\n\n\
                        Incident events go to stdout, one JSON object a line (the MQTT alert payload); \
                        progress and logs go to stderr. Frames written with --out are redacted by the camera's \
                        [cameras.privacy] policy."
)]
pub struct ReplayArgs {
    /// The config file whose camera (zones, rules, model, privacy) is replayed.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The recording to analyse, a video file.
    pub recording: PathBuf,
    /// The camera to replay (default: the only, or first, camera of the config).
    #[arg(long)]
    pub camera: Option<String>,
    /// Write redacted, annotated frames (DIR/frames/NNNNNN.jpg) and one contact
    /// sheet per incident (DIR/incidents/<incident_id>.jpg) here.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out, write the frames redacted but not annotated: as a
    /// snapshot leaves the box (for checking what redaction covers).
    #[arg(long, requires = "out")]
    pub plain: bool,
    /// When the recording began, e.g. 2026-11-30T21:00:00Z: each event's `time`
    /// is this plus its position in the recording (default: the file's
    /// modification time).
    #[arg(long, value_name = "TIME", value_parser = parse_start)]
    pub start: Option<SystemTime>,
    /// Frames in inference at once (default: the model's sessions + 1, every
    /// session busy); 1 analyses one frame at a time. The events are the same.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=16))]
    pub in_flight: Option<u32>,
}

/// `--start`: an RFC 3339 time with its offset.
pub fn parse_start(text: &str) -> Result<SystemTime, String> {
    let at: jiff::Timestamp = text
        .parse()
        .map_err(|e| format!("`{text}` is not a time like 2026-11-30T21:00:00Z: {e}"))?;
    Ok(SystemTime::from(at))
}

/// Where in the recording an event was raised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    /// Index of the recording's frame (at its own frame rate, from 0).
    pub frame: u64,
    /// Position in the recording.
    pub pts: Duration,
}

/// How to replay beyond the camera's own plan.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions<'a> {
    /// Write redacted, annotated pictures under this folder.
    pub out: Option<&'a Path>,
    /// Leave the written frames unannotated.
    pub plain: bool,
    /// The recording's start; events are stamped with it plus their position.
    pub start: Option<SystemTime>,
    /// Analyse at this rate instead of the camera's detect fps.
    pub fps: Option<u32>,
    /// Frames in inference at once; default the model's sessions + 1.
    pub in_flight: Option<usize>,
}

/// Takes each incident event with where it was raised. Its `time` is
/// already the recording's time.
pub type OnEvent<'a> = dyn FnMut(&IncidentEvent, Stamp) -> anyhow::Result<()> + 'a;

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Frames analysed (at the camera's detect fps).
    pub frames: u64,
    /// Incident events printed.
    pub events: u64,
    /// Annotated frames written with `--out`.
    pub frames_written: u64,
    /// Contact sheets written with `--out`.
    pub sheets_written: u64,
}

/// Runs the command: exit 0 when the recording was replayed to its end, 2
/// for a config that fails its check or lacks the camera, 1 otherwise.
pub fn command(args: &ReplayArgs) -> ExitCode {
    let plan = match crate::plan::load(&args.config) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let camera = match pick_camera(&plan, args.camera.as_deref()) {
        Ok(camera) => camera,
        Err(message) => {
            eprintln!("{}: {message}", args.config.display());
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if args.out.is_some()
        && let Some(leak) = camera.privacy.picture_leak(plan.privacy.face_model.is_some())
    {
        eprintln!(
            "{}: camera `{}`: --out writes pictures, but {leak}; add \"persons\", or \"faces\" with a face model, \
             to the camera's redact list",
            args.config.display(),
            camera.name
        );
        return ExitCode::from(EXIT_CONFIG);
    }
    let stdout = std::io::stdout();
    let options = ReplayOptions {
        out: args.out.as_deref(),
        start: args.start,
        fps: None,
        in_flight: args.in_flight.map(|n| n as usize),
        plain: args.plain,
    };
    match replay(&plan, camera, &args.recording, &options, &mut stdout.lock()) {
        Ok(summary) => {
            let mut line = format!(
                "replayed {}: {} frames, {} incident events",
                args.recording.display(),
                summary.frames,
                summary.events
            );
            if let Some(out) = &args.out {
                line += &format!(
                    "; wrote {} frames and {} contact sheets to {}",
                    summary.frames_written,
                    summary.sheets_written,
                    out.display()
                );
            }
            eprintln!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {e:#}", args.recording.display());
            ExitCode::FAILURE
        }
    }
}

/// The camera named, or the only/first one.
pub fn pick_camera<'a>(plan: &'a Plan, name: Option<&str>) -> Result<&'a CameraPlan, String> {
    let names = || {
        let names: Vec<&str> = plan.cameras.iter().map(|c| &*c.name).collect();
        names.join(", ")
    };
    match name {
        Some(name) => plan
            .cameras
            .iter()
            .find(|c| &*c.name == name)
            .ok_or_else(|| format!("no camera `{name}` in this config; its cameras: {}", names())),
        None => plan
            .cameras
            .first()
            .ok_or_else(|| "the config has no camera".to_string()),
    }
}

/// Replays `recording` through `camera`'s pipeline, writing each incident
/// event to `events_out` as a JSON line (the alert payload, plus the
/// recording's `frame` and `pts_secs`) and, with `out`, redacted annotated
/// pictures under that folder.
pub fn replay(
    plan: &Plan,
    camera: &CameraPlan,
    recording: &Path,
    options: &ReplayOptions<'_>,
    events_out: &mut dyn std::io::Write,
) -> anyhow::Result<ReplaySummary> {
    let mut seq = 0u64;
    let mut print = |event: &IncidentEvent, at: Stamp| -> anyhow::Result<()> {
        seq += 1;
        let alert = anonymize::alert(&camera.name, event, seq);
        let mut line = serde_json::to_value(&alert)?;
        if let Some(fields) = line.as_object_mut() {
            fields.insert("frame".into(), at.frame.into());
            fields.insert("pts_secs".into(), (at.pts.as_millis() as f64 / 1000.0).into());
        }
        writeln!(events_out, "{line}").context("cannot write to stdout")?;
        events_out.flush().context("cannot write to stdout")
    };
    run_recording(plan, camera, recording, options, &mut print)
}

/// Runs `recording` through `camera`'s pipeline and hands each incident
/// event to `on_event`, stamped with the recording's time.
pub fn run_recording(
    plan: &Plan,
    camera: &CameraPlan,
    recording: &Path,
    options: &ReplayOptions<'_>,
    on_event: &mut OnEvent<'_>,
) -> anyhow::Result<ReplaySummary> {
    if !recording.is_file() {
        anyhow::bail!("no such file");
    }
    let recording = recording.canonicalize().context("cannot open the recording")?;
    let start = match options.start {
        Some(start) => start,
        None => std::fs::metadata(&recording)
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH),
    };
    gst::init().context("cannot initialise GStreamer")?;
    let rt = runtime::init(&plan.runtime)?;
    let model = &camera.detect.model;
    let detectors = Detector::load_sessions(model, rt, &plan.runtime)
        .with_context(|| format!("cannot load model `{}`", model.key))?;
    let service =
        ModelService::spawn_sessions(detectors).with_context(|| format!("cannot start model `{}`", model.key))?;

    let base = camera.stream_spec();
    let spec = StreamSpec {
        source: SourcePlan::file(recording.clone(), false, false),
        fps: options.fps.unwrap_or(base.fps),
        ..base
    };
    let mut writer = match options.out {
        Some(dir) => {
            // the pictures get a closer look, as a camera's do
            let input = &service.plan().manifest.input;
            let persons = camera.privacy.labels.persons.clone();
            let closer = (!persons.is_empty())
                .then(|| anonymize::Closer::new(service.client(), (input.width, input.height), persons));
            Some(FrameWriter::open(plan, camera, &spec, dir, (options.plain, closer))?)
        }
        None => None,
    };
    let probed = probe(&spec.source);
    let progress = progress_bar(probed.map(|p| p.frames_at(spec.fps)));
    let native_fps = probed.map_or(spec.fps as f64, |p| p.fps);
    let mut stamped = |event: &IncidentEvent| -> anyhow::Result<()> {
        let mut event = event.clone();
        event.time = start.checked_add(event.stream_time).unwrap_or(start);
        let frame = (event.stream_time.as_secs_f64() * native_fps).round() as u64;
        on_event(
            &event,
            Stamp {
                frame,
                pts: event.stream_time,
            },
        )
    };

    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let gray_slot = Arc::new(FrameSlot::new(Delivery::Every));
    let cancel = CancellationToken::new();
    let decode = {
        let (slot, gray_slot, cancel, spec) = (slot.clone(), gray_slot.clone(), cancel.clone(), spec.clone());
        std::thread::Builder::new()
            .name(format!("decode-{}", camera.name))
            .spawn(move || Stream::new(spec, slot).with_gray_slot(gray_slot).run(&cancel))?
    };
    let mut client = match options.in_flight {
        Some(depth) => service.client_with_depth(depth),
        None => service.camera_client(),
    };
    let waiting = slot.clone();
    client.on_reply(Arc::new(move || waiting.wake()));
    let mut analyzer = FrameAnalyzer::new(camera, client).for_recording(start);
    let mut summary = ReplaySummary::default();
    let mut feeds = Feeds {
        detect: Feed::new(&slot, false),
        gray: Feed::new(&gray_slot, spec.gray.is_none()),
        motion: motion_engine(camera, model.manifest.labels.clone()),
        start,
    };
    let analysed = analyse(
        &mut feeds,
        &decode,
        &mut analyzer,
        writer.as_mut(),
        &progress,
        &mut stamped,
        &mut summary,
    );
    cancel.cancel();
    slot.close();
    gray_slot.close();
    let decoded = decode.join();
    progress.finish_and_clear();
    analysed?;
    match decoded {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e).context("cannot decode the recording"),
        Err(_) => anyhow::bail!("the decode thread failed"),
    }
    if let Some(writer) = writer {
        summary.frames_written = writer.frames_written;
        summary.sheets_written = writer.sheets_written;
    }
    Ok(summary)
}

/// One of the pipeline's hand-overs, with the frame taken and not yet analysed.
struct Feed<'a> {
    slot: &'a FrameSlot,
    pending: Option<Frame>,
    done: bool,
}

impl<'a> Feed<'a> {
    fn new(slot: &'a FrameSlot, done: bool) -> Self {
        Self {
            slot,
            pending: None,
            done,
        }
    }

    /// Takes the next frame unless one is pending; waits up to `wait`.
    fn fill(&mut self, wait: Duration, decode_finished: bool) {
        if self.pending.is_some() || self.done {
            return;
        }
        match self.slot.take(wait) {
            Taken::Frame(frame) => self.pending = Some(frame),
            Taken::Closed => self.done = true,
            Taken::Empty if decode_finished => self.done = true,
            Taken::Empty => {}
        }
    }
}

/// The detect frames and, for rules that watch pixels, the grayscale ones
/// with the engine that runs those rules. The two are independent (the
/// motion rules never see tracks), so the order they are analysed in does
/// not change what either raises; a grayscale frame goes first when it is
/// older than every detect frame taken and not yet completed, so events
/// come out in stream order.
struct Feeds<'a> {
    detect: Feed<'a>,
    gray: Feed<'a>,
    motion: RuleEngine,
    /// The recording's start: the motion rules' clock is this plus the frame's position.
    start: SystemTime,
}

impl Feeds<'_> {
    /// Runs the motion rules on one grayscale frame.
    fn step_motion(&mut self, frame: &Frame, events: &mut Vec<IncidentEvent>) -> anyhow::Result<()> {
        let wall = self.start.checked_add(frame.pts).unwrap_or(self.start);
        step_motion(&mut self.motion, frame, wall, events)
            .map_err(|_| anyhow::anyhow!("grayscale frame {} cannot be read", frame.number))
    }

    /// The grayscale frame to analyse now, if one is due: older than every
    /// detect frame taken and not completed (or none is).
    fn due_gray(&mut self, analyzer: &FrameAnalyzer, decode_finished: bool) -> Option<Frame> {
        self.gray.fill(Duration::ZERO, decode_finished);
        let gray = self.gray.pending.as_ref()?;
        let horizon = analyzer
            .oldest_pending_pts()
            .or(self.detect.pending.as_ref().map(|f| f.pts));
        horizon.is_none_or(|h| gray.pts < h).then(|| self.gray.pending.take())?
    }
}

#[allow(clippy::too_many_arguments)]
fn analyse(
    feeds: &mut Feeds<'_>,
    decode: &std::thread::JoinHandle<Result<(), crate::decode::DecodeError>>,
    analyzer: &mut FrameAnalyzer,
    mut writer: Option<&mut FrameWriter>,
    progress: &ProgressBar,
    on_event: &mut dyn FnMut(&IncidentEvent) -> anyhow::Result<()>,
    summary: &mut ReplaySummary,
) -> anyhow::Result<()> {
    let mut events: Vec<IncidentEvent> = Vec::new();
    let mut print = |events: &[IncidentEvent], summary: &mut ReplaySummary| -> anyhow::Result<()> {
        for event in events {
            on_event(event)?;
            summary.events += 1;
        }
        Ok(())
    };
    // events of the motion rules, shown on the next annotated frame
    let mut motion_events: Vec<IncidentEvent> = Vec::new();
    let mut last_pts = Duration::ZERO;
    // With a grayscale branch the decoder may wait on either slot: look at both often.
    let wait = if feeds.gray.done {
        Duration::from_millis(200)
    } else {
        Duration::from_millis(10)
    };
    loop {
        let finished = decode.is_finished();
        if let Some(frame) = feeds.due_gray(analyzer, finished) {
            last_pts = last_pts.max(frame.pts);
            feeds.step_motion(&frame, &mut events)?;
            print(&events, summary)?;
            motion_events.append(&mut events);
            continue;
        }
        if analyzer.can_submit() {
            if feeds.detect.pending.is_none() && !feeds.detect.done {
                // Whichever comes first: the next frame, or the oldest reply.
                match feeds.detect.slot.take_or(wait, || analyzer.oldest_ready()) {
                    Taken::Frame(frame) => feeds.detect.pending = Some(frame),
                    Taken::Closed => feeds.detect.done = true,
                    Taken::Empty if finished => feeds.detect.done = true,
                    Taken::Empty => {}
                }
            }
            // (a grayscale frame older than it went first, in `due_gray`)
            if let Some(frame) = feeds.detect.pending.take() {
                last_pts = last_pts.max(frame.pts);
                analyzer
                    .submit(frame)
                    .with_context(|| format!("inference failed on frame {}", summary.frames + 1))?;
                continue;
            }
        }
        if analyzer.pending() > 0 {
            match analyzer.complete(&mut events) {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    return Err(e).with_context(|| format!("inference failed on frame {}", analyzer.last_number()));
                }
                None => continue,
            }
            summary.frames += 1;
            print(&events, summary)?;
            events.append(&mut motion_events);
            if let Some(writer) = writer.as_deref_mut() {
                writer.frame(analyzer.last_number(), analyzer.last_pts(), analyzer, &events)?;
            }
            events.clear();
            progress.inc(1);
            continue;
        }
        if feeds.detect.done && feeds.detect.pending.is_none() {
            feeds.gray.fill(wait, decode.is_finished());
            if feeds.gray.done && feeds.gray.pending.is_none() {
                break;
            }
        }
    }
    analyzer.finish(&mut events);
    let end = feeds.start.checked_add(last_pts).unwrap_or(feeds.start);
    feeds.motion.finish(last_pts, end, &mut events);
    print(&events, summary)?;
    if let Some(writer) = writer {
        writer.finish(&events)?;
    }
    Ok(())
}

/// A bar when the length is known, a spinner when not; nothing unless stderr
/// is a terminal.
fn progress_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {pos}/{len} frames ({per_sec}, eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} frames ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(200));
    } else {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}

/// A recording's length and frame rate, as GStreamer reads them.
#[derive(Debug, Clone, Copy)]
struct Probed {
    secs: f64,
    fps: f64,
}

impl Probed {
    /// Frames the detect branch will deliver at `fps`: the duration at the
    /// lower of that and the recording's own rate.
    fn frames_at(self, fps: u32) -> u64 {
        (self.secs * self.fps.min(fps as f64)).round() as u64
    }
}

/// The recording's duration and frame rate; `None` if unknown. Only the
/// container is read (parsebin, no decoder): a decoder here would load its
/// libraries and hold a second set of frames before the replay begins.
fn probe(source: &SourcePlan) -> Option<Probed> {
    let pipeline = gst::Pipeline::with_name("replay-probe");
    let parse = gst::ElementFactory::make("parsebin").build().ok()?;
    pipeline.add(&parse).ok()?;
    source.build(&pipeline, &parse).ok()?;
    let rate: Arc<std::sync::Mutex<Option<gst::Fraction>>> = Arc::default();
    {
        let (pipeline, rate) = (pipeline.downgrade(), rate.clone());
        parse.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline.upgrade() else {
                return;
            };
            let Ok(sink) = gst::ElementFactory::make("fakesink").build() else {
                return;
            };
            if pipeline.add(&sink).is_err() {
                return;
            }
            let _ = sink.sync_state_with_parent();
            if let Some(sink_pad) = sink.static_pad("sink") {
                let _ = pad.link(&sink_pad);
            }
            let caps = pad.current_caps().or_else(|| Some(pad.query_caps(None)));
            let fps = caps.as_ref().and_then(|c| c.structure(0)).and_then(|s| {
                s.name()
                    .starts_with("video/")
                    .then(|| s.get::<gst::Fraction>("framerate").ok())
                    .flatten()
            });
            if let Some(fps) = fps {
                rate.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(fps);
            }
        });
    }
    let known = (|| {
        pipeline.set_state(gst::State::Paused).ok()?;
        let (done, _, _) = pipeline.state(gst::ClockTime::from_seconds(5));
        done.ok()?;
        let duration = pipeline.query_duration::<gst::ClockTime>()?;
        let rate = (*rate.lock().unwrap_or_else(|p| p.into_inner()))?;
        let fps = rate.numer() as f64 / rate.denom() as f64;
        let secs = duration.seconds_f64();
        (rate.numer() > 0 && rate.denom() > 0 && secs.is_finite() && secs > 0.0).then_some(Probed { secs, fps })
    })();
    let _ = pipeline.set_state(gst::State::Null);
    known
}
