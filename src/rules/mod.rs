//! Rules: zones and lines on a camera's picture, and the rule kinds that turn
//! tracks in them into incidents with a start, updates and an end.
//!
//! Rule kinds are a closed set, listed once in the [`rule_kinds!`] registry
//! below; each kind is one module (`intrusion`, `line_crossing`, `loitering`,
//! `crowd`) holding its config keys, its check, its per-frame logic and its
//! tests, and exposing the same items: `Config`, `Plan`, `State`, `check`,
//! `SHAPE` (an area or a line), `PER_TARGET` and `LABELS`. Kinds that watch
//! pixels instead of tracks (`thrown_object`) are fed grayscale frames through
//! [`RuleEngine::step_motion`], with the motion analysis in [`blobs`]. A rule table holds the
//! common keys ([`RuleCommon`]: zone, labels, anchor, timing, schedule…) and
//! the keys of its kind. Every kind shares the incident lifecycle in
//! [`incident`] and the schedule in [`schedule`].
//!
//! The engine never reads a clock: stream time and wall-clock time come in
//! with each frame, and the time zone is set once, so replays and tests are
//! deterministic.

pub mod geometry;
pub mod incident;
pub mod schedule;
pub mod zone;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;

pub use geometry::Anchor;
pub use incident::{EventKind, IncidentEvent, Severity, Target, TrajectoryPoint};
pub use zone::{Zone, ZoneConfig};

use crate::config::Ctx;
use crate::config::de::{Node, from_node, split_table};
use crate::config::diag::{Diagnostics, SourceFile};
use crate::track::Track;
use crate::vocab::labels::resolve as resolve_labels;
use crate::vocab::{LabelId, LabelMap};
use incident::{EventSource, Lifecycle, LifecyclePlan};
use schedule::{Schedule, WindowConfig};

/// The registry of rule kinds: `"name" => Variant(module)`. Adding a kind is
/// one module in this folder and one line here.
macro_rules! rule_kinds {
    ($($name:literal => $variant:ident($module:ident),)+) => {
        $(pub mod $module;)+

        /// The names of the kinds, for error messages.
        pub const KINDS: &[&str] = &[$($name),+];

        /// The kind-specific part of a rule, as written.
        #[derive(Debug, Clone)]
        pub enum RuleKindConfig {
            $($variant($module::Config),)+
        }

        /// The kind-specific part of a checked rule.
        #[derive(Debug, Clone, PartialEq)]
        pub enum RuleKindPlan {
            $($variant($module::Plan),)+
        }

        /// The kind-specific state of a running rule.
        #[derive(Debug)]
        #[allow(clippy::large_enum_variant)]
        enum KindState {
            $($variant($module::State),)+
        }

        /// Reads the keys of kind `name`; None when there is no such kind.
        fn load_kind(name: &str, file: &SourceFile, node: &Node<'_>, diags: &mut Diagnostics) -> Option<Option<RuleKindConfig>> {
            match name {
                $($name => Some(from_node(file, node, diags).map(RuleKindConfig::$variant)),)+
                _ => None,
            }
        }

        impl RuleKindConfig {
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }

            fn shape(&self) -> Needs {
                match self {
                    $(Self::$variant(_) => $module::SHAPE,)+
                }
            }

            fn per_target(&self) -> bool {
                match self {
                    $(Self::$variant(_) => $module::PER_TARGET,)+
                }
            }

            fn labels(&self) -> Labels {
                match self {
                    $(Self::$variant(_) => $module::LABELS,)+
                }
            }

            fn check(&self, common: &RuleCommon, owner: &str, ctx: &mut Ctx<'_>) -> Option<RuleKindPlan> {
                match self {
                    $(Self::$variant(c) => $module::check(c, common, owner, ctx).map(RuleKindPlan::$variant),)+
                }
            }
        }

        impl RuleKindPlan {
            /// Whether the kind watches grayscale frames rather than tracks.
            pub fn watches_motion(&self) -> bool {
                matches!(self, Self::ThrownObject(_))
            }

            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $name,)+
                }
            }

            fn state(&self) -> KindState {
                match self {
                    $(Self::$variant(p) => KindState::$variant($module::State::new(p)),)+
                }
            }
        }

        impl KindState {
            fn evaluate(&mut self, plan: &RuleKindPlan, scope: &Scope<'_>, tracks: &[Track], out: &mut Vec<Target>) {
                match (self, plan) {
                    $((Self::$variant(state), RuleKindPlan::$variant(plan)) => state.evaluate(plan, scope, tracks, out),)+
                    // a state is only ever built from its own plan
                    _ => {}
                }
            }
        }
    };
}

rule_kinds! {
    "intrusion" => Intrusion(intrusion),
    "line_crossing" => LineCrossing(line_crossing),
    "loitering" => Loitering(loitering),
    "crowd" => Crowd(crowd),
    "restricted_object" => RestrictedObject(restricted_object),
    "fire_lane" => FireLane(fire_lane),
    "perimeter_climb" => PerimeterClimb(perimeter_climb),
    "fall" => Fall(fall),
    "thrown_object" => ThrownObject(thrown_object),
}

pub mod blobs;

/// How a kind uses the common `labels` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// The rule must list them.
    Required,
    /// Left out, these are used (those the model has).
    Default(&'static [&'static str]),
    /// The kind watches pixels, not detections: `labels` does not apply.
    Unused,
}

/// What a kind watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A zone with a `polygon`.
    Area,
    /// A zone with a `line`.
    Line,
}

/// Keys every rule has, whatever its kind.
pub const COMMON_KEYS: &[&str] = &[
    "name",
    "kind",
    "zone",
    "labels",
    "anchor",
    "severity",
    "min_confidence",
    "min_secs",
    "end_after_secs",
    "snapshot",
    "update_every_secs",
    "cooldown_secs",
    "once_per_target",
    "schedule",
];

/// The common keys of `[[cameras.rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleCommon {
    /// Name shown in alerts, e.g. "walkway-intrusion".
    pub name: Spanned<String>,
    /// The rule kind: "intrusion", "line_crossing", "loitering", "crowd",
    /// "restricted_object", "fire_lane", "perimeter_climb", "fall" or
    /// "thrown_object", e.g. "fire_lane".
    pub kind: Spanned<String>,
    /// The zone (or, for line_crossing, the line) it watches, e.g. "walkway".
    pub zone: Spanned<String>,
    /// Labels that count, as the model names them, e.g. ["person"]. Required
    /// except where the kind has defaults (fire_lane) or watches pixels
    /// (thrown_object).
    #[serde(default = "crate::config::de::unset")]
    pub labels: Spanned<Vec<String>>,
    /// Point of the box the rule follows: "bottom_centre" (default, where a
    /// person stands), "centre" or "top_centre", e.g. "centre".
    #[serde(default)]
    pub anchor: Anchor,
    /// "low", "medium" (default), "high" or "critical".
    #[serde(default)]
    pub severity: Severity,
    /// Tracks scoring below this are ignored by the rule, e.g. 0.5.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: Spanned<f32>,
    /// Seconds the condition must hold before the incident starts, e.g. 1.0.
    #[serde(default = "crate::config::de::unset")]
    pub min_secs: Spanned<f64>,
    /// Seconds the condition must be gone before the incident ends, e.g. 3.0.
    #[serde(default = "default_end_after")]
    pub end_after_secs: Spanned<f64>,
    /// Publish a redacted snapshot after the incident's start (default false).
    #[serde(default = "crate::config::de::unset")]
    pub snapshot: Spanned<bool>,
    /// Least seconds between two events of one incident: while it lasts, an
    /// `update` is sent when the objects involved change, at most this
    /// often, e.g. 5.0.
    #[serde(default = "default_update_every")]
    pub update_every_secs: Spanned<f64>,
    /// Seconds after an incident ends during which the rule raises nothing, e.g. 60.0.
    #[serde(default = "crate::config::de::unset")]
    pub cooldown_secs: Spanned<f64>,
    /// An object (a track) raises the rule at most once, e.g. true (the
    /// default). Does not apply to `crowd`, whose incidents are about a group.
    #[serde(default = "default_once_per_target")]
    pub once_per_target: Spanned<bool>,
    /// When the rule is armed, in the box's local time; always when left
    /// out, e.g. [{ days = ["sat", "sun"], from = "22:00", to = "06:00" }].
    #[serde(default)]
    pub schedule: Vec<WindowConfig>,
}

fn default_min_confidence() -> Spanned<f32> {
    Spanned::new(0..0, 0.5)
}

fn default_end_after() -> Spanned<f64> {
    Spanned::new(0..0, 3.0)
}

fn default_update_every() -> Spanned<f64> {
    Spanned::new(0..0, 5.0)
}

fn default_once_per_target() -> Spanned<bool> {
    Spanned::new(0..0, true)
}

/// One `[[cameras.rules]]` table, as written.
#[derive(Debug, Clone)]
pub struct RuleConfig {
    pub common: RuleCommon,
    pub kind: RuleKindConfig,
    /// Where the rule's table is, for errors about keys left out.
    pub span: std::ops::Range<usize>,
}

/// Reads one rule table: the common keys, then the keys of its kind.
pub fn load_rule(file: &SourceFile, node: &Node<'_>, diags: &mut Diagnostics) -> Option<RuleConfig> {
    let (common_node, mut kind_node) = split_table(file, node, COMMON_KEYS, diags)?;
    // A misspelt common key lands among the kind's keys: name the common key
    // it resembles rather than let the kind say it does not know it.
    if let toml::de::DeValue::Table(rest) = kind_node.get_mut() {
        let misspelt: Vec<(String, std::ops::Range<usize>, &str)> = rest
            .iter()
            .filter_map(|(k, _)| {
                let key = k.get_ref().as_ref();
                crate::config::closest(key, COMMON_KEYS).map(|c| (key.to_string(), k.span(), c))
            })
            .collect();
        for (key, span, common) in misspelt {
            diags.error(
                file,
                Some(span),
                format!("unknown key `{key}`; did you mean `{common}`?"),
            );
            rest.remove(key.as_str());
        }
    }
    let common: Option<RuleCommon> = from_node(file, &common_node, diags);
    let kind_name = common_node
        .get_ref()
        .as_table()
        .and_then(|t| t.get("kind"))
        .map(|k| (k.get_ref().as_str().map(str::to_string), k.span()));
    let kind = match kind_name {
        Some((Some(name), span)) => match load_kind(&name, file, &kind_node, diags) {
            Some(kind) => kind,
            None => {
                let mut known = KINDS.to_vec();
                known.sort_unstable();
                let hint = crate::config::closest(&name, &known)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                diags.error(
                    file,
                    Some(span),
                    format!("unknown rule kind `{name}`; {hint}known kinds: {}", known.join(", ")),
                );
                None
            }
        },
        // a missing or mistyped `kind` is reported by RuleCommon
        _ => None,
    };
    Some(RuleConfig {
        common: common?,
        kind: kind?,
        span: node.span(),
    })
}

/// A checked rule.
#[derive(Debug, Clone)]
pub struct RulePlan {
    pub name: Arc<str>,
    pub zone: Arc<Zone>,
    pub labels: Vec<LabelId>,
    pub anchor: Anchor,
    pub severity: Severity,
    pub min_confidence: f32,
    pub lifecycle: LifecyclePlan,
    /// A redacted snapshot follows the incident's start.
    pub snapshot: bool,
    pub schedule: Schedule,
    pub kind: RuleKindPlan,
}

/// Checks a rule against the camera's zones and its model's labels
/// (`labels` is None when the model itself failed its check; `zone_names`
/// lists every zone written, including those that failed their check).
pub fn check_rule(
    camera: &str,
    config: &RuleConfig,
    zones: &[Arc<Zone>],
    zone_names: &[String],
    labels: Option<&LabelMap>,
    model: &str,
    ctx: &mut Ctx<'_>,
) -> Option<RulePlan> {
    let c = &config.common;
    let rule_name = c.name.get_ref();
    let owner = format!("rule `{rule_name}` on camera `{camera}`");
    let name = ctx.identifier(&c.name, "rule name");
    let mut zone = zones.iter().find(|z| z.name.as_ref() == c.zone.get_ref()).cloned();
    // A zone that is written but broken was reported on its own.
    if zone.is_none() && !zone_names.contains(c.zone.get_ref()) {
        let known: Vec<&str> = zone_names.iter().map(String::as_str).collect();
        ctx.error(
            c.zone.span(),
            format!(
                "{owner} watches zone `{}`, which this camera does not define; known zones: {}",
                c.zone.get_ref(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
    let kind_name = config.kind.name();
    match (config.kind.shape(), zone.as_deref().map(|z| &z.shape)) {
        (Needs::Line, Some(zone::Shape::Polygon(_))) => {
            ctx.error(
                c.zone.span(),
                format!(
                    "{owner} is a {kind_name} rule, which needs a line, but zone `{}` is a polygon; point `zone` at a zone with line = [[x, y], [x, y]]",
                    c.zone.get_ref()
                ),
            );
            zone = None;
        }
        (Needs::Area, Some(zone::Shape::Line(_))) => {
            ctx.error(
                c.zone.span(),
                format!(
                    "{owner} is a{} {kind_name} rule, which needs an area, but zone `{}` is a line; point `zone` at a zone with polygon = [[x, y], …]",
                    if kind_name.starts_with(['a', 'e', 'i', 'o', 'u']) { "n" } else { "" },
                    c.zone.get_ref()
                ),
            );
            zone = None;
        }
        _ => {}
    }
    let label_ids = kind_labels(config, &owner, labels, model, ctx);
    let min_confidence = ctx.in_range(&c.min_confidence, 0.0..=1.0, "min_confidence");
    let min_secs = ctx.in_range(&c.min_secs, 0.0..=86_400.0, "min_secs");
    let end_after = ctx.in_range(&c.end_after_secs, 0.0..=86_400.0, "end_after_secs");
    let update_every = ctx.in_range(&c.update_every_secs, 0.0..=86_400.0, "update_every_secs");
    let cooldown = ctx.in_range(&c.cooldown_secs, 0.0..=86_400.0, "cooldown_secs");
    let schedule = schedule::check(&owner, &c.schedule, ctx);
    let kind = config.kind.check(c, &owner, ctx);
    Some(RulePlan {
        name: Arc::from(name?),
        zone: zone?,
        labels: label_ids?,
        anchor: c.anchor,
        severity: c.severity,
        min_confidence: min_confidence?,
        lifecycle: LifecyclePlan {
            min_duration: Duration::from_secs_f64(min_secs?),
            end_after: Duration::from_secs_f64(end_after?),
            update_every: Duration::from_secs_f64(update_every?),
            cooldown: Duration::from_secs_f64(cooldown?),
            once_per_target: *c.once_per_target.get_ref() && config.kind.per_target(),
        },
        snapshot: *c.snapshot.get_ref(),
        schedule: schedule?,
        kind: kind?,
    })
}

/// The label ids a rule follows: as written, the kind's defaults, or none.
fn kind_labels(
    config: &RuleConfig,
    owner: &str,
    labels: Option<&LabelMap>,
    model: &str,
    ctx: &mut Ctx<'_>,
) -> Option<Vec<LabelId>> {
    let written = &config.common.labels;
    // `unset` leaves an empty span; `labels = []` has one
    let left_out = written.span().is_empty() && written.get_ref().is_empty();
    match (config.kind.labels(), left_out) {
        (Labels::Unused, true) => Some(Vec::new()),
        (Labels::Unused, false) => {
            ctx.error(
                written.span(),
                format!(
                    "{owner}: `labels` does not apply to {} (it watches motion, not detections); remove it",
                    config.kind.name()
                ),
            );
            None
        }
        (Labels::Required, true) => {
            ctx.error(
                config.span.clone(),
                "missing required key `labels`; add it to this table",
            );
            None
        }
        (Labels::Default(names), true) => {
            let labels = labels?;
            let ids: Vec<LabelId> = names.iter().flat_map(|n| labels.ids_of(n)).collect();
            if ids.is_empty() {
                ctx.error(
                    config.span.clone(),
                    format!(
                        "{owner}: model `{model}` has none of the default labels ({}); set `labels`",
                        names.join(", ")
                    ),
                );
                return None;
            }
            Some(ids)
        }
        (_, false) => resolve_labels(ctx, owner, written, labels, model),
    }
}

/// What a kind's per-frame logic sees of its rule.
pub struct Scope<'a> {
    pub zone: &'a Zone,
    pub anchor: Anchor,
    pub labels: &'a [LabelId],
    pub min_confidence: f32,
    pub names: &'a LabelMap,
    /// Stream time of this frame.
    pub now: Duration,
}

impl Scope<'_> {
    /// Whether the rule looks at this track at all (label and confidence).
    pub fn wants(&self, track: &Track) -> bool {
        track.score >= self.min_confidence && self.labels.contains(&track.label)
    }

    /// Whether the track's anchor point is inside the rule's area (false for lines).
    pub fn inside(&self, track: &Track) -> bool {
        self.zone
            .polygon()
            .is_some_and(|p| p.contains(self.anchor.of(&track.bbox)))
    }

    /// The track as an incident target.
    pub fn target(&self, track: &Track) -> Option<Target> {
        self.names.name(track.label).map(|label| Target {
            track_id: track.id,
            label: label.clone(),
            score: track.score,
            bbox: track.bbox,
            trajectory: None,
        })
    }
}

/// Per-track state a kind keeps, dropped when the tracker forgets the track.
pub(crate) fn forget_gone<T>(states: &mut Vec<T>, id: impl Fn(&T) -> u64, tracks: &[Track]) {
    states.retain(|s| {
        let id = id(s);
        tracks.iter().any(|t| t.id == id)
    });
}

/// One rule while it runs.
struct ActiveRule {
    plan: Arc<RulePlan>,
    source: EventSource,
    lifecycle: Lifecycle,
    state: KindState,
}

/// All rules of one camera, fed frame by frame.
pub struct RuleEngine {
    rules: Vec<ActiveRule>,
    labels: Arc<LabelMap>,
    time_zone: TimeZone,
    /// Reused per rule and frame.
    targets: Vec<Target>,
}

impl RuleEngine {
    /// An engine whose schedules follow the box's time zone.
    pub fn new(rules: &[Arc<RulePlan>], labels: Arc<LabelMap>) -> Self {
        let rules = rules
            .iter()
            .map(|plan| ActiveRule {
                source: EventSource {
                    rule: plan.name.clone(),
                    zone: plan.zone.name.clone(),
                    severity: plan.severity,
                },
                lifecycle: Lifecycle::new(plan.lifecycle),
                state: plan.kind.state(),
                plan: plan.clone(),
            })
            .collect();
        Self {
            rules,
            labels,
            time_zone: TimeZone::system(),
            targets: Vec::new(),
        }
    }

    /// Evaluates schedules in `time_zone` instead of the box's.
    pub fn with_time_zone(mut self, time_zone: TimeZone) -> Self {
        self.time_zone = time_zone;
        self
    }

    /// Evaluates every rule on one frame's tracks (from the tracker: seen and
    /// lost confirmed tracks); pushes raised events.
    pub fn step(&mut self, tracks: &[Track], now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        let mut local = None;
        for rule in &mut self.rules {
            if rule.plan.kind.watches_motion() {
                continue;
            }
            self.targets.clear();
            let plan = &rule.plan;
            let scope = Scope {
                zone: &plan.zone,
                anchor: plan.anchor,
                labels: &plan.labels,
                min_confidence: plan.min_confidence,
                names: &self.labels,
                now,
            };
            rule.state.evaluate(&plan.kind, &scope, tracks, &mut self.targets);
            if !plan.schedule.is_always() {
                let local = *local.get_or_insert_with(|| {
                    let ts = jiff::Timestamp::try_from(wall).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                    self.time_zone.to_datetime(ts)
                });
                if !plan.schedule.is_open(local) {
                    self.targets.clear();
                }
            }
            rule.lifecycle.forget_unless(|id| tracks.iter().any(|t| t.id == id));
            rule.lifecycle.observe(&rule.source, &mut self.targets, now, wall, out);
        }
    }

    /// Whether any rule needs grayscale frames through [`Self::step_motion`].
    pub fn wants_motion(&self) -> bool {
        self.rules.iter().any(|r| r.plan.kind.watches_motion())
    }

    /// Evaluates the motion rules (thrown_object) on one grayscale frame, a
    /// separate entry point from [`Self::step`] because they watch pixels,
    /// not tracks; pushes raised events. Call it at the camera's full frame
    /// rate: each rule analyses at most its `analysis_fps`.
    pub fn step_motion(&mut self, frame: &blobs::GrayFrame<'_>, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        let now = frame.pts;
        let mut local = None;
        for rule in &mut self.rules {
            let (KindState::ThrownObject(state), RuleKindPlan::ThrownObject(kind)) = (&mut rule.state, &rule.plan.kind)
            else {
                continue;
            };
            self.targets.clear();
            let plan = &rule.plan;
            if !state.analyse(kind, &plan.zone, frame, &mut self.targets) {
                continue;
            }
            if !plan.schedule.is_always() {
                let local = *local.get_or_insert_with(|| {
                    let ts = jiff::Timestamp::try_from(wall).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                    self.time_zone.to_datetime(ts)
                });
                if !plan.schedule.is_open(local) {
                    self.targets.clear();
                }
            }
            rule.lifecycle.forget_unless(|id| state.follows(id));
            rule.lifecycle.observe(&rule.source, &mut self.targets, now, wall, out);
        }
    }

    /// Ends every active incident (the stream ended).
    pub fn finish(&mut self, now: Duration, wall: SystemTime, out: &mut Vec<IncidentEvent>) {
        for rule in &mut self.rules {
            rule.lifecycle.finish(&rule.source, now, wall, out);
        }
    }
}

/// What a camera's rules that watch pixels need of its motion branch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelWatch {
    /// The most frames per second any of them analyses.
    pub fps: f64,
    /// The width, in pixels, the grayscale frames are scaled to.
    pub width: u32,
}

/// What `rules` need of the motion branch; None when none watches pixels.
pub fn pixel_watch<'a>(rules: impl IntoIterator<Item = &'a RulePlan>) -> Option<PixelWatch> {
    rules
        .into_iter()
        .filter_map(|r| match &r.kind {
            RuleKindPlan::ThrownObject(p) => Some(PixelWatch {
                fps: p.analysis_fps,
                width: thrown_object::ANALYSIS_WIDTH,
            }),
            _ => None,
        })
        .reduce(|a, b| PixelWatch {
            fps: a.fps.max(b.fps),
            width: a.width.max(b.width),
        })
}

/// The rules among `rules` that watch pixels rather than tracks.
pub fn pixel_rules(rules: &[Arc<RulePlan>]) -> Vec<Arc<RulePlan>> {
    rules.iter().filter(|r| r.kind.watches_motion()).cloned().collect()
}

#[cfg(test)]
pub(crate) mod testing;
