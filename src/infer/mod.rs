//! Inference: ONNX detection models run through ONNX Runtime (`ort`).
//!
//! A model is described by its manifest ([`manifest`]); the operator's
//! `[models.<name>]` table ([`ModelConfig`]) points at it and sets thresholds.
//! [`Detector`] turns one scaled frame into detections in source-normalised
//! coordinates. Nothing here knows about cameras, zones or people.
//!
//! How a model's outputs become detections is its family's ([`families`]):
//! the manifest's `family` names one, and its `[output]` table is that
//! family's. Adding a family is one file and one line:
//!
//! 1. Write `src/infer/families/<name>.rs`: a `//!` paragraph on the outputs
//!    it reads; its `[output]` table, a serde struct with
//!    `#[serde(deny_unknown_fields)]` and a `///` doc with an example on every
//!    field; an `impl OutputDecoding` for it, whose `tensor_names` lists the
//!    tensors it reads and whose `decode` takes them from the frame's
//!    [`Outputs`](families::Outputs) (batching is already undone) and
//!    appends detections normalised to the model input; and unit tests of
//!    the decoding on hand-made tensors.
//! 2. Add `"<name>" => <Variant>(<name>::<Table>),` to the
//!    `model_families!` registry in `src/infer/families/mod.rs`.
//!
//! That gives `family = "<name>"` in manifests, the `[output]` check, the
//! model's outputs checked against `tensor_names` at load, and decoding.
//! Code two families share goes in a plain module beside them, as
//! `yolo_common` is for `yolov5`, `yolox` and `yolov8`.

pub mod batch;
pub mod detect;
pub mod detector;
pub mod families;
pub mod manifest;
pub mod model;
pub mod motion;
pub mod nms;
pub mod preprocess;
pub mod providers;
pub mod runtime;
mod shared_weights;

pub use batch::{InferClient, ModelService};
pub use detector::{Detector, InferError, RawOutput, verify_models};
pub use manifest::Manifest;
pub use model::{BatchPlan, DetectionFilter, ModelConfig, ModelKeys, ModelPlan, check_model};
