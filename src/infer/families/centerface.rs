//! The `centerface` family: an anchor-free face detector whose outputs are
//! maps at a fixed stride — a heatmap of face centres, the log size of the
//! face at each cell and the sub-cell offset of its centre.
//!
//! Only the boxes are decoded. The model also predicts five facial landmarks;
//! watchpost never reads them, because a face is only ever something to hide.

use serde::Deserialize;

use super::support::{InputSize, OutputDecoding, Outputs};
use crate::vocab::{BBox, Detection, LabelMap};

/// `[output]` of a `centerface` manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CenterfaceOutput {
    /// Face-centre heatmap `[1, 1, h, w]`, e.g. "537".
    pub heatmap: String,
    /// Log face size `[1, 2, h, w]` (height, width), e.g. "538".
    pub scale: String,
    /// Centre offset within the cell `[1, 2, h, w]` (y, x), e.g. "539".
    pub offset: String,
    /// Input pixels per map cell, e.g. 4 (the default).
    #[serde(default = "default_stride")]
    pub stride: u32,
    /// The label id every face gets, e.g. 0 (with `0 = "face"` in `[labels]`).
    #[serde(default)]
    pub label: u32,
}

fn default_stride() -> u32 {
    4
}

impl OutputDecoding for CenterfaceOutput {
    fn tensor_names(&self) -> Vec<&str> {
        vec![self.heatmap.as_str(), self.scale.as_str(), self.offset.as_str()]
    }

    fn decode(&self, outputs: &Outputs<'_>, _scratch: &mut Vec<f32>, out: &mut Vec<Detection>) -> ort::Result<()> {
        let heatmap = outputs.tensor(&self.heatmap)?;
        let maps = Maps {
            heatmap: heatmap.data,
            scale: outputs.tensor(&self.scale)?.data,
            offset: outputs.tensor(&self.offset)?.data,
            height: heatmap.dim(1),
            width: heatmap.dim(2),
        };
        decode_maps(self, &maps, outputs.input, outputs.labels, outputs.threshold, out);
        Ok(())
    }
}

/// The three maps of one image, each `channels × h × w`.
pub struct Maps<'a> {
    pub heatmap: &'a [f32],
    pub scale: &'a [f32],
    pub offset: &'a [f32],
    pub width: usize,
    pub height: usize,
}

/// Appends a face for every heatmap cell scoring at least `threshold`. Boxes
/// are normalised to the model input; overlapping ones are left to NMS.
pub fn decode_maps(
    spec: &CenterfaceOutput,
    maps: &Maps<'_>,
    size: InputSize,
    labels: &LabelMap,
    threshold: f32,
    out: &mut Vec<Detection>,
) {
    let cells = maps.width * maps.height;
    if cells == 0
        || maps.heatmap.len() < cells
        || maps.scale.len() < 2 * cells
        || maps.offset.len() < 2 * cells
        || !labels.contains_id(spec.label)
    {
        return;
    }
    let stride = spec.stride as f32;
    for (cell, &score) in maps.heatmap[..cells].iter().enumerate() {
        if score < threshold {
            continue;
        }
        let (row, col) = ((cell / maps.width) as f32, (cell % maps.width) as f32);
        let h = maps.scale[cell].exp() * stride;
        let w = maps.scale[cells + cell].exp() * stride;
        let (dy, dx) = (maps.offset[cell], maps.offset[cells + cell]);
        let x1 = ((col + dx + 0.5) * stride - w * 0.5).clamp(0.0, size.width);
        let y1 = ((row + dy + 0.5) * stride - h * 0.5).clamp(0.0, size.height);
        let x2 = (x1 + w).min(size.width);
        let y2 = (y1 + h).min(size.height);
        out.push(Detection {
            label: spec.label,
            score,
            bbox: BBox {
                x1: x1 / size.width,
                y1: y1 / size.height,
                x2: x2 / size.width,
                y2: y2 / size.height,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Maps named h, s and o at stride 4, of one label, "face".
    fn face_output() -> (CenterfaceOutput, LabelMap) {
        let spec = CenterfaceOutput {
            heatmap: "h".into(),
            scale: "s".into(),
            offset: "o".into(),
            stride: 4,
            label: 0,
        };
        (spec, LabelMap::new(BTreeMap::from([(0, "face".into())])))
    }

    #[test]
    fn a_hot_cell_becomes_a_box_of_its_predicted_size() {
        let (spec, labels) = face_output();
        // A 4×4 map of a 16×16 input; one face centred in cell (row 1, col 2),
        // 8 px tall and 4 px wide, and a cell below the threshold.
        let mut heatmap = vec![0.0; 16];
        heatmap[4 + 2] = 0.9;
        heatmap[15] = 0.1;
        let mut scale = vec![0.0; 32];
        scale[4 + 2] = 2f32.ln(); // height 2 × 4
        scale[16 + 4 + 2] = 0.0; // width 1 × 4
        let offset = vec![0.0; 32];
        let maps = Maps {
            heatmap: &heatmap,
            scale: &scale,
            offset: &offset,
            width: 4,
            height: 4,
        };
        let size = InputSize {
            width: 16.0,
            height: 16.0,
        };
        let mut out = Vec::new();
        decode_maps(&spec, &maps, size, &labels, 0.5, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].score, 0.9);
        // centre (2.5, 1.5) cells = (10, 6) px; 4 wide, 8 tall.
        assert_eq!(
            out[0].bbox,
            BBox {
                x1: 8.0 / 16.0,
                y1: 2.0 / 16.0,
                x2: 12.0 / 16.0,
                y2: 10.0 / 16.0
            }
        );
    }

    #[test]
    fn short_maps_decode_nothing() {
        let (spec, labels) = face_output();
        let heatmap = [1.0; 4];
        let maps = Maps {
            heatmap: &heatmap,
            scale: &[0.0; 2],
            offset: &[0.0; 8],
            width: 2,
            height: 2,
        };
        let mut out = Vec::new();
        let size = InputSize {
            width: 8.0,
            height: 8.0,
        };
        decode_maps(&spec, &maps, size, &labels, 0.5, &mut out);
        assert!(out.is_empty());
    }
}
