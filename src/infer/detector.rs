//! A loaded model: one ONNX Runtime session, its reusable input buffer and the
//! decoding its manifest asks for.
//!
//! At load the session's real inputs and outputs are compared with the
//! manifest, so a model and manifest that do not belong together fail at start
//! with a message that says what the model actually has.

use std::sync::Arc;
use std::time::Instant;

use ndarray::Array4;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use super::manifest::{Layout, OutputSpec};
use super::nms;
use super::preprocess::{ImageView, PreprocessError, Preprocessor};
use super::runtime::{Runtime, RuntimeConfig};
use super::{Detection, ModelPlan, providers, ssd, yolo};
use crate::decode::Geometry;

/// Most detections kept per frame after NMS.
const MAX_DETECTIONS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error("model `{model}`: cannot create an ONNX Runtime session for {path}: {reason}")]
    Session {
        model: String,
        path: String,
        reason: String,
    },
    #[error("model `{model}` does not match its manifest: {reason}")]
    Mismatch { model: String, reason: String },
    #[error("model `{model}`: {0}", model = .1)]
    Preprocess(#[source] PreprocessError, String),
    #[error("model `{model}`: inference failed: {reason}")]
    Run { model: String, reason: String },
}

/// Raw output tensors, for parity checks against other runtimes.
#[derive(Debug, Clone)]
pub struct RawOutput {
    pub name: String,
    pub shape: Vec<i64>,
    pub data: Vec<f32>,
}

pub struct Detector {
    plan: Arc<ModelPlan>,
    session: Session,
    preprocessor: Preprocessor,
    input: Array4<f32>,
    detections: Vec<Detection>,
    /// Reused by decoders that rewrite the output (yolox grids).
    scratch: Vec<f32>,
}

impl Detector {
    /// Creates the session, checks it against the manifest and runs it once.
    pub fn load(plan: Arc<ModelPlan>, runtime: &Runtime, settings: &RuntimeConfig) -> Result<Self, InferError> {
        let model = plan.key.clone();
        let path = plan.manifest.model_path.display().to_string();
        let session_error = |reason: String| InferError::Session {
            model: model.clone(),
            path: path.clone(),
            reason,
        };
        let mut session = None;
        let mut tried = Vec::new();
        for &provider in &settings.providers {
            let attempt = Session::builder(&runtime.environment)
                .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
                .and_then(|b| Ok(b.with_intra_threads(settings.intra_threads)?))
                .and_then(|b| Ok(b.with_inter_threads(settings.inter_threads)?))
                .map_err(|e| e.to_string())
                .and_then(|b| providers::register(provider, b))
                .and_then(|mut b| b.commit_from_file(&plan.manifest.model_path).map_err(|e| e.to_string()));
            match attempt {
                Ok(s) => {
                    session = Some((s, provider));
                    break;
                }
                Err(reason) => {
                    tracing::warn!(model = %model, provider = %provider, %reason, "execution provider unavailable; trying the next");
                    tried.push(format!("{provider}: {reason}"));
                }
            }
        }
        let Some((session, provider)) = session else {
            return Err(session_error(format!(
                "no execution provider could run it ({})",
                tried.join("; ")
            )));
        };

        let spec = &plan.manifest.input;
        let (h, w) = (spec.height as usize, spec.width as usize);
        let input = match spec.layout {
            Layout::Nhwc => Array4::zeros((1, h, w, 3)),
            Layout::Nchw => Array4::zeros((1, 3, h, w)),
        };
        check_io(&plan, &session, input.shape())?;
        let mut detector = Self {
            preprocessor: Preprocessor::new(spec),
            plan,
            session,
            input,
            detections: Vec::with_capacity(256),
            scratch: Vec::new(),
        };
        let warm = Instant::now();
        detector.run_raw()?;
        tracing::info!(
            model = %detector.plan.key,
            name = %detector.plan.manifest.name,
            family = ?detector.plan.manifest.family,
            input = %format!("{w}x{h}"),
            provider = %provider,
            intra_threads = settings.intra_threads,
            warmup_ms = warm.elapsed().as_millis() as u64,
            "model loaded"
        );
        Ok(detector)
    }

    pub fn plan(&self) -> &Arc<ModelPlan> {
        &self.plan
    }

    /// Fills the input tensor from a scaled frame.
    pub fn preprocess(&mut self, image: &ImageView<'_>) -> Result<(), InferError> {
        let buf = self.input.as_slice_mut().expect("an owned Array4 is contiguous");
        self.preprocessor
            .fill(image, buf)
            .map_err(|e| InferError::Preprocess(e, self.plan.key.clone()))
    }

    /// The input tensor as last filled.
    pub fn input(&self) -> &[f32] {
        self.input.as_slice().expect("an owned Array4 is contiguous")
    }

    /// Detections for one scaled frame, in source-normalised coordinates.
    pub fn detect(&mut self, image: &ImageView<'_>, geometry: &Geometry) -> Result<&[Detection], InferError> {
        self.preprocess(image)?;
        self.detect_prepared(geometry)
    }

    /// Runs the model on the current input tensor and decodes the outputs.
    pub fn detect_prepared(&mut self, geometry: &Geometry) -> Result<&[Detection], InferError> {
        let run_error = run_failed(&self.plan.key);
        let outputs = run_session(&mut self.session, &self.input).map_err(&run_error)?;
        self.detections.clear();
        let labels = self.plan.labels();
        let threshold = self.plan.filter.lowest_threshold(self.plan.confidence);
        let input = &self.plan.manifest.input;
        let size = yolo::InputSize {
            width: input.width as f32,
            height: input.height as f32,
        };
        let tensor = |name: &str| outputs[name].try_extract_tensor::<f32>().map_err(&run_error);
        match &self.plan.manifest.output {
            OutputSpec::Ssd(spec) => {
                let (scores_shape, scores) = tensor(&spec.scores)?;
                let (_, boxes) = tensor(&spec.boxes)?;
                let classes = scores_shape.last().copied().unwrap_or(0).max(0) as usize;
                ssd::decode(spec, scores, boxes, classes, labels, threshold, &mut self.detections);
            }
            OutputSpec::Yolov5(spec) => {
                let (shape, data) = tensor(&spec.name)?;
                let row = shape.last().copied().unwrap_or(0).max(0) as usize;
                yolo::decode_v5(spec, data, row, size, labels, threshold, &mut self.detections);
            }
            OutputSpec::Yolox(spec) => {
                let (shape, data) = tensor(&spec.name)?;
                let row = shape.last().copied().unwrap_or(0).max(0) as usize;
                yolo::decode_yolox(
                    spec,
                    data,
                    row,
                    size,
                    labels,
                    threshold,
                    &mut self.scratch,
                    &mut self.detections,
                );
            }
            OutputSpec::Yolov8(spec) => {
                let (shape, data) = tensor(&spec.name)?;
                let dim = |i: usize| shape.get(i).copied().unwrap_or(0).max(0) as usize;
                let (channels, anchors) = if spec.transposed {
                    (dim(2), dim(1))
                } else {
                    (dim(1), dim(2))
                };
                yolo::decode_v8(
                    spec,
                    data,
                    channels,
                    anchors,
                    size,
                    labels,
                    threshold,
                    &mut self.detections,
                );
            }
        }
        for d in &mut self.detections {
            d.bbox = geometry.to_source(&d.bbox).clamped();
        }
        let (filter, confidence) = (&self.plan.filter, self.plan.confidence);
        self.detections.retain(|d| filter.keeps(d, confidence));
        if filter.class_agnostic_nms {
            nms::class_agnostic(&mut self.detections, self.plan.nms_iou, MAX_DETECTIONS);
        } else {
            nms::per_class(&mut self.detections, self.plan.nms_iou, MAX_DETECTIONS);
        }
        Ok(&self.detections)
    }

    /// Runs the model on the current input tensor and copies every output out.
    pub fn run_raw(&mut self) -> Result<Vec<RawOutput>, InferError> {
        let run_error = run_failed(&self.plan.key);
        let outputs = run_session(&mut self.session, &self.input).map_err(&run_error)?;
        outputs
            .iter()
            .map(|(name, value)| {
                let (shape, data) = value.try_extract_tensor::<f32>().map_err(&run_error)?;
                Ok(RawOutput {
                    name: name.to_string(),
                    shape: shape.to_vec(),
                    data: data.to_vec(),
                })
            })
            .collect()
    }
}

/// One inference on the input tensor, borrowed, not copied.
fn run_session<'s>(session: &'s mut Session, input: &Array4<f32>) -> ort::Result<ort::session::SessionOutputs<'s>> {
    let tensor = TensorRef::from_array_view(input)?;
    session.run(ort::inputs![tensor])
}

fn run_failed(model: &str) -> impl Fn(ort::Error) -> InferError + '_ {
    move |e| InferError::Run {
        model: model.to_string(),
        reason: e.to_string(),
    }
}

/// Compares the session's real inputs and outputs with the manifest.
fn check_io(plan: &ModelPlan, session: &Session, want_shape: &[usize]) -> Result<(), InferError> {
    let mismatch = |reason: String| InferError::Mismatch {
        model: plan.key.clone(),
        reason,
    };
    let describe = |outlets: &[ort::value::Outlet]| {
        outlets
            .iter()
            .map(|o| {
                format!(
                    "`{}` {:?}",
                    o.name(),
                    o.dtype().tensor_shape().map(|s| s.to_vec()).unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let spec = &plan.manifest.input;
    let inputs = session.inputs();
    if inputs.len() != 1 || inputs[0].name() != spec.name {
        return Err(mismatch(format!(
            "the manifest's input is `{}`, but the model's inputs are {}",
            spec.name,
            describe(inputs)
        )));
    }
    if let Some(shape) = inputs[0].dtype().tensor_shape() {
        let fits = shape.len() == want_shape.len()
            && shape
                .iter()
                .zip(want_shape)
                .all(|(&have, &want)| have < 0 || have as usize == want);
        if !fits {
            return Err(mismatch(format!(
                "the manifest describes input `{}` as {want_shape:?} ({:?}), but the model takes {:?}",
                spec.name,
                spec.layout,
                shape.to_vec()
            )));
        }
    }
    let wanted = plan.manifest.output.tensor_names();
    let outputs = session.outputs();
    for name in wanted {
        if !outputs.iter().any(|o| o.name() == name) {
            return Err(mismatch(format!(
                "the manifest expects an output `{name}`, but the model's outputs are {}",
                describe(outputs)
            )));
        }
    }
    Ok(())
}
