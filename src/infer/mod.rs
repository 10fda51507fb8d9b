//! Inference: ONNX detection models run through ONNX Runtime (`ort`).
//!
//! A model is described by its manifest ([`manifest`]); the operator's
//! `[models.<name>]` table ([`ModelConfig`]) points at it and sets thresholds.
//! [`Detector`] turns one scaled frame into detections in source-normalised
//! coordinates. Nothing here knows about cameras, zones or people.

pub mod detector;
pub mod labels;
pub mod manifest;
pub mod nms;
pub mod preprocess;
pub mod runtime;
pub mod ssd;
pub mod yolo;

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

pub use detector::{Detector, InferError, RawOutput};
pub use labels::{LabelId, LabelMap};
pub use manifest::Manifest;

use crate::config::Ctx;

/// An axis-aligned box in coordinates normalised to the frame (0..1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// The box clamped to the frame.
    pub fn clamped(&self) -> BBox {
        BBox {
            x1: self.x1.clamp(0.0, 1.0),
            y1: self.y1.clamp(0.0, 1.0),
            x2: self.x2.clamp(0.0, 1.0),
            y2: self.y2.clamp(0.0, 1.0),
        }
    }
}

/// One detected object in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub label: LabelId,
    pub score: f32,
    pub bbox: BBox,
}

/// `[models.<name>]`: a model the cameras can use, and its thresholds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The model's manifest, e.g. "/usr/share/watchpost/models/ssd_mobilenet_v2_coco.toml".
    /// Relative paths are resolved from the config file's folder.
    pub manifest: Spanned<PathBuf>,
    /// Detections scoring below this are dropped, e.g. 0.5.
    #[serde(default = "default_confidence")]
    pub confidence: Spanned<f32>,
    /// Boxes of one label overlapping more than this IoU are merged, e.g. 0.45.
    #[serde(default = "default_nms_iou")]
    pub nms_iou: Spanned<f32>,
}

fn default_confidence() -> Spanned<f32> {
    Spanned::new(0..0, 0.5)
}

fn default_nms_iou() -> Spanned<f32> {
    Spanned::new(0..0, 0.45)
}

/// A checked model: manifest read, file verified, thresholds in range.
#[derive(Debug, Clone)]
pub struct ModelPlan {
    /// The operator's name for it, the key under `[models]`.
    pub key: String,
    pub manifest: Manifest,
    pub confidence: f32,
    pub nms_iou: f32,
}

impl ModelPlan {
    pub fn labels(&self) -> &LabelMap {
        &self.manifest.labels
    }
}

/// Checks one `[models.<key>]` table.
pub fn check_model(key: &str, config: &ModelConfig, ctx: &mut Ctx<'_>) -> Option<ModelPlan> {
    let confidence = ctx.in_range(&config.confidence, 0.0..=1.0, "confidence");
    let nms_iou = ctx.in_range(&config.nms_iou, 0.0..=1.0, "nms_iou");
    let path: PathBuf = ctx.resolve(config.manifest.get_ref());
    if !path.is_file() {
        ctx.error(
            config.manifest.span(),
            format!(
                "model `{key}`: manifest {} does not exist; point `manifest` at a model's .toml",
                path.display()
            ),
        );
        return None;
    }
    let manifest = manifest::load(&path, ctx.diags)?;
    // A threshold out of range is already reported, which fails the config;
    // the model still comes back so rules can be checked against its labels.
    Some(ModelPlan {
        key: key.to_string(),
        manifest,
        confidence: confidence.unwrap_or(*default_confidence().get_ref()),
        nms_iou: nms_iou.unwrap_or(*default_nms_iou().get_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox {
            x1: 0.0,
            y1: 0.0,
            x2: 0.2,
            y2: 0.2,
        };
        let b = BBox {
            x1: 0.1,
            y1: 0.0,
            x2: 0.3,
            y2: 0.2,
        };
        let far = BBox {
            x1: 0.5,
            y1: 0.5,
            x2: 0.6,
            y2: 0.6,
        };
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&far), 0.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
    }
}
