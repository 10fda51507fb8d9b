//! Inference: ONNX detection models run through ONNX Runtime (`ort`).
//!
//! A model is described by its manifest ([`manifest`]); the operator's
//! `[models.<name>]` table ([`ModelConfig`]) points at it and sets thresholds.
//! [`Detector`] turns one scaled frame into detections in source-normalised
//! coordinates. Nothing here knows about cameras, zones or people.

pub mod batch;
pub mod centerface;
pub mod detect;
pub mod detector;
pub mod manifest;
pub mod model;
pub mod motion;
pub mod nms;
pub mod preprocess;
pub mod providers;
pub mod runtime;
pub mod ssd;
pub mod yolo;

pub use batch::{BatchPlan, InferClient, ModelService};
pub use detector::{Detector, InferError, RawOutput};
pub use manifest::Manifest;
pub use model::{DetectionFilter, ModelConfig, ModelPlan, check_model, verify_models};
