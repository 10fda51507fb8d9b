//! What the registry hands every family: the [`OutputDecoding`] trait a
//! family's `[output]` table implements, and [`Outputs`], one frame's part of
//! a run's outputs together with what decoding them needs.
//!
//! Batching ends here. A run may hold several frames, each output tensor
//! stacking them on its first dimension; a family reads its tensors through
//! [`Outputs::tensor`] as if the model had run on that one frame, so no
//! decoder has to know how many frames shared the run.

use std::fmt::Debug;
use std::ops::Index;

use ort::session::SessionOutputs;
use ort::value::DynValue;
use serde::de::DeserializeOwned;

use crate::vocab::{Detection, LabelMap};

/// The model's input size in pixels, which boxes are normalised against.
#[derive(Debug, Clone, Copy)]
pub struct InputSize {
    pub width: f32,
    pub height: f32,
}

/// A family's `[output]` table: the manifest keys that name the output tensors
/// and tune the decoding, and the decoding itself.
pub trait OutputDecoding: DeserializeOwned + Debug + Clone {
    /// The output tensors the decoding reads; the model must have each, which
    /// is checked when it is loaded so a missing one never fails mid-stream.
    fn tensor_names(&self) -> Vec<&str>;

    /// Appends one frame's detections that score at least
    /// `outputs.threshold` and whose class has a label, boxes normalised to
    /// the model input. Overlaps are left to NMS. `scratch` is kept across
    /// frames so a decoder that must rewrite a tensor does not allocate.
    fn decode(&self, outputs: &Outputs<'_>, scratch: &mut Vec<f32>, out: &mut Vec<Detection>) -> ort::Result<()>;
}

/// One frame's part of a (possibly batched) run's outputs, and what decoding
/// it needs.
#[derive(Clone, Copy)]
pub struct Outputs<'a> {
    // Seen through `Index`, not as `&'a SessionOutputs<'a>`: that type is
    // invariant in its lifetime and has a destructor, so a frame's short
    // borrow could not be tied to it.
    session: &'a dyn for<'k> Index<&'k str, Output = DynValue>,
    index: usize,
    count: usize,
    pub input: InputSize,
    pub labels: &'a LabelMap,
    /// The lowest score any filter could keep; the filters themselves run
    /// after decoding, on source coordinates.
    pub threshold: f32,
}

/// One output tensor of one frame.
#[derive(Debug, Clone, Copy)]
pub struct Tensor<'a> {
    /// The frame's shape: the batch dimension is gone.
    pub shape: &'a [i64],
    pub data: &'a [f32],
}

impl<'a> Outputs<'a> {
    /// Frame `index` of the `count` a run's outputs hold.
    pub(crate) fn new(
        session: &'a SessionOutputs<'_>,
        (index, count): (usize, usize),
        input: InputSize,
        labels: &'a LabelMap,
        threshold: f32,
    ) -> Self {
        Self {
            session,
            index,
            count,
            input,
            labels,
            threshold,
        }
    }

    /// This frame's part of output `name`. The name was checked against the
    /// model at load.
    pub fn tensor(&self, name: &str) -> ort::Result<Tensor<'a>> {
        let (shape, data) = self.session[name].try_extract_tensor::<f32>()?;
        let per = data.len() / self.count.max(1);
        Ok(Tensor {
            shape: shape.get(1..).unwrap_or(&[]),
            data: data.get(self.index * per..(self.index + 1) * per).unwrap_or(&[]),
        })
    }
}

impl Tensor<'_> {
    /// Dimension `i` of the frame's shape; 0 when absent or dynamic, so a
    /// malformed output decodes to nothing instead of panicking.
    pub fn dim(&self, i: usize) -> usize {
        self.shape.get(i).copied().unwrap_or(0).max(0) as usize
    }

    /// The last dimension: the row length of a row-per-candidate output.
    pub fn last_dim(&self) -> usize {
        self.shape.last().copied().unwrap_or(0).max(0) as usize
    }
}
