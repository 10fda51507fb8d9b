//! The pictures `watchpost replay --out` writes: annotated frames and a
//! contact sheet per incident, each a [`RedactedImage`] from the camera's
//! privacy policy before anything is drawn on it, and the second pipeline
//! that supplies full-resolution frames matched to the analysed ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use uuid::Uuid;

use crate::anonymize::privacy::CameraPrivacyPlan;
use crate::anonymize::redact::{self, Mark, RedactedImage};
use crate::anonymize::{Closer, Picture, Redactor};
use crate::app::analysis::FrameAnalyzer;
use crate::decode::decoder::attach_decoder;
use crate::decode::limit::{self, MaxSize, Refusal};
use crate::decode::{DecodeError, StreamSpec, convert, mask};
use crate::infer::{Detector, ModelService, runtime};
use crate::plan::{CameraPlan, Plan};
use crate::rules::zone::Shape;
use crate::rules::{EventKind, IncidentEvent};
use crate::track::Track;
use crate::vocab::Detection;

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

/// Writes the redacted, annotated pictures of `--out`.
pub(super) struct FrameWriter {
    frames_dir: PathBuf,
    incidents_dir: PathBuf,
    full: FullFrames,
    redactor: Redactor,
    /// Keeps the face model's service alive while the redactor uses it.
    _faces: Option<ModelService>,
    /// The detector's closer look at each picture, as a camera's.
    closer: Option<Closer>,
    policy: CameraPrivacyPlan,
    /// The camera's detect rate.
    fps: u32,
    /// Frames are written redacted but not annotated.
    plain: bool,
    zones: Vec<Mark>,
    max_width: u32,
    quality: u8,
    /// Open incidents: their contact sheet so far and the tracks they involve.
    open: BTreeMap<Uuid, (Sheet, Vec<u64>)>,
    pub(super) frames_written: u64,
    pub(super) sheets_written: u64,
    /// Frames with something to show that could not be written.
    unwritten: u64,
}

impl FrameWriter {
    pub(super) fn open(
        plan: &Plan,
        camera: &CameraPlan,
        spec: &StreamSpec,
        dir: &Path,
        (plain, closer): (bool, Option<Closer>),
    ) -> anyhow::Result<Self> {
        let frames_dir = dir.join("frames");
        let incidents_dir = dir.join("incidents");
        for d in [&frames_dir, &incidents_dir] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let policy = camera.privacy.clone();
        let faces = match &plan.privacy.face_model {
            Some(model) if policy.redact.faces => {
                let rt = runtime::init(&plan.runtime)?;
                let detector = Detector::load(model.clone(), rt, &plan.runtime)
                    .with_context(|| format!("cannot load the face model `{}`", model.key))?;
                Some(ModelService::spawn(detector)?)
            }
            _ => None,
        };
        if let Some(leak) = policy.picture_leak(faces.is_some()) {
            anyhow::bail!("camera `{}`: pictures cannot be written: {leak}", camera.name);
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
            closer,
            policy,
            fps: camera.detect.keys.fps,
            plain,
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
    pub(super) fn frame(
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
            match self.render(pts, (detections, analyzer.cover_detections()), tracks) {
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
    pub(super) fn finish(&mut self, events: &[IncidentEvent]) -> anyhow::Result<()> {
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
            // scaled down, a covered head can look like a face: searched again
            match self.redactor.recheck(image, &self.policy) {
                Ok(image) => {
                    write_jpeg(&image, self.quality, &self.incidents_dir.join(format!("{id}.jpg")))?;
                    self.sheets_written += 1;
                }
                Err(error) => tracing::warn!(incident = %id, %error, "the contact sheet is not written"),
            }
        }
        Ok(())
    }

    /// The full frame at `pts`, redacted by the policy, then annotated.
    /// `None` (logged) when there is no matching frame or redaction fails:
    /// nothing is written rather than something unredacted.
    fn render(
        &mut self,
        pts: Duration,
        (detections, cover): (&[Detection], &[Detection]),
        tracks: &[Track],
    ) -> Option<RedactedImage> {
        let sample = self.full.at(pts)?;
        let sample = convert::capped_rgb(&sample, self.max_width)?;
        // Covered as a camera's pictures are: over what the detector and the
        // tracker saw on this very frame.
        let mut picture = Picture::analysed(sample, &self.policy.labels, self.fps, pts, (cover, tracks));
        if let Some(closer) = self.closer.as_mut()
            && let Err(reason) = picture.look_closer(closer)
        {
            tracing::warn!(%reason, "frame not written: the closer look failed");
            return None;
        }
        let redacted = match self.redactor.redact(&picture, &self.policy) {
            Ok(image) => image,
            Err(reason) => {
                tracing::warn!(%reason, "frame not written: redaction could not be completed");
                return None;
            }
        };
        if self.plain {
            return Some(redacted);
        }
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

pub(super) fn write_jpeg(image: &RedactedImage, quality: u8, path: &Path) -> anyhow::Result<()> {
    let jpeg = image
        .to_jpeg(quality, JPEG_MAX_BYTES)
        .with_context(|| format!("cannot encode {}", path.display()))?;
    std::fs::write(path, jpeg.as_bytes()).with_context(|| format!("cannot write {}", path.display()))
}

/// The pictures of one incident, evenly spread over its life: every frame is
/// offered, one in `stride` kept, and the stride doubles whenever twice the
/// sheet's tiles have been kept; the last frame offered is always kept.
#[derive(Default)]
pub(super) struct Sheet {
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
pub(super) struct FullFrames {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    /// A frame pulled ahead of the one asked for.
    pending: Option<gst::Sample>,
    /// The pipeline ended or failed: no more frames.
    done: bool,
    /// What refuses a picture above `[cameras.decode] max_width/max_height`.
    refusal: Arc<Refusal>,
    camera: Arc<str>,
    max_size: MaxSize,
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
            let unpainted = || tracing::warn!("a full-resolution frame could not be masked, so it is not written");
            chain.extend(mask::elements(&spec.masks, unpainted).map_err(|e| e.to_string())?);
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
        let refusal = limit::guard_pipeline(&parse, &chain[0], spec.max_size);
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
            refusal,
            camera: spec.camera.clone(),
            max_size: spec.max_size,
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
                        if let Some(size) = self.refusal.size() {
                            let refused = DecodeError::TooLarge {
                                camera: self.camera.clone(),
                                size,
                                max: self.max_size,
                            };
                            tracing::warn!(error = %refused, "no full-resolution frames are written");
                            return None;
                        }
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
