//! The `yolox` family: rows `[1, N, 5 + C]` like `yolov5`'s, but unless the
//! export already decoded them, a box is a grid cell's offset and log size at
//! one of several strides. Those are turned into input pixels first; the rows
//! are then scored as yolov5's are.

use serde::Deserialize;

use super::support::{OutputDecoding, Outputs};
use super::yolo_common::{Scoring, YoloOutput, decode_rows};
use crate::vocab::Detection;

/// `[output]` of a `yolox` manifest: the table `yolov5` reads, with its
/// `strides` and `decoded` keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct YoloxOutput(pub YoloOutput);

impl OutputDecoding for YoloxOutput {
    fn tensor_names(&self) -> Vec<&str> {
        self.0.tensor_names()
    }

    fn decode(&self, outputs: &Outputs<'_>, scratch: &mut Vec<f32>, out: &mut Vec<Detection>) -> ort::Result<()> {
        if self.0.decoded {
            return self.0.decode(outputs, scratch, out);
        }
        let rows = outputs.tensor(&self.0.name)?;
        decode_grids(&self.0, rows.data, rows.last_dim(), Scoring::of(outputs), scratch, out);
        Ok(())
    }
}

/// Turns grid offsets and log sizes into input pixels per stride, in
/// `scratch` since the output itself is the runtime's and read-only, then
/// scores the rows as yolov5's are.
pub fn decode_grids(
    spec: &YoloOutput,
    data: &[f32],
    row: usize,
    scoring: Scoring<'_>,
    scratch: &mut Vec<f32>,
    out: &mut Vec<Detection>,
) {
    let size = scoring.size;
    if row < 6 {
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(data);
    let mut index = 0;
    // The manifest check refuses a zero stride; never divide by one anyway.
    for &stride in spec.strides.iter().filter(|&&s| s > 0) {
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
    decode_rows(spec, &scratch[..], row, scoring, out);
}

#[cfg(test)]
mod tests {
    use super::super::yolo_common::tests::{labels, scoring};
    use super::*;
    use crate::vocab::BBox;

    #[test]
    fn grid_offsets_and_log_sizes_become_input_pixels_per_stride() {
        let spec = YoloOutput {
            name: "o".into(),
            class_offset: 0,
            strides: vec![32],
            decoded: false,
        };
        // A 2 × 2 grid at stride 32; only cell (x 1, y 0) holds a bicycle:
        // centre ((0.5 + 1) × 32, (0.5 + 0) × 32), size (e⁰ × 32, e⁰ × 32).
        let mut rows = [0.0; 4 * 7];
        rows[7..14].copy_from_slice(&[0.5, 0.5, 0.0, 0.0, 0.9, 0.1, 1.0]);
        let mut out = Vec::new();
        decode_grids(&spec, &rows, 7, scoring(&labels()), &mut Vec::new(), &mut out);
        assert_eq!(out.len(), 1);
        let BBox { x1, y1, x2, y2 } = out[0].bbox;
        assert_eq!(
            (out[0].label, out[0].score, [x1, y1, x2, y2]),
            (1, 0.9, [0.5, 0.0, 1.0, 0.5])
        );
    }
}
