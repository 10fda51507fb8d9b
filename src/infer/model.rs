//! `[models.<name>]`: a model the cameras can use — its manifest, thresholds,
//! label filter and batching — checked into a [`ModelPlan`], and the check
//! that opens every model with ONNX Runtime before the box runs it.

use std::path::PathBuf;
use std::time::Duration;

use super::manifest::{self, Manifest};
use crate::config::Ctx;
use crate::config::Spanned;
use crate::config::table::Checked;
use crate::vocab::Detection;
use crate::vocab::labels::resolve as resolve_labels;
use crate::vocab::labels::{LabelId, LabelMap};

crate::config::table! {
    /// `[models.<name>]`: a model the cameras can use, and its thresholds.
    pub struct ModelConfig in "" => #[derive(Copy)] ModelKeys {
        /// The model's manifest, e.g. "/usr/share/watchpost/models/ssd_mobilenet_v2_coco.toml".
        /// Relative paths are resolved from the config file's folder.
        #[required]
        #[apart]
        pub manifest: Spanned<PathBuf>;
        /// Detections scoring below this are dropped, e.g. 0.5.
        pub confidence: Spanned<f32> = 0.5, range 0.0..=1.0;
        /// Boxes of one label overlapping more than this IoU are merged, e.g. 0.45.
        pub nms_iou: Spanned<f32> = 0.45, range 0.0..=1.0;
        /// Merge overlapping boxes whatever their labels (default false: per label).
        pub class_agnostic_nms: bool;
        /// Keep only these labels, e.g. ["person", "bicycle", "car"]; default all.
        #[apart]
        pub labels: Option<Spanned<Vec<String>>>;
        /// Per-label score thresholds overriding `confidence`, e.g. { person = 0.6 }.
        #[apart]
        pub label_confidence: std::collections::BTreeMap<Spanned<String>, Spanned<f32>>;
        /// Boxes smaller than this fraction of the frame are dropped, e.g. 0.0005.
        pub min_box_area: Spanned<f32>, range 0.0..=1.0;
        /// Boxes larger than this fraction of the frame are dropped, e.g. 0.8.
        pub max_box_area: Spanned<f32> = 1.0, range 0.0..=1.0;
        /// Most frames, from any cameras, run together as one batch when the
        /// model's batch dimension is dynamic, e.g. 8 (1 turns batching off).
        pub max_batch: Spanned<u32> = 8, range 1..=MAX_BATCH;
        /// Longest a frame waits for others to fill its batch, e.g. 10. The
        /// default 0 batches only frames that are already waiting.
        pub max_wait_ms: Spanned<u64>, range 0..=MAX_WAIT_MS;
        /// Sessions of the model that run side by side, each on its own thread
        /// with `[runtime] intra_threads` threads, e.g. 2 with intra_threads = 1
        /// on a 2-core box: frames of different cameras, and consecutive frames
        /// of one camera, are then inferred at the same time, which keeps every
        /// core busy where one inference cannot. Default: the box's cores
        /// divided by `intra_threads` (at most 4), so the sessions' threads fill
        /// the cores once. On the CPU the sessions share one copy of the
        /// model's weights where its kernels allow it (FP32 models; INT8
        /// convolutions keep their own repacked copy per session).
        #[apart]
        pub sessions: Spanned<u32>, range 1..=MAX_SESSIONS;
    }
}

/// Sessions of a model whose `sessions` is not set: one per `intra_threads`
/// threads of the box's cores, at least 1 and at most 4.
pub fn auto_sessions(intra_threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / intra_threads.max(1)).clamp(1, 4)
}

/// Most sessions a model may run side by side.
const MAX_SESSIONS: u32 = 16;

/// Most a batch may hold.
const MAX_BATCH: u32 = 64;
/// Longest `max_wait_ms`: beyond it, alerts would wait for batching.
const MAX_WAIT_MS: u64 = 1000;

/// Which detections a model keeps, resolved to label ids.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DetectionFilter {
    /// Labels kept; None keeps all.
    pub allowed: Option<Vec<LabelId>>,
    /// Score thresholds that differ from the model's `confidence`.
    pub label_confidence: Vec<(LabelId, f32)>,
    pub min_area: f32,
    pub max_area: f32,
    pub class_agnostic_nms: bool,
    /// Labels (persons) kept down to a lower score for covering pictures
    /// only (`[privacy] cover_confidence`); the rules never see them.
    pub cover: Option<(Vec<LabelId>, f32)>,
}

impl DetectionFilter {
    /// The lowest score any label may pass with, for pruning before the filter.
    pub fn lowest_threshold(&self, confidence: f32) -> f32 {
        let lowest = self.label_confidence.iter().map(|(_, t)| *t).fold(confidence, f32::min);
        self.cover.as_ref().map_or(lowest, |(_, t)| lowest.min(*t))
    }

    /// Whether a detection is kept to cover pictures with: the rules' filter
    /// keeps it, or it is of a label pictures cover, at the lower threshold.
    pub fn keeps_for_cover(&self, d: &Detection, confidence: f32) -> bool {
        self.keeps(d, confidence)
            || self.cover.as_ref().is_some_and(|(labels, threshold)| {
                let area = d.bbox.area();
                labels.contains(&d.label)
                    && d.score >= *threshold
                    && area >= self.min_area
                    && area <= self.max_area
                    && self.allowed.as_ref().is_none_or(|a| a.contains(&d.label))
            })
    }

    /// Whether a detection (in source coordinates) is kept.
    pub fn keeps(&self, d: &Detection, confidence: f32) -> bool {
        let threshold = self
            .label_confidence
            .iter()
            .find(|(id, _)| *id == d.label)
            .map_or(confidence, |(_, t)| *t);
        let area = d.bbox.area();
        d.score >= threshold
            && area >= self.min_area
            && area <= self.max_area
            && self.allowed.as_ref().is_none_or(|a| a.contains(&d.label))
    }
}

/// How a model batches frames (from `[models.<name>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlan {
    /// Most frames per run; only used when the model's batch is dynamic.
    pub max_size: usize,
    /// Longest the first frame of a batch waits for more.
    pub max_wait: Duration,
    /// Sessions running side by side, each on its own thread; 0 until the
    /// plan resolves an unset `sessions` ([`auto_sessions`]).
    pub sessions: usize,
}

impl Default for BatchPlan {
    fn default() -> Self {
        Self {
            max_size: 8,
            max_wait: Duration::ZERO,
            sessions: 1,
        }
    }
}

/// A checked model: manifest read, file verified, thresholds in range.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    /// The operator's name for it, the key under `[models]`.
    pub key: String,
    pub manifest: Manifest,
    /// The table's keys, checked (`confidence`, `nms_iou`, …).
    pub keys: ModelKeys,
    /// Which detections it keeps: its labels resolved, and the keys' areas.
    pub filter: DetectionFilter,
    /// How it batches: the keys' `max_batch` and `max_wait_ms`, and its sessions.
    pub batch: BatchPlan,
}

impl ModelPlan {
    /// A plan with only thresholds set (for tools and tests).
    pub fn new(key: &str, manifest: Manifest, confidence: f32, nms_iou: f32) -> Self {
        Self {
            key: key.to_string(),
            manifest,
            keys: ModelKeys {
                confidence,
                nms_iou,
                ..ModelKeys::default()
            },
            filter: DetectionFilter {
                max_area: 1.0,
                ..DetectionFilter::default()
            },
            batch: BatchPlan::default(),
        }
    }

    pub fn labels(&self) -> &LabelMap {
        &self.manifest.labels
    }
}

/// Checks one `[models.<key>]` table.
pub fn check_model(key: &str, config: &ModelConfig, ctx: &mut Ctx<'_>) -> Option<ModelPlan> {
    let path: PathBuf = ctx.resolve(config.manifest.get_ref());
    let manifest = if path.is_file() {
        manifest::load(&path, ctx.diags)
    } else {
        ctx.error(
            config.manifest.span(),
            format!(
                "model `{key}`: manifest {} does not exist; point `manifest` at a model's .toml",
                path.display()
            ),
        );
        None
    };
    let Some(manifest) = manifest else {
        // the thresholds are said without a manifest; the other keys wait for one
        config.confidence(ctx);
        config.nms_iou(ctx);
        return None;
    };
    let keys = config.checked(ctx);
    let owner = format!("model `{key}`");
    let allowed = match &config.labels {
        Some(names) => resolve_labels(ctx, &owner, names, Some(&manifest.labels), key),
        None => None,
    };
    let mut label_confidence = Vec::new();
    for (name, threshold) in &config.label_confidence {
        let names = Spanned::new(name.span(), vec![name.get_ref().clone()]);
        let ids = resolve_labels(ctx, &owner, &names, Some(&manifest.labels), key);
        let t = ctx.in_range(threshold, 0.0..=1.0, &format!("label_confidence.{}", name.get_ref()));
        if let (Some(ids), Some(t)) = (ids, t) {
            label_confidence.extend(ids.into_iter().map(|id| (id, t)));
        }
    }
    let areas = |ctx: &mut Ctx<'_>| config.min_box_area(ctx).zip(config.max_box_area(ctx));
    ctx.at_odds(areas, |min, max| {
        let says = format!("model `{key}`: min_box_area is above max_box_area");
        (min > max).then(|| (config.min_box_area.span(), says))
    });
    // Unset (0, no span): resolved by the plan once `[runtime]` is known.
    let sessions = if config.sessions.span() == (0..0) {
        0
    } else {
        config.sessions(ctx).unwrap_or(1)
    };
    // A value out of range is already reported, which fails the config; the
    // model still comes back (its keys at their defaults) so rules can be
    // checked against its labels.
    let keys = keys.unwrap_or_default();
    Some(ModelPlan {
        key: key.to_string(),
        manifest,
        filter: DetectionFilter {
            allowed,
            label_confidence,
            min_area: keys.min_box_area,
            max_area: keys.max_box_area,
            class_agnostic_nms: keys.class_agnostic_nms,
            cover: None,
        },
        batch: BatchPlan {
            max_size: keys.max_batch as usize,
            max_wait: Duration::from_millis(keys.max_wait_ms),
            sessions: sessions as usize,
        },
        keys,
    })
}
