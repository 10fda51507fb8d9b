//! `[[cameras]]`: one camera's table as written, each sub-table read by the
//! component it configures (`[cameras.source]` by source, `[cameras.decode]`
//! by decode, `[cameras.detect]` and `[cameras.motion]` by infer,
//! `[cameras.track]` by track, zones and rules by rules, `[cameras.privacy]`
//! by anonymize), and the cross-stage check that turns it into a
//! [`CameraPlan`]: rules against zones and the model's labels, snapshots
//! against the face model. It also builds, once for live cameras and
//! replay alike, the pipeline a camera asks of decode ([`CameraPlan::stream_spec`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::schema::CameraTable;
use crate::anonymize::privacy::{self, CameraPrivacyConfig, CameraPrivacyPlan};
use crate::config::de::{Node, array_items, from_node, from_table_without};
use crate::config::diag::{Diagnostics, SourceFile};
use crate::config::{Checked, Ctx, Spanned};
use crate::decode::{self, DecodeConfig, DecodePlan, GrayBranch, StreamSpec};
use crate::evidence::config::{self as evidence, CameraEvidenceConfig, CameraEvidencePlan};
use crate::infer::ModelPlan;
use crate::infer::detect::{self as detect, DetectConfig, DetectPlan};
use crate::infer::motion::{MotionConfig, MotionPlan};
use crate::rules::{self, HealthConfig, HealthPlan, PixelWatch, RuleConfig, RulePlan, Zone, ZoneConfig};
use crate::source::{self, SourceConfig, SourcePlan};
use crate::track::{self, TrackConfig, TrackPlan};

/// The sub-tables of `[[cameras]]`, each read by its own component: the
/// camera table's keys but its own.
pub fn sub_tables() -> Vec<&'static str> {
    let own = CameraHeader::KEYS;
    CameraTable::KEYS
        .iter()
        .copied()
        .filter(|key| !own.contains(key))
        .collect()
}

crate::config::table! {
    /// The keys of `[[cameras]]` itself.
    struct CameraHeader in "" {
        /// Unique name, used in topics and logs, e.g. "north-gate".
        #[required]
        name: Spanned<String>;
    }
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
    pub evidence: Option<CameraEvidenceConfig>,
    pub zones: Vec<ZoneConfig>,
    /// Every zone name written, valid or not, so a rule naming a zone that
    /// failed its own check is not reported a second time.
    pub zone_names: Vec<String>,
    pub rules: Vec<RuleConfig>,
    /// `[cameras.health]`, when written.
    pub health: Option<HealthConfig>,
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
    let (header, parts) = from_table_without::<CameraHeader>(file, node, &sub_tables(), diags);
    let mut config = CameraConfig {
        name: header?.name,
        span: node.span(),
        source: None,
        decode: None,
        detect: None,
        motion: None,
        track: None,
        privacy: None,
        evidence: None,
        zones: Vec::new(),
        zone_names: Vec::new(),
        rules: Vec::new(),
        health: None,
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
            "evidence" => config.evidence = from_node(file, part, diags),
            "health" => config.health = from_node(file, part, diags),
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
    /// The size and frame rate of its evidence clips.
    pub evidence: CameraEvidencePlan,
    pub zones: Vec<Arc<Zone>>,
    pub rules: Vec<Arc<RulePlan>>,
    /// The camera's health watch, when `[cameras.health]` is written.
    pub health: Option<HealthPlan>,
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
        .and_then(|d| detect::check(camera, d, models, model_names, ctx));
    let motion = config.motion.as_ref().unwrap_or(&MotionConfig::default()).checked(ctx);
    let evidence = evidence::check_camera(
        camera,
        config.evidence.as_ref().unwrap_or(&CameraEvidenceConfig::default()),
        config.detect.as_ref().map(|d| *d.fps.get_ref()),
        ctx,
    );
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
        if rule.common.name.get_ref() == rules::health::watch::RULE {
            ctx.error(
                rule.common.name.span(),
                format!(
                    "rule name `{}` on camera `{camera}` is reserved for camera health incidents \
                     ([cameras.health]); choose another name",
                    rules::health::watch::RULE
                ),
            );
            continue;
        }
        if let Some(plan) = rules::check_rule(camera, rule, &zones, &config.zone_names, labels, &model_name, ctx) {
            rule_plans.push(Arc::new(plan));
        }
    }
    if let Some(p) = &privacy
        && !p.redact.faces
        && !p.redact.persons
    {
        for rule in config.rules.iter().filter(|r| *r.common.snapshot.get_ref()) {
            ctx.error(
                rule.common.snapshot.span(),
                format!(
                    "rule `{}` on camera `{camera}` publishes snapshots, but [cameras.privacy] redact hides neither \
                     faces nor persons, so faces would leave the box: add \"faces\" (with [privacy] face_model) or \
                     \"persons\" to redact, or set snapshot = false",
                    rule.common.name.get_ref()
                ),
            );
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
    if let Some(p) = &privacy
        && p.picture_leak(has_face_model).is_some()
    {
        for rule in config.rules.iter().filter(|r| r.common.evidence.is_some()) {
            ctx.error(
                rule.span.clone(),
                format!(
                    "rule `{}` on camera `{camera}` records evidence clips, but {}: add \"faces\" (with [privacy] \
                     face_model) or \"persons\" to redact, or remove `evidence`",
                    rule.common.name.get_ref(),
                    p.picture_leak(has_face_model).unwrap_or_default()
                ),
            );
        }
    }
    let health = config.health.as_ref().map(|h| rules::health::check(camera, h, ctx));
    if config.rules_written == 0 {
        // Allowed, so a camera can be added first and its zones and rules
        // drawn in the console on its own picture.
        tracing::warn!(
            "camera `{camera}` has no rules: it streams and shows in the console, but raises no incident until a [[cameras.rules]] table is added"
        );
    }
    if config.incomplete
        || rule_plans.len() != config.rules.len()
        || zones.len() != config.zone_names.len()
        || health.as_ref().is_some_and(Option::is_none)
    {
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
        evidence: evidence?,
        zones,
        rules: rule_plans,
        health: health.flatten(),
    })
}

impl CameraPlan {
    /// The motion branch this camera's rules and health watch need: None
    /// when no rule watches pixels and health is not watched.
    pub fn gray_branch(&self) -> Option<GrayBranch> {
        let health = self.health.as_ref().map(|h| PixelWatch {
            fps: h.analysis_fps,
            width: rules::health::measure::BRANCH_WIDTH,
        });
        let rules = rules::pixel_watch(self.rules.iter().map(|r| &**r));
        let watch = match (rules, health) {
            (Some(a), Some(b)) => Some(PixelWatch {
                fps: a.fps.max(b.fps),
                width: a.width.max(b.width),
            }),
            (a, b) => a.or(b),
        };
        watch.map(|watch| GrayBranch {
            fps: watch.fps.ceil() as u32,
            width: watch.width,
        })
    }

    /// The pipeline this camera asks of decode: its source, the model's
    /// input size and fit at the detect rate, its decode settings, its
    /// privacy masks and, when a rule watches pixels, the motion branch.
    pub fn stream_spec(&self) -> StreamSpec {
        let input = &self.detect.model.manifest.input;
        StreamSpec {
            camera: self.name.clone(),
            source: self.source.clone(),
            width: input.width,
            height: input.height,
            resize: input.resize,
            fps: self.detect.keys.fps,
            decoder: self.decode.decoder.clone(),
            stall: self.decode.stall,
            retry_initial: self.decode.retry_initial,
            retry_max: self.decode.retry_max,
            max_size: self.decode.max_size,
            masks: self.privacy.masks.clone(),
            gray: self.gray_branch(),
        }
    }
}
