//! Privacy settings: the box-wide `[privacy]` table (which model finds faces)
//! and each camera's `[cameras.privacy]` (what its snapshots hide, and the
//! masks whose pixels are never analysed and never leave the box).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::redact::{RedactLabels, RedactSet};
use crate::config::Ctx;
use crate::config::Spanned;
use crate::config::table::Checked;
use crate::infer::manifest::Family;
use crate::infer::{ModelKeys, ModelPlan};
use crate::rules::geometry::Polygon;
use crate::vocab::LabelMap;

crate::config::table! {
    /// `[privacy]`: box-wide privacy settings.
    pub struct PrivacyConfig in "privacy." => #[derive(Copy)] PrivacyKeys {
        /// The `[models]` entry that finds faces to redact in snapshots, e.g.
        /// "faces" with `[models.faces] manifest = ".../centerface.toml"`.
        #[apart]
        pub face_model: Option<Spanned<String>>;
        /// The face model's score threshold when it searches pictures to
        /// redact, e.g. 0.2. It replaces the model's own `confidence` there:
        /// a privacy filter errs towards hiding, since a false face costs a few
        /// blocks and a missed one shows a person (docs/privacy.md measures it).
        #[apart]
        pub face_confidence: Spanned<f32> = DEFAULT_FACE_CONFIDENCE, range 0.01..=1.0;
        /// Persons the camera's detector finds at this score or above are
        /// covered in pictures (heads or whole persons, as each camera's
        /// `redact` says), even below the rules' thresholds, e.g. 0.3: someone
        /// half hidden by a sign or walking in a group scores lower, and is no
        /// less a person. The rules never see these weaker detections.
        pub cover_confidence: Spanned<f32> = DEFAULT_COVER_CONFIDENCE, range 0.05..=1.0;
    }
}

/// The default threshold for covering persons (docs/privacy.md).
pub const DEFAULT_COVER_CONFIDENCE: f32 = 0.3;

/// The face model's default threshold for redaction (docs/privacy.md).
pub const DEFAULT_FACE_CONFIDENCE: f32 = 0.1;

/// The checked `[privacy]` table.
#[derive(Debug, Clone, Default)]
pub struct PrivacyPlan {
    /// The face model, its `confidence` set to `[privacy] face_confidence`.
    pub face_model: Option<Arc<ModelPlan>>,
    /// Every key but the face search's two (worked out above), checked:
    /// persons scoring at least `cover_confidence` are covered in pictures.
    pub keys: PrivacyKeys,
}

impl PrivacyPlan {
    /// Whether a reload from `self` to `next` can be applied to running
    /// cameras: the face model's file, threshold and settings are the same.
    /// (The face service is loaded once; a change needs a restart.)
    pub fn same_face_search(&self, next: &PrivacyPlan) -> bool {
        match (&self.face_model, &next.face_model) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.key == b.key
                    && a.manifest.path == b.manifest.path
                    && a.keys.confidence == b.keys.confidence
                    && a.keys.nms_iou == b.keys.nms_iou
                    && a.batch == b.batch
            }
            _ => false,
        }
    }

    /// Keeps persons down to `cover_confidence` in `models` that detect
    /// them, for covering pictures only.
    pub fn cover_persons(&self, models: &mut BTreeMap<String, Arc<ModelPlan>>) {
        for model in models.values_mut() {
            let persons = model.labels().ids_of("person");
            if !persons.is_empty() && model.manifest.family != Family::Centerface {
                Arc::make_mut(model).filter.cover = Some((persons, self.keys.cover_confidence));
            }
        }
    }
}

pub fn check(config: &PrivacyConfig, models: &BTreeMap<String, Arc<ModelPlan>>, ctx: &mut Ctx<'_>) -> PrivacyPlan {
    let confidence = config.face_confidence(ctx);
    // A key out of range is reported; the plan is still made, so the
    // cameras are checked against it.
    let keys = config.checked(ctx).unwrap_or_default();
    let plain = PrivacyPlan { face_model: None, keys };
    let Some(name) = &config.face_model else {
        return plain;
    };
    let Some(model) = models.get(name.get_ref()) else {
        ctx.error(
            name.span(),
            format!(
                "privacy.face_model names model `{}`, which is not defined; defined models: {}",
                name.get_ref(),
                crate::config::listed(models.keys())
            ),
        );
        return plain;
    };
    if model.manifest.family != Family::Centerface && !model.labels().names().contains(&"face") {
        ctx.error(
            name.span(),
            format!(
                "privacy.face_model: model `{}` finds no faces (it is not a centerface model and has no `face` label)",
                name.get_ref()
            ),
        );
        return plain;
    }
    let Some(confidence) = confidence else {
        return plain;
    };
    PrivacyPlan {
        face_model: Some(Arc::new(ModelPlan {
            keys: ModelKeys {
                confidence,
                ..model.keys
            },
            ..(**model).clone()
        })),
        keys,
    }
}

/// What `redact` may list.
pub const REDACT_KINDS: &[&str] = &["faces", "heads", "persons", "plates"];

crate::config::table! {
    /// `[cameras.privacy]`.
    pub struct CameraPrivacyConfig in "cameras.privacy." => CameraPrivacyKeys {
        /// What snapshots hide: any of "faces", "heads", "persons", "plates".
        /// Default ["faces", "heads"]: a face the face model misses is still
        /// covered by its person's head region.
        #[apart]
        pub redact: Option<Spanned<Vec<Spanned<String>>>>;
        /// Polygons, in coordinates normalised to the frame (0..1), blacked out
        /// at source resolution before motion detection, inference and
        /// snapshots, e.g. [[[0.6, 0.1], [0.9, 0.1], [0.9, 0.4], [0.6, 0.4]]]
        /// for the windows of the homes opposite.
        #[apart]
        pub masks: Vec<Spanned<Vec<[f32; 2]>>>;
    }
}

/// A camera's checked privacy settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CameraPrivacyPlan {
    pub redact: RedactSet,
    pub labels: RedactLabels,
    /// Mask polygons, normalised.
    pub masks: Vec<Vec<[f32; 2]>>,
    /// Every key but `redact` and `masks` (each worked out above), checked.
    pub keys: CameraPrivacyKeys,
}

impl CameraPrivacyPlan {
    /// Why pictures made under this policy could show a face (None when
    /// they cannot): it must hide faces — searched for with a face model —
    /// or whole persons. Snapshots and `replay --out` both refuse such a
    /// policy.
    pub fn picture_leak(&self, has_face_model: bool) -> Option<&'static str> {
        if !self.redact.faces && !self.redact.persons {
            Some("[cameras.privacy] redact hides neither faces nor persons")
        } else if self.redact.faces && !has_face_model {
            Some("[cameras.privacy] redact hides faces, but no [privacy] face_model is set to find them")
        } else {
            None
        }
    }
}

pub fn check_camera(
    camera: &str,
    config: &CameraPrivacyConfig,
    labels: Option<&LabelMap>,
    ctx: &mut Ctx<'_>,
) -> Option<CameraPrivacyPlan> {
    let keys = config.checked(ctx);
    let mut ok = true;
    let redact = match &config.redact {
        None => RedactSet::default(),
        Some(list) => {
            let mut set = RedactSet {
                faces: false,
                heads: false,
                persons: false,
                plates: false,
            };
            for item in list.get_ref() {
                match item.get_ref().as_str() {
                    "faces" => set.faces = true,
                    "heads" => set.heads = true,
                    "persons" => set.persons = true,
                    "plates" => set.plates = true,
                    other => {
                        ok = false;
                        ctx.error(
                            item.span(),
                            format!(
                                "camera `{camera}`: cannot redact `{other}`; use any of: {}",
                                REDACT_KINDS.join(", ")
                            ),
                        );
                    }
                }
            }
            set
        }
    };
    let mut masks = Vec::new();
    for mask in &config.masks {
        let points = mask.get_ref();
        if points.len() < 3 {
            ok = false;
            ctx.error(
                mask.span(),
                format!(
                    "camera `{camera}`: a privacy mask needs at least 3 points, this one has {}",
                    points.len()
                ),
            );
            continue;
        }
        if points
            .iter()
            .flatten()
            .any(|v| !v.is_finite() || !(0.0..=1.0).contains(v))
        {
            ok = false;
            ctx.error(
                mask.span(),
                format!("camera `{camera}`: privacy mask points are normalised to the frame; use values from 0 to 1"),
            );
            continue;
        }
        // Checked as zones are: a mask whose edges cross would be filled
        // one way by the box and another by a drawing of it.
        let wide: Vec<[f64; 2]> = points.iter().map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
        if let Err(e) = Polygon::new(&wide) {
            ok = false;
            ctx.error(mask.span(), format!("camera `{camera}`: privacy mask: {e}"));
            continue;
        }
        masks.push(points.clone());
    }
    let mut resolved = RedactLabels::default();
    if let Some(labels) = labels {
        resolved = RedactLabels::of(labels);
        if (redact.heads || redact.persons) && resolved.persons.is_empty() {
            ok = false;
            let span = config.redact.as_ref().map_or(0..0, |r| r.span());
            ctx.error(
                span,
                format!(
                    "camera `{camera}` redacts heads or persons, but its detector has no `person` label; \
                     use a model that detects persons or redact only \"faces\""
                ),
            );
        }
    }
    let keys = keys?;
    ok.then_some(CameraPrivacyPlan {
        redact,
        labels: resolved,
        masks,
        keys,
    })
}
