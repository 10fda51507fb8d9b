//! Execution providers: where a model runs. The operator lists them in order
//! (`runtime.providers = ["tensorrt", "cuda", "cpu"]`); the first that
//! registers for a model wins, and the log names the one that really runs.
//!
//! GPU and OpenVINO providers are cargo features (`cuda`, `tensorrt`,
//! `openvino`); their libraries come with the `onnxruntime-gpu` and
//! `onnxruntime-openvino` wheels (docs/gpu.md). A provider that was not built
//! in, or whose libraries are missing, is skipped with a warning.

use std::fmt;

use ort::session::builder::SessionBuilder;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Tensorrt,
    Cuda,
    Openvino,
    Cpu,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Tensorrt => "tensorrt",
            Provider::Cuda => "cuda",
            Provider::Openvino => "openvino",
            Provider::Cpu => "cpu",
        })
    }
}

/// A provider built in with cargo feature `$feature` as ort's `ep::$ep`:
/// registered on `$builder`, or an error saying the feature is not built in.
macro_rules! featured {
    ($builder:ident, $feature:literal, $ep:ident) => {{
        #[cfg(feature = $feature)]
        return $builder
            .with_execution_providers([ort::ep::$ep::default().build().error_on_failure()])
            .map_err(|e| e.to_string());
        #[cfg(not(feature = $feature))]
        Err(format!("this watchpost was built without the `{}` feature", $feature))
    }};
}

/// Registers `provider` on a session builder, or says why it cannot run.
pub fn register(provider: Provider, builder: SessionBuilder) -> Result<SessionBuilder, String> {
    #[allow(unused_imports)]
    use ort::ep::ExecutionProvider as _;
    match provider {
        Provider::Cpu => Ok(builder),
        Provider::Cuda => featured!(builder, "cuda", CUDA),
        Provider::Tensorrt => featured!(builder, "tensorrt", TensorRT),
        Provider::Openvino => featured!(builder, "openvino", OpenVINO),
    }
}
