//! The `yolov8` family (also YOLO11): one anchor-free output of candidate
//! boxes in input pixels, `[1, 4 + C, N]` (channels first, the default
//! export) or `[1, N, 4 + C]` — cx, cy, w, h, then a score per class, with no
//! objectness.

use serde::Deserialize;

use super::support::{OutputDecoding, Outputs};
use super::yolo_common::Scoring;
use crate::vocab::Detection;

/// `[output]` of a `yolov8` manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Yolov8Output {
    /// The output tensor, e.g. "output0".
    pub name: String,
    /// Score column i is class id i + class_offset, e.g. 0 (COCO-80 exports,
    /// and the default).
    #[serde(default)]
    pub class_offset: u32,
    /// The tensor is `[1, N, 4 + C]` instead of the usual `[1, 4 + C, N]`,
    /// e.g. true; false when left out.
    #[serde(default)]
    pub transposed: bool,
}

impl OutputDecoding for Yolov8Output {
    fn tensor_names(&self) -> Vec<&str> {
        vec![self.name.as_str()]
    }

    fn decode(&self, outputs: &Outputs<'_>, _scratch: &mut Vec<f32>, out: &mut Vec<Detection>) -> ort::Result<()> {
        let tensor = outputs.tensor(&self.name)?;
        let (channels, anchors) = if self.transposed {
            (tensor.dim(1), tensor.dim(0))
        } else {
            (tensor.dim(0), tensor.dim(1))
        };
        decode_anchors(self, tensor.data, (channels, anchors), Scoring::of(outputs), out);
        Ok(())
    }
}

/// `channels` (4 + C) values for each of `anchors` candidates, laid out as
/// `spec.transposed` says.
pub fn decode_anchors(
    spec: &Yolov8Output,
    data: &[f32],
    (channels, anchors): (usize, usize),
    scoring: Scoring<'_>,
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
            if score >= scoring.threshold {
                let label = (c - 4) as u32 + spec.class_offset;
                scoring.push(out, label, score, [at(0, a), at(1, a), at(2, a), at(3, a)]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::yolo_common::tests::{CENTRED, labels, scoring};
    use super::*;

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
        decode_anchors(&spec, &data, (6, 2), scoring(&labels()), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].label, out[0].score), (1, 0.95));
        assert_eq!(out[0].bbox, CENTRED);
    }
}
