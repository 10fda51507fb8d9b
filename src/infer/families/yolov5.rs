//! The `yolov5` family: one output `[1, N, 5 + C]` of candidate boxes in input
//! pixels — cx, cy, w, h, objectness, then a score per class; a box's score
//! is objectness × class score. Its `[output]` table and row decoding are in
//! [`yolo_common`](super::yolo_common), as `yolox` reads them too.

use super::support::{OutputDecoding, Outputs};
pub use super::yolo_common::YoloOutput;
use super::yolo_common::{Scoring, decode_rows};
use crate::vocab::Detection;

/// `yolox` decodes through this too, once its grids are in pixels.
impl OutputDecoding for YoloOutput {
    fn tensor_names(&self) -> Vec<&str> {
        vec![self.name.as_str()]
    }

    fn decode(&self, outputs: &Outputs<'_>, _scratch: &mut Vec<f32>, out: &mut Vec<Detection>) -> ort::Result<()> {
        let rows = outputs.tensor(&self.name)?;
        decode_rows(self, rows.data, rows.last_dim(), Scoring::of(outputs), out);
        Ok(())
    }
}
