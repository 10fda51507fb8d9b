//! A loaded model: one ONNX Runtime session, its reusable input buffer (one
//! slot per frame of a batch) and the decoding its manifest asks for.
//!
//! At load the session's real inputs and outputs are compared with the
//! manifest, so a model and manifest that do not belong together fail at start
//! with a message that says what the model actually has.

use std::sync::Arc;
use std::time::Instant;

use ndarray::{Array4, ArrayView4, Axis, Slice};
use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::session::{Session, SessionOutputs};
use ort::value::TensorRef;

use super::families::{InputSize, Outputs};
use super::manifest::Layout;
use super::model::ModelPlan;
use super::preprocess::{ImageView, PreprocessError, Preprocessor};
use super::runtime::{Runtime, RuntimeConfig};
use super::shared_weights::SharedWeights;
use super::{nms, providers};
use crate::vocab::Detection;
use crate::vocab::Geometry;

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
    /// `[capacity, …]`: one slot per frame of a batch.
    input: Array4<f32>,
    capacity: usize,
    /// Results of the single-frame API.
    detections: Vec<Detection>,
    /// Reused by decoders that rewrite the output (yolox grids).
    scratch: Vec<f32>,
    /// Whether the session uses weights shared with the model's other sessions.
    shares_weights: bool,
}

impl Detector {
    /// Creates the session, checks it against the manifest and runs it once.
    pub fn load(plan: Arc<ModelPlan>, runtime: &Runtime, settings: &RuntimeConfig) -> Result<Self, InferError> {
        Self::load_sharing(plan, runtime, settings, None)
    }

    /// The model's `sessions`, loaded sharing their weights: on the CPU one
    /// copy of the weights for all of them ([`SharedWeights`]), and on any
    /// provider one copy of what the kernels repack.
    pub fn load_sessions(
        plan: &Arc<ModelPlan>,
        runtime: &Runtime,
        settings: &RuntimeConfig,
    ) -> Result<Vec<Self>, InferError> {
        let count = plan.batch.sessions.max(1);
        let cpu_only = settings.providers == [providers::Provider::Cpu];
        let shared = (count > 1 && cpu_only)
            .then(|| SharedWeights::prepare(&plan.manifest.model_path, runtime, settings))
            .and_then(|prepared| {
                prepared
                    .inspect_err(
                        |reason| tracing::warn!(model = %plan.key, %reason, "each session keeps its own weights"),
                    )
                    .ok()
            });
        super::runtime::release_freed_memory();
        let load = |shared: Option<&SharedWeights>| {
            let weights = PrepackedWeights::new();
            (0..count)
                .map(|_| Self::load_with(plan.clone(), runtime, settings, Some(&weights), shared))
                .collect::<Result<Vec<_>, _>>()
        };
        let sessions = match shared {
            Some(shared) => load(Some(&shared))
                .inspect(|_| tracing::info!(model = %plan.key, sessions = count, shared_mb = shared.bytes() >> 20, "sessions share one copy of the weights"))
                .or_else(|e| {
                    // Some kernels (INT8 convolutions) repack their weights
                    // in a way sessions cannot share; they keep their own.
                    tracing::info!(model = %plan.key, reason = %e, "the model's kernels cannot share weights across sessions; each session loads its own");
                    load(None)
                }),
            None => load(None),
        };
        super::runtime::release_freed_memory();
        sessions
    }

    /// As [`Self::load`]; sessions of one model given the same `weights`
    /// keep one copy of the weights ONNX Runtime repacks for its kernels
    /// (nearly all of a convolutional model's weights) instead of one each.
    pub fn load_sharing(
        plan: Arc<ModelPlan>,
        runtime: &Runtime,
        settings: &RuntimeConfig,
        weights: Option<&PrepackedWeights>,
    ) -> Result<Self, InferError> {
        Self::load_with(plan, runtime, settings, weights, None)
    }

    fn load_with(
        plan: Arc<ModelPlan>,
        runtime: &Runtime,
        settings: &RuntimeConfig,
        weights: Option<&PrepackedWeights>,
        shared: Option<&SharedWeights>,
    ) -> Result<Self, InferError> {
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
                .and_then(|b| Ok(b.with_intra_op_spinning(settings.spin)?))
                .and_then(|b| Ok(b.with_inter_op_spinning(settings.spin)?))
                .and_then(|b| match weights {
                    Some(w) => Ok(b.with_prepacked_weights(w)?),
                    None => Ok(b),
                })
                .and_then(|b| match shared {
                    Some(s) => Ok(s.apply(b)?),
                    None => Ok(b),
                })
                .map_err(|e| e.to_string())
                .and_then(|b| providers::register(provider, b))
                .and_then(|mut b| {
                    let file = shared.map_or_else(|| plan.manifest.model_path.clone(), SharedWeights::model_path);
                    b.commit_from_file(file).map_err(|e| e.to_string())
                });
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
        let shape = |n: usize| match spec.layout {
            Layout::Nhwc => (n, h, w, 3),
            Layout::Nchw => (n, 3, h, w),
        };
        check_io(&plan, &session, &<[usize; 4]>::from(shape(1)))?;
        let dynamic = session.inputs()[0]
            .dtype()
            .tensor_shape()
            .is_some_and(|s| s.first().is_some_and(|&d| d < 0));
        let capacity = if dynamic { plan.batch.max_size.max(1) } else { 1 };
        if !dynamic && plan.batch.max_size > 1 {
            tracing::info!(model = %plan.key, "the model has a fixed batch size of 1: frames run one at a time");
        }
        let (preprocessor, input) = (Preprocessor::new(spec), Array4::zeros(shape(capacity)));
        let mut detector = Self {
            preprocessor,
            plan,
            session,
            input,
            capacity,
            detections: Vec::with_capacity(256),
            scratch: Vec::new(),
            shares_weights: shared.is_some(),
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
            max_batch = capacity,
            warmup_ms = warm.elapsed().as_millis() as u64,
            "model loaded"
        );
        Ok(detector)
    }

    pub fn plan(&self) -> &Arc<ModelPlan> {
        &self.plan
    }

    /// Whether this session holds no weights of its own: it uses the one
    /// copy its model's CPU sessions share (see [`Self::load_sessions`]).
    pub fn shares_weights(&self) -> bool {
        self.shares_weights
    }

    /// How many frames one run can take: the configured `max_batch` when the
    /// model's batch dimension is dynamic, else 1.
    pub fn batch_capacity(&self) -> usize {
        self.capacity
    }

    /// Fills the input tensor from a scaled frame.
    pub fn preprocess(&mut self, image: &ImageView<'_>) -> Result<(), InferError> {
        self.preprocess_at(0, image)
    }

    /// Fills batch slot `index` (below [`Self::batch_capacity`]) from a scaled frame.
    pub fn preprocess_at(&mut self, index: usize, image: &ImageView<'_>) -> Result<(), InferError> {
        let buf = self.input.as_slice_mut().expect("an owned Array4 is contiguous");
        let per = buf.len() / self.capacity;
        let slot = buf
            .get_mut(index * per..(index + 1) * per)
            .ok_or_else(|| InferError::Run {
                model: self.plan.key.clone(),
                reason: format!("batch slot {index} is beyond the batch size {}", self.capacity),
            })?;
        self.preprocessor
            .fill(image, slot)
            .map_err(|e| InferError::Preprocess(e, self.plan.key.clone()))
    }

    /// The first frame's input tensor as last filled.
    pub fn input(&self) -> &[f32] {
        let buf = self.input.as_slice().expect("an owned Array4 is contiguous");
        &buf[..buf.len() / self.capacity]
    }

    /// Detections for one scaled frame, in source-normalised coordinates.
    pub fn detect(&mut self, image: &ImageView<'_>, geometry: &Geometry) -> Result<&[Detection], InferError> {
        self.preprocess(image)?;
        self.detect_prepared(geometry)
    }

    /// Runs the model on the first input slot and decodes the outputs.
    pub fn detect_prepared(&mut self, geometry: &Geometry) -> Result<&[Detection], InferError> {
        let mut out = [std::mem::take(&mut self.detections)];
        let result = self.run_batch(std::slice::from_ref(geometry), &mut out);
        let [detections] = out;
        self.detections = detections;
        result.map(|()| self.detections.as_slice())
    }

    /// Runs the first `geometries.len()` slots as one batch; the detections of
    /// slot i, in its source's normalised coordinates, replace `out[i]`.
    pub fn run_batch(&mut self, geometries: &[Geometry], out: &mut [Vec<Detection>]) -> Result<(), InferError> {
        let n = geometries.len().min(out.len());
        if n == 0 {
            return Ok(());
        }
        if n > self.capacity {
            return Err(InferError::Run {
                model: self.plan.key.clone(),
                reason: format!("a batch of {n} is beyond the batch size {}", self.capacity),
            });
        }
        let Self {
            plan,
            session,
            input,
            scratch,
            ..
        } = self;
        let run_error = run_failed(&plan.key);
        let view = input.slice_axis(Axis(0), Slice::from(0..n));
        let outputs = run_session(session, view).map_err(&run_error)?;
        let spec = &plan.manifest.input;
        let size = InputSize {
            width: spec.width as f32,
            height: spec.height as f32,
        };
        let threshold = plan.filter.lowest_threshold(plan.keys.confidence);
        for (i, (geometry, detections)) in geometries.iter().zip(out.iter_mut()).enumerate() {
            detections.clear();
            let frame = Outputs::new(&outputs, (i, n), size, plan.labels(), threshold);
            plan.manifest
                .output
                .decode(&frame, scratch, detections)
                .map_err(&run_error)?;
            for d in detections.iter_mut() {
                d.bbox = geometry.to_source(&d.bbox).clamped();
            }
            let (filter, confidence) = (&plan.filter, plan.keys.confidence);
            detections.retain(|d| filter.keeps_for_cover(d, confidence));
            if filter.class_agnostic_nms {
                nms::class_agnostic(detections, plan.keys.nms_iou, MAX_DETECTIONS);
            } else {
                nms::per_class(detections, plan.keys.nms_iou, MAX_DETECTIONS);
            }
        }
        Ok(())
    }

    /// Runs the model on the first input slot and drops the outputs: the bare
    /// cost of ONNX Runtime's `session.run`, for benchmarks.
    pub fn run_bare(&mut self) -> Result<(), InferError> {
        let view = self.input.slice_axis(Axis(0), Slice::from(0..1));
        run_session(&mut self.session, view)
            .map(drop)
            .map_err(run_failed(&self.plan.key))
    }

    /// Runs the model on the first input slot and copies every output out.
    pub fn run_raw(&mut self) -> Result<Vec<RawOutput>, InferError> {
        let run_error = run_failed(&self.plan.key);
        let view = self.input.slice_axis(Axis(0), Slice::from(0..1));
        let outputs = run_session(&mut self.session, view).map_err(&run_error)?;
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

/// Opens every model with ONNX Runtime and compares its real inputs and
/// outputs with its manifest (`check-config` runs this after the config
/// check). Returns one `manifest: problem` line per failure.
pub fn verify_models(
    models: &std::collections::BTreeMap<String, std::sync::Arc<ModelPlan>>,
    config: &RuntimeConfig,
) -> Vec<String> {
    let rt = match super::runtime::init(config) {
        Ok(rt) => rt,
        Err(e) => return vec![e.to_string()],
    };
    let settings = RuntimeConfig {
        intra_threads: 1,
        inter_threads: 1,
        ..config.clone()
    };
    models
        .values()
        .filter_map(|m| {
            Detector::load(m.clone(), rt, &settings)
                .err()
                .map(|e| format!("{}: {e}", m.manifest.path.display()))
        })
        .collect()
}

/// One inference on the input tensor, borrowed, not copied.
fn run_session<'s>(session: &'s mut Session, input: ArrayView4<'_, f32>) -> ort::Result<SessionOutputs<'s>> {
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
