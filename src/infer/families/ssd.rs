//! The `ssd` family: TensorFlow object-detection SSD outputs, already decoded
//! by the graph — per-anchor class scores (sigmoided) and normalised boxes.

use serde::Deserialize;

use super::support::{OutputDecoding, Outputs};
use crate::vocab::{BBox, Detection, LabelMap};

/// Corner order of each box in the boxes output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoxOrder {
    /// ymin, xmin, ymax, xmax (TensorFlow's order).
    Yxyx,
    /// xmin, ymin, xmax, ymax.
    Xyxy,
}

/// `[output]` of an `ssd` manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsdOutput {
    /// Scores tensor `[1, anchors, classes]`, e.g. "scores".
    pub scores: String,
    /// Boxes tensor `[1, anchors, 1, 4]` or `[1, anchors, 4]`, e.g. "boxes".
    pub boxes: String,
    /// Corner order of each box, e.g. "yxyx" (TensorFlow's) or "xyxy".
    pub box_order: BoxOrder,
    /// Score column i is class id i + class_offset, e.g. 1 (COCO SSD, as
    /// column 0 is person = 1); 0 when left out.
    #[serde(default)]
    pub class_offset: u32,
}

impl OutputDecoding for SsdOutput {
    fn tensor_names(&self) -> Vec<&str> {
        vec![self.scores.as_str(), self.boxes.as_str()]
    }

    fn decode(&self, outputs: &Outputs<'_>, _scratch: &mut Vec<f32>, out: &mut Vec<Detection>) -> ort::Result<()> {
        let scores = outputs.tensor(&self.scores)?;
        let boxes = outputs.tensor(&self.boxes)?;
        let classes = scores.last_dim();
        decode_anchors(
            self,
            scores.data,
            boxes.data,
            classes,
            outputs.labels,
            outputs.threshold,
            out,
        );
        Ok(())
    }
}

/// Appends every (anchor, class) pair scoring at least `threshold` whose class
/// has a label. The graph already normalised the boxes to the model input.
pub fn decode_anchors(
    spec: &SsdOutput,
    scores: &[f32],
    boxes: &[f32],
    classes: usize,
    labels: &LabelMap,
    threshold: f32,
    out: &mut Vec<Detection>,
) {
    if classes == 0 {
        return;
    }
    let anchors = (scores.len() / classes).min(boxes.len() / 4);
    for anchor in 0..anchors {
        let row = &scores[anchor * classes..(anchor + 1) * classes];
        for (column, &score) in row.iter().enumerate() {
            if score < threshold {
                continue;
            }
            let label = column as u32 + spec.class_offset;
            if !labels.contains_id(label) {
                continue;
            }
            let b = &boxes[anchor * 4..anchor * 4 + 4];
            let bbox = match spec.box_order {
                BoxOrder::Yxyx => BBox {
                    x1: b[1],
                    y1: b[0],
                    x2: b[3],
                    y2: b[2],
                },
                BoxOrder::Xyxy => BBox {
                    x1: b[0],
                    y1: b[1],
                    x2: b[2],
                    y2: b[3],
                },
            };
            out.push(Detection { label, score, bbox });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn columns_map_to_ids_with_the_offset_and_unlabelled_ids_are_skipped() {
        let labels = LabelMap::new(BTreeMap::from([(1, "person".to_string()), (3, "car".to_string())]));
        let spec = SsdOutput {
            scores: "s".into(),
            boxes: "b".into(),
            box_order: BoxOrder::Yxyx,
            class_offset: 1,
        };
        // two anchors, three classes (ids 1, 2, 3); id 2 has no label.
        let scores = [0.9, 0.8, 0.1, 0.2, 0.3, 0.7];
        let boxes = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
        let mut out = Vec::new();
        decode_anchors(&spec, &scores, &boxes, 3, &labels, 0.5, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].label, out[0].bbox),
            (
                1,
                BBox {
                    x1: 0.2,
                    y1: 0.1,
                    x2: 0.4,
                    y2: 0.3
                }
            )
        );
        assert_eq!((out[1].label, out[1].score), (3, 0.7));
    }
}
