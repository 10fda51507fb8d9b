//! What the YOLO families share: boxes as centre and size in input pixels,
//! and — for `yolov5` and `yolox`, which read one `[output]` table — rows of
//! `[cx, cy, w, h, objectness, class scores…]` scored as objectness × class
//! score. Not a family itself: the registry does not list it.

use serde::Deserialize;

use super::support::{InputSize, Outputs};
use crate::vocab::{BBox, Detection, LabelMap};

/// `[output]` of a `yolov5` or `yolox` manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoloOutput {
    /// The output tensor, e.g. "output0".
    pub name: String,
    /// Score column i is class id i + class_offset, e.g. 0 (COCO-80 exports,
    /// and the default).
    #[serde(default)]
    pub class_offset: u32,
    /// yolox only: the strides of the grids, in order, e.g. [8, 16, 32] (the
    /// default).
    #[serde(default = "default_strides")]
    pub strides: Vec<u32>,
    /// yolox only: the export already turned grid offsets into pixels, e.g.
    /// true; false when left out.
    #[serde(default)]
    pub decoded: bool,
}

fn default_strides() -> Vec<u32> {
    vec![8, 16, 32]
}

/// What a YOLO decoder scores against: the input's size (boxes are in its
/// pixels), the labels the model has and the lowest score kept.
#[derive(Debug, Clone, Copy)]
pub struct Scoring<'a> {
    pub size: InputSize,
    pub labels: &'a LabelMap,
    pub threshold: f32,
}

impl<'a> Scoring<'a> {
    /// The scoring of one frame's outputs.
    pub fn of(outputs: &Outputs<'a>) -> Self {
        Self {
            size: outputs.input,
            labels: outputs.labels,
            threshold: outputs.threshold,
        }
    }

    /// Adds a detection from a centre-size box (`[cx, cy, w, h]` in input
    /// pixels) when its label is one of the model's.
    pub fn push(&self, out: &mut Vec<Detection>, label: u32, score: f32, b: [f32; 4]) {
        if !self.labels.contains_id(label) {
            return;
        }
        let [cx, cy, w, h] = b;
        let size = self.size;
        let bbox = BBox {
            x1: (cx - w * 0.5) / size.width,
            y1: (cy - h * 0.5) / size.height,
            x2: (cx + w * 0.5) / size.width,
            y2: (cy + h * 0.5) / size.height,
        };
        out.push(Detection { label, score, bbox });
    }
}

/// `[N, 5 + C]` rows with objectness (yolov5, and yolox once decoded), each
/// `row` values long.
pub fn decode_rows(spec: &YoloOutput, data: &[f32], row: usize, scoring: Scoring<'_>, out: &mut Vec<Detection>) {
    if row < 6 {
        return;
    }
    for r in data.chunks_exact(row) {
        let objectness = r[4];
        if objectness < scoring.threshold {
            continue;
        }
        for (c, &class_score) in r[5..].iter().enumerate() {
            let score = objectness * class_score;
            if score >= scoring.threshold {
                scoring.push(out, c as u32 + spec.class_offset, score, [r[0], r[1], r[2], r[3]]);
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    pub fn labels() -> LabelMap {
        LabelMap::new(BTreeMap::from([(0, "person".into()), (1, "bicycle".into())]))
    }

    /// Scoring in a 64 × 64 input at threshold 0.5.
    pub fn scoring(labels: &LabelMap) -> Scoring<'_> {
        Scoring {
            size: InputSize {
                width: 64.0,
                height: 64.0,
            },
            labels,
            threshold: 0.5,
        }
    }

    /// A 16 × 32 box centred in the 64 × 64 input, as the tests' decoders
    /// should find it.
    pub const CENTRED: BBox = BBox {
        x1: 0.375,
        y1: 0.25,
        x2: 0.625,
        y2: 0.75,
    };

    #[test]
    fn v5_multiplies_objectness_by_class_score() {
        let spec = YoloOutput {
            name: "o".into(),
            class_offset: 0,
            strides: vec![],
            decoded: false,
        };
        let rows = [
            32.0, 32.0, 16.0, 32.0, 0.9, 0.8, 0.1, /* */ 10.0, 10.0, 4.0, 4.0, 0.2, 0.9, 0.9,
        ];
        let mut out = Vec::new();
        decode_rows(&spec, &rows, 7, scoring(&labels()), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].label, 0);
        assert!((out[0].score - 0.72).abs() < 1e-6);
        assert_eq!(out[0].bbox, CENTRED);
    }
}
