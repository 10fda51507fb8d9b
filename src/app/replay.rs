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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::analysis::FrameAnalyzer;
use super::camera::CameraPlan;
use super::snapshot::Redactor;
use crate::anonymize;
use crate::anonymize::privacy::CameraPrivacyPlan;
use crate::anonymize::redact::{self, Mark, RedactedImage};
use crate::config::Plan;
use crate::decode::pipeline::{attach_decoder, snapshot_size};
use crate::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken, mask};
use crate::infer::{Detection, Detector, ModelService, runtime};
use crate::rules::zone::Shape;
use crate::rules::{EventKind, IncidentEvent};
use crate::source::SourcePlan;
use crate::track::Track;

/// Exit status for a config that failed its check, or a camera it lacks.
const EXIT_CONFIG: u8 = 2;
/// Tiles on a contact sheet, at most, and the size of each.
const SHEET_TILES: usize = 12;
const SHEET_COLUMNS: usize = 4;
const TILE_WIDTH: usize = 384;
const TILE_HEIGHT: usize = 288;
/// Written JPEGs stay on the box: a generous cap.
const JPEG_MAX_BYTES: usize = 8 << 20;

const ZONE_COLOUR: [u8; 3] = [255, 210, 0];
const LINE_COLOUR: [u8; 3] = [0, 200, 255];
const TRACK_COLOUR: [u8; 3] = [0, 230, 60];
const INCIDENT_COLOUR: [u8; 3] = [255, 40, 40];
const DETECTION_COLOUR: [u8; 3] = [200, 200, 200];

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
}

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
    let plan = match crate::config::load(&args.config) {
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
    let stdout = std::io::stdout();
    match replay(&plan, camera, &args.recording, args.out.as_deref(), &mut stdout.lock()) {
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
/// event to `events_out` as a JSON line and, with `out`, redacted annotated
/// pictures under that folder.
pub fn replay(
    plan: &Plan,
    camera: &CameraPlan,
    recording: &Path,
    out: Option<&Path>,
    events_out: &mut dyn std::io::Write,
) -> anyhow::Result<ReplaySummary> {
    if !recording.is_file() {
        anyhow::bail!("no such file");
    }
    let recording = recording.canonicalize().context("cannot open the recording")?;
    gst::init().context("cannot initialise GStreamer")?;
    let rt = runtime::init(&plan.runtime)?;
    let model = &camera.detect.model;
    let detector = Detector::load(model.clone(), rt, &plan.runtime)
        .with_context(|| format!("cannot load model `{}`", model.key))?;
    let service = ModelService::spawn(detector).with_context(|| format!("cannot start model `{}`", model.key))?;

    let input = &model.manifest.input;
    let spec = StreamSpec {
        camera: camera.name.clone(),
        source: SourcePlan::file(recording.clone(), false, false),
        width: input.width,
        height: input.height,
        resize: input.resize,
        fps: camera.detect.fps,
        decoder: camera.decode.decoder.clone(),
        stall: camera.decode.stall,
        retry_initial: camera.decode.retry_initial,
        retry_max: camera.decode.retry_max,
        masks: camera.privacy.masks.clone(),
    };
    let mut writer = match out {
        Some(dir) => Some(FrameWriter::open(plan, camera, &spec, dir)?),
        None => None,
    };
    let progress = progress_bar(expected_frames(&spec.source, spec.fps));

    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let cancel = CancellationToken::new();
    let decode = {
        let (slot, cancel, spec) = (slot.clone(), cancel.clone(), spec.clone());
        std::thread::Builder::new()
            .name(format!("decode-{}", camera.name))
            .spawn(move || Stream::new(spec, slot).run(&cancel))?
    };
    let mut analyzer = FrameAnalyzer::new(camera, service.client());
    let mut summary = ReplaySummary::default();
    let analysed = analyse(
        camera,
        &slot,
        &decode,
        &mut analyzer,
        writer.as_mut(),
        &progress,
        events_out,
        &mut summary,
    );
    cancel.cancel();
    slot.close();
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

#[allow(clippy::too_many_arguments)]
fn analyse(
    camera: &CameraPlan,
    slot: &FrameSlot,
    decode: &std::thread::JoinHandle<Result<(), crate::decode::DecodeError>>,
    analyzer: &mut FrameAnalyzer,
    mut writer: Option<&mut FrameWriter>,
    progress: &ProgressBar,
    events_out: &mut dyn std::io::Write,
    summary: &mut ReplaySummary,
) -> anyhow::Result<()> {
    let mut events: Vec<IncidentEvent> = Vec::new();
    let mut seq = 0u64;
    let mut print = |events: &[IncidentEvent], summary: &mut ReplaySummary| -> anyhow::Result<()> {
        for event in events {
            seq += 1;
            let alert = anonymize::alert(&camera.name, event, seq);
            writeln!(events_out, "{}", serde_json::to_string(&alert)?).context("cannot write to stdout")?;
            summary.events += 1;
        }
        events_out.flush().context("cannot write to stdout")?;
        Ok(())
    };
    loop {
        let frame = match slot.take(Duration::from_millis(200)) {
            Taken::Frame(frame) => frame,
            Taken::Empty if !decode.is_finished() => continue,
            Taken::Empty | Taken::Closed => break,
        };
        analyzer
            .process(&frame, &mut events)
            .with_context(|| format!("inference failed on frame {}", frame.number))?;
        summary.frames += 1;
        print(&events, summary)?;
        if let Some(writer) = writer.as_deref_mut() {
            writer.frame(frame.number, frame.pts, analyzer, &events)?;
        }
        events.clear();
        progress.inc(1);
    }
    analyzer.finish(&mut events);
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

/// Frames the detect branch will deliver: the recording's duration at the
/// lower of the detect fps and its own frame rate. `None` if unknown.
fn expected_frames(source: &SourcePlan, fps: u32) -> Option<u64> {
    let playbin = gst::ElementFactory::make("playbin").build().ok()?;
    let video = gst::ElementFactory::make("fakesink").build().ok()?;
    let audio = gst::ElementFactory::make("fakesink").build().ok()?;
    playbin.set_property("uri", source.uri.as_str());
    playbin.set_property("video-sink", &video);
    playbin.set_property("audio-sink", &audio);
    let known = (|| {
        playbin.set_state(gst::State::Paused).ok()?;
        let (done, _, _) = playbin.state(gst::ClockTime::from_seconds(5));
        done.ok()?;
        let duration = playbin.query_duration::<gst::ClockTime>()?;
        let caps = video.static_pad("sink")?.current_caps()?;
        let rate = gst_video::VideoInfo::from_caps(&caps).ok()?.fps();
        let source_fps = if rate.numer() > 0 && rate.denom() > 0 {
            rate.numer() as f64 / rate.denom() as f64
        } else {
            fps as f64
        };
        let frames = duration.seconds_f64() * source_fps.min(fps as f64);
        (frames.is_finite() && frames > 0.0).then(|| frames.round() as u64)
    })();
    let _ = playbin.set_state(gst::State::Null);
    known
}

/// Writes the redacted, annotated pictures of `--out`.
struct FrameWriter {
    frames_dir: PathBuf,
    incidents_dir: PathBuf,
    full: FullFrames,
    redactor: Redactor,
    /// Keeps the face model's service alive while the redactor uses it.
    _faces: Option<ModelService>,
    policy: CameraPrivacyPlan,
    zones: Vec<Mark>,
    max_width: u32,
    quality: u8,
    /// Open incidents: their contact sheet so far and the tracks they involve.
    open: BTreeMap<Uuid, (Sheet, Vec<u64>)>,
    frames_written: u64,
    sheets_written: u64,
    /// Frames with something to show that could not be written.
    unwritten: u64,
}

impl FrameWriter {
    fn open(plan: &Plan, camera: &CameraPlan, spec: &StreamSpec, dir: &Path) -> anyhow::Result<Self> {
        let frames_dir = dir.join("frames");
        let incidents_dir = dir.join("incidents");
        for d in [&frames_dir, &incidents_dir] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let mut policy = camera.privacy.clone();
        let faces = match &plan.privacy.face_model {
            Some(model) if policy.redact.faces => {
                let rt = runtime::init(&plan.runtime)?;
                let detector = Detector::load(model.clone(), rt, &plan.runtime)
                    .with_context(|| format!("cannot load the face model `{}`", model.key))?;
                Some(ModelService::spawn(detector)?)
            }
            _ => None,
        };
        if policy.redact.faces && faces.is_none() {
            policy.redact.faces = false;
            if !policy.redact.persons {
                policy.redact.heads = true;
            }
            tracing::warn!(
                camera = %camera.name,
                "no [privacy] face_model is set: frames written to --out cover the head of every detected person \
                 instead of searching for faces"
            );
        }
        let mut zones = Vec::new();
        for zone in &camera.zones {
            let (points, colour, closed) = match &zone.shape {
                Shape::Polygon(p) => (p.points(), ZONE_COLOUR, true),
                Shape::Line(l) => (l.points(), LINE_COLOUR, false),
            };
            let n = points.len();
            let segments = if closed { n } else { n.saturating_sub(1) };
            for i in 0..segments {
                let (a, b) = (points[i], points[(i + 1) % n]);
                zones.push(Mark::Line {
                    from: [a.x, a.y],
                    to: [b.x, b.y],
                    colour,
                });
            }
        }
        Ok(Self {
            frames_dir,
            incidents_dir,
            full: FullFrames::open(spec).map_err(|e| anyhow::anyhow!("cannot open the recording for --out: {e}"))?,
            redactor: Redactor::new(faces.as_ref()),
            _faces: faces,
            policy,
            zones,
            max_width: camera.decode.snapshot_max_width,
            quality: camera.decode.snapshot_quality,
            open: BTreeMap::new(),
            frames_written: 0,
            sheets_written: 0,
            unwritten: 0,
        })
    }

    /// Writes the frame if something is in sight or an incident is open, and
    /// adds it to the contact sheet of every open incident.
    fn frame(
        &mut self,
        number: u64,
        pts: Duration,
        analyzer: &FrameAnalyzer,
        events: &[IncidentEvent],
    ) -> anyhow::Result<()> {
        let mut ended = Vec::new();
        for event in events {
            let ids: Vec<u64> = event.targets.iter().map(|t| t.track_id).collect();
            match event.kind {
                EventKind::Start => {
                    self.open.insert(event.incident_id, (Sheet::default(), ids));
                }
                EventKind::Update => {
                    if let Some(open) = self.open.get_mut(&event.incident_id) {
                        open.1 = ids;
                    }
                }
                EventKind::End => ended.push(event.incident_id),
            }
        }
        let tracks = analyzer.tracks();
        let detections = analyzer.last_detections();
        let busy = !self.open.is_empty() || !detections.is_empty() || tracks.iter().any(|t| !t.lost);
        if busy {
            match self.render(pts, detections, tracks) {
                Some(image) => {
                    let path = self.frames_dir.join(format!("{number:06}.jpg"));
                    write_jpeg(&image, self.quality, &path)?;
                    self.frames_written += 1;
                    let label = format!("{:.1}", pts.as_secs_f64());
                    for (sheet, _) in self.open.values_mut() {
                        sheet.offer(&image, &label);
                    }
                }
                None => self.unwritten += 1,
            }
        }
        for id in ended {
            self.close(id)?;
        }
        Ok(())
    }

    /// Closes the incidents the end of the recording ended.
    fn finish(&mut self, events: &[IncidentEvent]) -> anyhow::Result<()> {
        for event in events.iter().filter(|e| e.kind == EventKind::End) {
            self.close(event.incident_id)?;
        }
        if self.unwritten > 0 {
            tracing::warn!(
                frames = self.unwritten,
                "frames with something in sight were not written: no full frame matched, or redaction failed"
            );
        }
        Ok(())
    }

    fn close(&mut self, id: Uuid) -> anyhow::Result<()> {
        let Some((sheet, _)) = self.open.remove(&id) else {
            return Ok(());
        };
        if let Some(image) = sheet.finish() {
            write_jpeg(&image, self.quality, &self.incidents_dir.join(format!("{id}.jpg")))?;
            self.sheets_written += 1;
        }
        Ok(())
    }

    /// The full frame at `pts`, redacted by the policy, then annotated.
    /// `None` (logged) when there is no matching frame or redaction fails:
    /// nothing is written rather than something unredacted.
    fn render(&mut self, pts: Duration, detections: &[Detection], tracks: &[Track]) -> Option<RedactedImage> {
        let sample = self.full.at(pts)?;
        let sample = cap_width(&sample, self.max_width)?;
        // Everyone the detector or the tracker knows of is covered by the policy.
        let mut scene: Vec<Detection> = detections.to_vec();
        scene.extend(tracks.iter().map(|t| Detection {
            label: t.label,
            score: t.score,
            bbox: t.bbox,
        }));
        let redacted = match self.redactor.redact(&sample, &scene, &self.policy) {
            Ok(image) => image,
            Err(reason) => {
                tracing::warn!(%reason, "frame not written: redaction could not be completed");
                return None;
            }
        };
        let mut marks = self.zones.clone();
        marks.extend(detections.iter().map(|d| Mark::Rect {
            bbox: d.bbox,
            colour: DETECTION_COLOUR,
        }));
        for track in tracks.iter().filter(|t| !t.lost) {
            let involved = self.open.values().any(|(_, ids)| ids.contains(&track.id));
            let colour = if involved { INCIDENT_COLOUR } else { TRACK_COLOUR };
            marks.push(Mark::Rect {
                bbox: track.bbox,
                colour,
            });
            marks.push(Mark::Text {
                at: [track.bbox.x1.max(0.0), (track.bbox.y1 - 0.035).max(0.0)],
                text: track.id.to_string(),
                colour,
            });
        }
        Some(redacted.annotate(&marks))
    }
}

fn write_jpeg(image: &RedactedImage, quality: u8, path: &Path) -> anyhow::Result<()> {
    let jpeg = image
        .to_jpeg(quality, JPEG_MAX_BYTES)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    std::fs::write(path, jpeg.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// The sample scaled down to `max_width` if wider.
fn cap_width(sample: &gst::Sample, max_width: u32) -> Option<gst::Sample> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    if info.width() <= max_width {
        return Some(sample.clone());
    }
    let (w, h) = snapshot_size(info.width(), info.height(), max_width);
    let caps = gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::Rgb)
        .width(w as i32)
        .height(h as i32)
        .build();
    gst_video::convert_sample(sample, &caps, Some(gst::ClockTime::from_seconds(5))).ok()
}

/// The pictures of one incident, evenly spread over its life: every frame is
/// offered, one in `stride` kept, and the stride doubles whenever twice the
/// sheet's tiles have been kept; the last frame offered is always kept.
#[derive(Default)]
struct Sheet {
    tiles: Vec<RedactedImage>,
    last: Option<RedactedImage>,
    seen: u64,
    stride: u64,
}

impl Sheet {
    fn offer(&mut self, image: &RedactedImage, label: &str) {
        let stride = self.stride.max(1);
        let tile = image.thumbnail(TILE_WIDTH, TILE_HEIGHT).annotate(&[Mark::Text {
            at: [0.01, 0.01],
            text: label.to_string(),
            colour: [255, 255, 255],
        }]);
        if self.seen % stride == 0 {
            self.tiles.push(tile);
            self.last = None;
        } else {
            self.last = Some(tile);
        }
        self.seen += 1;
        if self.tiles.len() >= 2 * SHEET_TILES {
            let mut i = 0;
            self.tiles.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride = stride * 2;
        }
    }

    fn finish(self) -> Option<RedactedImage> {
        let mut all = self.tiles;
        all.extend(self.last);
        let n = all.len();
        let picked: Vec<RedactedImage> = if n <= SHEET_TILES {
            all
        } else {
            let wanted: Vec<usize> = (0..SHEET_TILES).map(|k| k * (n - 1) / (SHEET_TILES - 1)).collect();
            all.into_iter()
                .enumerate()
                .filter(|(i, _)| wanted.contains(i))
                .map(|(_, t)| t)
                .collect()
        };
        redact::contact_sheet(&picked, SHEET_COLUMNS)
    }
}

/// A second pipeline over the recording: the same decoder choice, privacy
/// masks and rate limiting as the camera's, ending in full-resolution RGB
/// frames that are pulled in step with the analysed ones.
struct FullFrames {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    /// A frame pulled ahead of the one asked for.
    pending: Option<gst::Sample>,
    /// The pipeline ended or failed: no more frames.
    done: bool,
}

impl FullFrames {
    fn open(spec: &StreamSpec) -> Result<Self, String> {
        let make = |factory: &str| {
            gst::ElementFactory::make(factory)
                .build()
                .map_err(|_| format!("GStreamer element `{factory}` is missing"))
        };
        let pipeline = gst::Pipeline::with_name("replay-frames");
        let parse = make("parsebin")?;
        pipeline.add(&parse).map_err(|e| e.to_string())?;
        spec.source.build(&pipeline, &parse)?;
        let mut chain: Vec<gst::Element> = Vec::new();
        if !spec.masks.is_empty() {
            chain.extend(mask::elements(&spec.masks).map_err(|e| e.to_string())?);
        }
        let rate = make("videorate")?;
        rate.set_property("drop-only", true);
        rate.set_property("max-rate", spec.fps.clamp(1, i32::MAX as u32) as i32);
        chain.push(rate);
        chain.push(make("videoconvert")?);
        let caps = gst_video::VideoCapsBuilder::new()
            .format(gst_video::VideoFormat::Rgb)
            .build();
        let sink = gst_app::AppSink::builder()
            .caps(&caps)
            .sync(false)
            .max_buffers(2)
            .drop(false)
            .build();
        chain.push(sink.clone().upcast());
        pipeline.add_many(chain.iter()).map_err(|e| e.to_string())?;
        gst::Element::link_many(chain.iter()).map_err(|e| e.to_string())?;
        attach_decoder(
            &pipeline,
            &parse,
            &chain[0],
            spec.camera.clone(),
            spec.decoder.clone(),
            None,
        );
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| "the pipeline refused to start".to_string())?;
        Ok(Self {
            pipeline,
            sink,
            pending: None,
            done: false,
        })
    }

    /// The frame stamped `pts`, skipping older ones; `None` if there is none.
    fn at(&mut self, pts: Duration) -> Option<gst::Sample> {
        const SLACK_NS: u64 = 500_000;
        let want = pts.as_nanos() as u64;
        loop {
            let sample = match self.pending.take() {
                Some(sample) => sample,
                None if self.done => return None,
                None => match self.sink.try_pull_sample(gst::ClockTime::from_seconds(30)) {
                    Some(sample) => sample,
                    None => {
                        self.done = true;
                        tracing::warn!("the full-resolution frames of the recording ended early or failed");
                        return None;
                    }
                },
            };
            let Some(at) = sample.buffer().and_then(|b| b.pts()).map(gst::ClockTime::nseconds) else {
                continue;
            };
            if at + SLACK_NS < want {
                continue;
            }
            if at > want + SLACK_NS {
                self.pending = Some(sample);
                return None;
            }
            return Some(sample);
        }
    }
}

impl Drop for FullFrames {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
