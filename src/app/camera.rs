//! A camera: its `[[cameras]]` table, its checked plan, and the threads that
//! run it — decode (GStreamer, in [`crate::decode`]), detect (inference →
//! tracking → rules → anonymize → the publisher's queue) and, for a camera
//! with rules that watch pixels, motion ([`super::motion_watch`]).
//!
//! Each camera has its own threads and its own frame slot, so a camera that
//! fails or stalls never delays another; the only things cameras share are a
//! model's inference service (which batches their frames) and the alert
//! queue, which never blocks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use toml::Spanned;

use super::analysis::FrameAnalyzer;
use super::metrics::AnalysisHooks;
use super::motion_watch::MotionWorker;
use super::snapshot::{SnapshotJob, Snapshots};
use crate::anonymize;
use crate::anonymize::privacy::{self, CameraPrivacyConfig, CameraPrivacyPlan};
use crate::config::Ctx;
use crate::config::de::{Node, array_items, from_node, from_table_without};
use crate::config::diag::{Diagnostics, SourceFile};
use crate::decode::{
    self, DecodeConfig, DecodeError, DecodePlan, Delivery, DetectConfig, DetectPlan, FrameSlot, GrayBranch, Stream,
    StreamSpec, Taken,
};
use crate::infer::motion::{MotionConfig, MotionPlan};
use crate::infer::{self, Detection, ModelPlan, ModelService};
use crate::publish::{Outbox, Topics};
use crate::rules::{self, EventKind, IncidentEvent, RuleConfig, RulePlan, Target, Zone, ZoneConfig, thrown_object};
use crate::source::{self, SourceConfig, SourcePlan};
use crate::track::{self, TrackConfig, TrackPlan};

/// The sub-tables of `[[cameras]]`, each read by its own component.
const SUB_TABLES: &[&str] = &[
    "source", "decode", "detect", "motion", "track", "privacy", "zones", "rules",
];

/// The keys of `[[cameras]]` itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraHeader {
    /// Unique name, used in topics and logs, e.g. "north-gate".
    name: Spanned<String>,
}

/// One `[[cameras]]` table, as written.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    pub name: Spanned<String>,
    pub span: std::ops::Range<usize>,
    pub source: Option<SourceConfig>,
    pub decode: Option<DecodeConfig>,
    pub detect: Option<DetectConfig>,
    pub motion: Option<MotionConfig>,
    pub track: Option<TrackConfig>,
    pub privacy: Option<CameraPrivacyConfig>,
    pub zones: Vec<ZoneConfig>,
    /// Every zone name written, valid or not, so a rule naming a zone that
    /// failed its own check is not reported a second time.
    pub zone_names: Vec<String>,
    pub rules: Vec<RuleConfig>,
    /// How many rule tables were written, loaded or not.
    pub rules_written: usize,
    /// Some part failed to load (already reported); the camera cannot run.
    pub incomplete: bool,
}

/// Reads one camera table, each part on its own so every problem is reported.
/// A part that fails is left out and the camera marked incomplete; the rest
/// is still checked.
pub fn load(file: &SourceFile, node: &Node<'_>, diags: &mut Diagnostics) -> Option<CameraConfig> {
    let before = diags.len();
    let (header, parts) = from_table_without::<CameraHeader>(file, node, SUB_TABLES, diags);
    let mut config = CameraConfig {
        name: header?.name,
        span: node.span(),
        source: None,
        decode: None,
        detect: None,
        motion: None,
        track: None,
        privacy: None,
        zones: Vec::new(),
        zone_names: Vec::new(),
        rules: Vec::new(),
        rules_written: 0,
        incomplete: false,
    };
    for (key, part) in &parts {
        match key.as_str() {
            "source" => config.source = from_node(file, part, diags),
            "decode" => config.decode = from_node(file, part, diags),
            "detect" => config.detect = from_node(file, part, diags),
            "track" => config.track = from_node(file, part, diags),
            "motion" => config.motion = from_node(file, part, diags),
            "privacy" => config.privacy = from_node(file, part, diags),
            "zones" => {
                for zone in array_items(file, part, "cameras.zones", diags) {
                    let name = zone.get_ref().as_table().and_then(|t| t.get("name"));
                    config
                        .zone_names
                        .extend(name.and_then(|n| n.get_ref().as_str()).map(str::to_string));
                    config.zones.extend(from_node::<ZoneConfig>(file, zone, diags));
                }
            }
            "rules" => {
                let items = array_items(file, part, "cameras.rules", diags);
                config.rules_written = items.len();
                config.rules = items.iter().filter_map(|r| rules::load_rule(file, r, diags)).collect();
            }
            _ => {}
        }
    }
    for (key, example) in [("source", "url = \"rtsp://…\""), ("detect", "model = \"coco\"")] {
        if !parts.iter().any(|(k, _)| k == key) {
            let name = config.name.get_ref();
            diags.error(
                file,
                Some(node.span()),
                format!("camera `{name}` has no [cameras.{key}] table; add one with {example}"),
            );
        }
    }
    config.incomplete = diags.len() != before;
    Some(config)
}

/// A checked camera.
#[derive(Debug, Clone)]
pub struct CameraPlan {
    pub name: Arc<str>,
    pub source: SourcePlan,
    pub decode: DecodePlan,
    pub detect: DetectPlan,
    pub motion: MotionPlan,
    pub track: TrackPlan,
    pub privacy: CameraPrivacyPlan,
    pub zones: Vec<Arc<Zone>>,
    pub rules: Vec<Arc<RulePlan>>,
}

/// Checks a camera against the models; every problem goes to `ctx`.
pub fn check(
    config: &CameraConfig,
    models: &BTreeMap<String, Arc<ModelPlan>>,
    model_names: &[String],
    has_face_model: bool,
    ctx: &mut Ctx<'_>,
) -> Option<CameraPlan> {
    let name = ctx.identifier(&config.name, "camera name");
    let camera = config.name.get_ref().as_str();
    let source = config.source.as_ref().and_then(|s| source::check(camera, s, ctx));
    let decode = decode::check_decode(camera, config.decode.as_ref().unwrap_or(&DecodeConfig::default()), ctx);
    let detect = config
        .detect
        .as_ref()
        .and_then(|d| decode::check_detect(camera, d, models, model_names, ctx));
    let motion = infer::motion::check(config.motion.as_ref().unwrap_or(&MotionConfig::default()), ctx);
    let track = match &config.track {
        Some(t) => track::check(t, ctx),
        None => Some(TrackPlan::default()),
    };
    let mut zones: Vec<Arc<Zone>> = Vec::new();
    for zone in &config.zones {
        if zones.iter().any(|z| z.name.as_ref() == zone.name.get_ref()) {
            ctx.error(
                zone.name.span(),
                format!("zone `{}` is defined twice on camera `{camera}`", zone.name.get_ref()),
            );
            continue;
        }
        if let Some(zone) = rules::zone::check(camera, zone, ctx) {
            zones.push(Arc::new(zone));
        }
    }
    let model_name = config
        .detect
        .as_ref()
        .map(|d| d.model.get_ref().clone())
        .unwrap_or_default();
    let labels = models.get(&model_name).map(|m| m.labels());
    let privacy = privacy::check_camera(
        camera,
        config.privacy.as_ref().unwrap_or(&CameraPrivacyConfig::default()),
        labels,
        ctx,
    );
    let mut rule_plans = Vec::new();
    for rule in &config.rules {
        if rule_plans
            .iter()
            .any(|r: &Arc<RulePlan>| r.name.as_ref() == rule.common.name.get_ref())
        {
            ctx.error(
                rule.common.name.span(),
                format!(
                    "rule `{}` is defined twice on camera `{camera}`",
                    rule.common.name.get_ref()
                ),
            );
            continue;
        }
        if let Some(plan) = rules::check_rule(camera, rule, &zones, &config.zone_names, labels, &model_name, ctx) {
            rule_plans.push(Arc::new(plan));
        }
    }
    if let Some(p) = &privacy
        && p.redact.faces
        && !has_face_model
    {
        for rule in config.rules.iter().filter(|r| *r.common.snapshot.get_ref()) {
            ctx.error(
                rule.common.snapshot.span(),
                format!(
                    "rule `{}` on camera `{camera}` publishes snapshots, whose faces must be redacted, but no face model \
                     is set: add [privacy] face_model = \"<a [models] entry using centerface.toml>\", or leave \
                     \"faces\" out of [cameras.privacy] redact",
                    rule.common.name.get_ref()
                ),
            );
        }
    }
    if config.rules_written == 0 {
        ctx.error(
            config.span.clone(),
            format!(
                "camera `{camera}` has no rules, so it could never raise an incident; add a [[cameras.rules]] table"
            ),
        );
    }
    if config.incomplete || rule_plans.len() != config.rules.len() || zones.len() != config.zone_names.len() {
        return None;
    }
    Some(CameraPlan {
        name: Arc::from(name?),
        source: source?,
        decode: decode?,
        detect: detect?,
        motion: motion?,
        track: track?,
        privacy: privacy?,
        zones,
        rules: rule_plans,
    })
}

/// Live counters of a running camera.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Frames run through the detector.
    pub inferred: AtomicU64,
    /// Frames the motion gate let pass without inference.
    pub skipped: AtomicU64,
    /// Incident events raised.
    pub events: AtomicU64,
}

/// The motion branch `plan`'s rules need: None when no rule watches pixels.
pub fn gray_branch(plan: &CameraPlan) -> Option<GrayBranch> {
    let fps = rules::motion_fps(plan.rules.iter().map(|r| &**r));
    (fps > 0.0).then(|| GrayBranch {
        fps: fps.ceil() as u32,
        width: thrown_object::ANALYSIS_WIDTH,
    })
}

/// A running camera.
pub struct Camera {
    pub name: Arc<str>,
    pub stream: Arc<Stream>,
    pub slot: Arc<FrameSlot>,
    pub stats: Arc<CameraStats>,
    decode: JoinHandle<Result<(), DecodeError>>,
    detect: JoinHandle<()>,
    /// The motion thread, for a camera whose rules watch pixels.
    motion: Option<(JoinHandle<()>, mpsc::Sender<CameraPlan>)>,
    /// New rules and zones for the detect thread (a config reload).
    rules: mpsc::Sender<CameraPlan>,
}

/// What every camera shares.
#[derive(Clone)]
pub struct Shared {
    /// One inference service per model, shared by the cameras that use it.
    pub models: BTreeMap<String, Arc<ModelService>>,
    pub outbox: Arc<Outbox>,
    pub topics: Topics,
    /// Where redacted snapshots are made.
    pub snapshots: Snapshots,
}

impl Camera {
    /// Starts the camera's decode and detect threads.
    pub fn start(plan: &CameraPlan, shared: &Shared, cancel: CancellationToken) -> std::io::Result<Self> {
        Self::start_with(plan, shared, cancel, None)
    }

    /// Starts the camera with its analyzer recording through `hooks`.
    pub fn start_with(
        plan: &CameraPlan,
        shared: &Shared,
        cancel: CancellationToken,
        hooks: Option<AnalysisHooks>,
    ) -> std::io::Result<Self> {
        let model = &plan.detect.model;
        let delivery = if plan.source.is_live() {
            Delivery::Latest
        } else {
            Delivery::Every
        };
        let slot = Arc::new(FrameSlot::new(delivery));
        let stats = Arc::new(CameraStats::default());
        let gray = gray_branch(plan);
        let spec = StreamSpec {
            camera: plan.name.clone(),
            source: plan.source.clone(),
            width: model.manifest.input.width,
            height: model.manifest.input.height,
            resize: model.manifest.input.resize,
            fps: plan.detect.fps,
            decoder: plan.decode.decoder.clone(),
            stall: plan.decode.stall,
            retry_initial: plan.decode.retry_initial,
            retry_max: plan.decode.retry_max,
            masks: plan.privacy.masks.clone(),
            gray,
        };
        let gray_slot = gray.map(|_| Arc::new(FrameSlot::new(delivery)));
        let mut stream = Stream::new(spec, slot.clone());
        if let Some(gray_slot) = &gray_slot {
            stream = stream.with_gray_slot(gray_slot.clone());
        }
        let stream = Arc::new(stream);
        let decode = {
            let cancel = cancel.clone();
            let name = plan.name.clone();
            let stream = stream.clone();
            std::thread::Builder::new()
                .name(format!("decode-{name}"))
                .spawn(move || {
                    let result = stream.run(&cancel);
                    if let Err(e) = &result {
                        tracing::error!(camera = %name, error = %e, "camera stopped");
                    }
                    result
                })?
        };
        let client = shared
            .models
            .get(&model.key)
            .map(|service| service.client())
            .ok_or_else(|| std::io::Error::other(format!("model `{}` was not loaded", model.key)))?;
        let alerts = Alerts {
            camera: plan.name.clone(),
            stream: stream.clone(),
            snapshots: shared.snapshots.clone(),
            snapshot_rules: plan
                .rules
                .iter()
                .filter(|r| r.snapshot)
                .map(|r| r.name.clone())
                .collect(),
            privacy: Arc::new(plan.privacy.clone()),
            decode: plan.decode.clone(),
            outbox: shared.outbox.clone(),
            topics: shared.topics.clone(),
            stats: stats.clone(),
            scene: gray.map(|_| Arc::default()),
        };
        let motion = match gray_slot {
            Some(gray_slot) => {
                let (rules, updates) = mpsc::channel();
                let worker = MotionWorker::new(plan, gray_slot, alerts.clone(), updates, cancel.clone());
                let thread = std::thread::Builder::new()
                    .name(format!("motion-{}", plan.name))
                    .spawn(move || worker.run())?;
                Some((thread, rules))
            }
            None => None,
        };
        let (rules, updates) = mpsc::channel();
        let worker = DetectWorker {
            camera: plan.name.clone(),
            slot: slot.clone(),
            analyzer: FrameAnalyzer::new(plan, client).with_hooks(hooks),
            updates,
            alerts,
            stats: stats.clone(),
            cancel,
        };
        let detect = std::thread::Builder::new()
            .name(format!("detect-{}", plan.name))
            .spawn(move || worker.run())?;
        Ok(Self {
            name: plan.name.clone(),
            stream,
            slot,
            stats,
            decode,
            detect,
            motion,
            rules,
        })
    }

    pub fn is_finished(&self) -> bool {
        self.decode.is_finished()
            && self.detect.is_finished()
            && self.motion.as_ref().is_none_or(|(m, _)| m.is_finished())
    }

    /// Whether the decode and the detect thread are still running.
    pub fn threads_running(&self) -> (bool, bool) {
        (!self.decode.is_finished(), !self.detect.is_finished())
    }

    /// Hands the rules and zones of `plan` to the detect (and motion)
    /// thread, which take them before their next frame. False if a thread
    /// has ended.
    pub fn update_rules(&self, plan: CameraPlan) -> bool {
        let motion = self.motion.as_ref().is_none_or(|(_, tx)| tx.send(plan.clone()).is_ok());
        self.rules.send(plan).is_ok() && motion
    }

    /// Waits for every thread; the decode result says whether the camera failed.
    pub fn join(self) -> Result<(), DecodeError> {
        let _ = self.detect.join();
        if let Some((motion, _)) = self.motion {
            let _ = motion.join();
        }
        self.decode.join().unwrap_or(Ok(()))
    }
}

/// The detect thread of one camera.
struct DetectWorker {
    camera: Arc<str>,
    slot: Arc<FrameSlot>,
    analyzer: FrameAnalyzer,
    updates: mpsc::Receiver<CameraPlan>,
    alerts: Alerts,
    stats: Arc<CameraStats>,
    cancel: CancellationToken,
}

impl DetectWorker {
    fn run(mut self) {
        let mut events: Vec<IncidentEvent> = Vec::new();
        let mut last_error: Option<String> = None;
        loop {
            while let Ok(plan) = self.updates.try_recv() {
                self.analyzer.replace_rules(&plan, &mut events);
                tracing::info!(camera = %self.camera, rules = plan.rules.len(), zones = plan.zones.len(), "rules and zones replaced");
                self.alerts.send(&mut events, self.analyzer.last_detections());
            }
            match self.slot.take(Duration::from_millis(200)) {
                Taken::Frame(frame) => match self.analyzer.process(&frame, &mut events) {
                    Ok(outcome) => {
                        last_error = None;
                        let counter = if outcome.verdict.infer() {
                            &self.stats.inferred
                        } else {
                            &self.stats.skipped
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        self.alerts.remember_scene(self.analyzer.last_detections());
                    }
                    Err(e) => {
                        let text = e.to_string();
                        if last_error.as_deref() != Some(&text) {
                            tracing::error!(camera = %self.camera, error = %text, "inference failed");
                            last_error = Some(text);
                        }
                    }
                },
                Taken::Empty if !self.cancel.is_cancelled() => continue,
                Taken::Empty | Taken::Closed => {
                    self.analyzer.finish(&mut events);
                    self.alerts.send(&mut events, self.analyzer.last_detections());
                    return;
                }
            }
            self.alerts.send(&mut events, self.analyzer.last_detections());
        }
    }
}

/// Where a camera's incident events go, from whichever of its threads
/// raised them: the outbox first (an event counts as raised once it is
/// there), then, for rules that ask for one, a snapshot.
#[derive(Clone)]
pub(super) struct Alerts {
    pub camera: Arc<str>,
    stream: Arc<Stream>,
    snapshots: Snapshots,
    /// Rules whose incidents are followed by a snapshot.
    snapshot_rules: Vec<Arc<str>>,
    privacy: Arc<CameraPrivacyPlan>,
    decode: DecodePlan,
    outbox: Arc<Outbox>,
    topics: Topics,
    stats: Arc<CameraStats>,
    /// What the detector last saw, for snapshots the motion thread asks for
    /// (the redaction policy covers persons and vehicles from it); only kept
    /// on cameras with a motion thread.
    scene: Option<Arc<std::sync::Mutex<Vec<Detection>>>>,
}

impl Alerts {
    /// Keeps the detector's newest detections for the motion thread's snapshots.
    fn remember_scene(&self, detections: &[Detection]) {
        if let Some(scene) = &self.scene {
            let mut kept = scene.lock().unwrap_or_else(|p| p.into_inner());
            kept.clear();
            kept.extend_from_slice(detections);
        }
    }

    /// The detector's newest detections, as kept by [`Self::remember_scene`].
    pub fn scene(&self) -> Vec<Detection> {
        self.scene
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone())
            .unwrap_or_default()
    }

    /// The newest decoded frame, RGB, at the snapshot size; None (logged) when there is none yet.
    pub fn newest_frame(&self, incident_id: &str) -> Option<gstreamer::Sample> {
        let sample = self.stream.snapshot(self.decode.snapshot_max_width);
        if sample.is_none() {
            tracing::warn!(camera = %self.camera, incident = %incident_id, "no frame for a snapshot");
        }
        sample
    }

    /// Hands pictures to the snapshot worker; the incident is already in
    /// the outbox, so the alert never waits for them. One frame is a
    /// snapshot; several, with a trajectory, a strip.
    pub fn offer_snapshot(
        &self,
        incident_id: String,
        frames: Vec<gstreamer::Sample>,
        scene: Vec<Detection>,
        trajectory: Option<Arc<[rules::TrajectoryPoint]>>,
    ) {
        if frames.is_empty() {
            return;
        }
        self.snapshots.offer(SnapshotJob {
            camera: self.camera.clone(),
            incident_id,
            frames,
            scene,
            trajectory,
            privacy: self.privacy.clone(),
            quality: self.decode.snapshot_quality,
            max_bytes: self.decode.snapshot_max_bytes,
        });
    }

    /// Whether `rule`'s incidents are followed by a snapshot.
    pub fn wants_snapshot(&self, rule: &str) -> bool {
        self.snapshot_rules.iter().any(|r| &**r == rule)
    }

    /// Writes each event to the outbox; it counts as raised once it is there.
    /// A started incident whose rule wants a snapshot gets one of the newest
    /// frame, unless `strip` takes it over (the motion thread's trajectory
    /// strips): then `strip` is told the incident and its targets.
    pub fn send_with(
        &self,
        events: &mut Vec<IncidentEvent>,
        scene: &[Detection],
        mut strip: impl FnMut(&str, &[Target]) -> bool,
    ) {
        for event in events.drain(..) {
            let written = self.outbox.push(
                |seq| anonymize::alert(&self.camera, &event, seq),
                |alert| self.topics.incidents(&alert.camera),
            );
            let alert = match written {
                Ok(alert) => alert,
                Err(e) => {
                    tracing::error!(camera = %self.camera, rule = %event.rule, error = %e, "cannot store an incident event");
                    continue;
                }
            };
            match event.kind {
                EventKind::Start => {
                    tracing::info!(
                        camera = %self.camera, rule = %alert.rule, zone = %alert.zone, labels = ?alert.labels,
                        incident = %alert.incident_id, seq = alert.seq, severity = %alert.severity, "incident raised"
                    );
                    if self.wants_snapshot(&event.rule) && !strip(&alert.incident_id, &event.targets) {
                        let frames = self.newest_frame(&alert.incident_id).into_iter().collect();
                        self.offer_snapshot(alert.incident_id.clone(), frames, scene.to_vec(), None);
                    }
                }
                EventKind::End => tracing::info!(
                    camera = %self.camera, rule = %alert.rule, zone = %alert.zone, incident = %alert.incident_id,
                    seq = alert.seq, "incident ended"
                ),
                EventKind::Update => {}
            }
            self.stats.events.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`Self::send_with`] with a plain snapshot for every started incident.
    pub fn send(&self, events: &mut Vec<IncidentEvent>, scene: &[Detection]) {
        self.send_with(events, scene, |_, _| false);
    }
}
