//! The YOLO families: one output tensor of candidate boxes in input pixels.
//!
//! * `yolov5` — `[1, N, 5 + C]`: cx, cy, w, h, objectness, class scores;
//!   score = objectness × class score.
//! * `yolov8` (also v11) — anchor-free `[1, 4 + C, N]` (channels first, the
//!   default export) or `[1, N, 4 + C]`: cx, cy, w, h, class scores.
//! * `yolox` — `[1, N, 5 + C]` like v5, but the boxes are grid offsets and
//!   log sizes per stride unless the export already decoded them.

use serde::Deserialize;

use crate::vocab::{BBox, Detection, LabelMap};

/// `[output]` of a `yolov5` or `yolox` manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YoloOutput {
    /// The output tensor, e.g. "output0".
    pub name: String,
    /// Score column i is class id i + class_offset (COCO-80 exports: 0).
    #[serde(default)]
    pub class_offset: u32,
    /// yolox only: the strides of the grids, in order, e.g. [8, 16, 32].
    #[serde(default = "default_strides")]
    pub strides: Vec<u32>,
    /// yolox only: the export already turned grid offsets into pixels.
    #[serde(default)]
    pub decoded: bool,
}

fn default_strides() -> Vec<u32> {
    vec![8, 16, 32]
}

/// `[output]` of a `yolov8` manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Yolov8Output {
    /// The output tensor, e.g. "output0".
    pub name: String,
    /// Score column i is class id i + class_offset (COCO-80 exports: 0).
    #[serde(default)]
    pub class_offset: u32,
    /// The tensor is `[1, N, 4 + C]` instead of the usual `[1, 4 + C, N]`.
    #[serde(default)]
    pub transposed: bool,
}

/// Input size in pixels, to normalise boxes.
#[derive(Debug, Clone, Copy)]
pub struct InputSize {
    pub width: f32,
    pub height: f32,
}

/// Adds a detection from a centre-size box (`[cx, cy, w, h]` in input pixels).
fn push(out: &mut Vec<Detection>, labels: &LabelMap, label: u32, score: f32, b: [f32; 4], size: InputSize) {
    if !labels.contains_id(label) {
        return;
    }
    let [cx, cy, w, h] = b;
    let bbox = BBox {
        x1: (cx - w * 0.5) / size.width,
        y1: (cy - h * 0.5) / size.height,
        x2: (cx + w * 0.5) / size.width,
        y2: (cy + h * 0.5) / size.height,
    };
    out.push(Detection { label, score, bbox });
}

/// `[1, N, 5 + C]` rows with objectness (yolov5, and yolox once decoded).
pub fn decode_v5(
    spec: &YoloOutput,
    data: &[f32],
    row: usize,
    size: InputSize,
    labels: &LabelMap,
    threshold: f32,
    out: &mut Vec<Detection>,
) {
    if row < 6 {
        return;
    }
    for r in data.chunks_exact(row) {
        let objectness = r[4];
        if objectness < threshold {
            continue;
        }
        for (c, &class_score) in r[5..].iter().enumerate() {
            let score = objectness * class_score;
            if score >= threshold {
                push(
                    out,
                    labels,
                    c as u32 + spec.class_offset,
                    score,
                    [r[0], r[1], r[2], r[3]],
                    size,
                );
            }
        }
    }
}

/// yolox: decodes grid offsets per stride, then scores like v5.
#[allow(clippy::too_many_arguments)]
pub fn decode_yolox(
    spec: &YoloOutput,
    data: &[f32],
    row: usize,
    size: InputSize,
    labels: &LabelMap,
    threshold: f32,
    scratch: &mut Vec<f32>,
    out: &mut Vec<Detection>,
) {
    if spec.decoded {
        return decode_v5(spec, data, row, size, labels, threshold, out);
    }
    if row < 6 {
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(data);
    let mut index = 0;
    for &stride in &spec.strides {
        let (gw, gh) = (
            size.width as usize / stride as usize,
            size.height as usize / stride as usize,
        );
        for gy in 0..gh {
            for gx in 0..gw {
                let Some(r) = scratch.get_mut(index * row..(index + 1) * row) else {
                    break;
                };
                let s = stride as f32;
                r[0] = (r[0] + gx as f32) * s;
                r[1] = (r[1] + gy as f32) * s;
                r[2] = r[2].exp() * s;
                r[3] = r[3].exp() * s;
                index += 1;
            }
        }
    }
    decode_v5(spec, &scratch[..], row, size, labels, threshold, out);
}

/// yolov8/v11: `[1, 4 + C, N]` (or transposed), no objectness.
#[allow(clippy::too_many_arguments)]
pub fn decode_v8(
    spec: &Yolov8Output,
    data: &[f32],
    channels: usize,
    anchors: usize,
    size: InputSize,
    labels: &LabelMap,
    threshold: f32,
    out: &mut Vec<Detection>,
) {
    if channels < 5 || data.len() < channels * anchors {
        return;
    }
    let at = |channel: usize, anchor: usize| {
        if spec.transposed {
            data[anchor * channels + channel]
        } else {
            data[channel * anchors + anchor]
        }
    };
    for a in 0..anchors {
        for c in 4..channels {
            let score = at(c, a);
            if score >= threshold {
                let label = (c - 4) as u32 + spec.class_offset;
                push(
                    out,
                    labels,
                    label,
                    score,
                    [at(0, a), at(1, a), at(2, a), at(3, a)],
                    size,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn labels() -> LabelMap {
        LabelMap::new(BTreeMap::from([(0, "person".into()), (1, "bicycle".into())]))
    }

    const SIZE: InputSize = InputSize {
        width: 64.0,
        height: 64.0,
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
        decode_v5(&spec, &rows, 7, SIZE, &labels(), 0.5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].label, 0);
        assert!((out[0].score - 0.72).abs() < 1e-6);
        assert_eq!(
            out[0].bbox,
            BBox {
                x1: 0.375,
                y1: 0.25,
                x2: 0.625,
                y2: 0.75
            }
        );
    }

    #[test]
    fn v8_reads_channels_first() {
        let spec = Yolov8Output {
            name: "o".into(),
            class_offset: 0,
            transposed: false,
        };
        // 2 anchors, channels: cx, cy, w, h, person, bicycle
        let data = [32.0, 8.0, 32.0, 8.0, 16.0, 4.0, 32.0, 4.0, 0.1, 0.2, 0.95, 0.3];
        let mut out = Vec::new();
        decode_v8(&spec, &data, 6, 2, SIZE, &labels(), 0.5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].label, out[0].score), (1, 0.95));
        assert_eq!(
            out[0].bbox,
            BBox {
                x1: 0.375,
                y1: 0.25,
                x2: 0.625,
                y2: 0.75
            }
        );
    }
}
