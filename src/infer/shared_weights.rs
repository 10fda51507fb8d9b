//! One copy of a model's weights for all of its CPU sessions.
//!
//! A model with several sessions (one per core by default) would otherwise
//! hold its weights once per session: ONNX Runtime lays the convolution
//! weights out anew for the CPU's kernels in every session it builds, and
//! its prepacked-weights container shares only what the kernels repack at
//! run time, not those. So the model is optimized once, in a session built
//! only for that, which writes the optimized graph with its large weights in
//! a side file (in a private temporary folder, since the layout depends on
//! this CPU). The weights are read back once into tensors watchpost owns, and
//! every session is built from the optimized graph with those tensors as its
//! initializers, which ONNX Runtime then uses in place.
//!
//! Anything unexpected on the way (a side file it cannot write, a weight of a
//! type not read here) only costs the sharing: the caller loads the sessions
//! the plain way and says why in the log.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ort::session::Session;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::value::{DynValue, Tensor};
use prost::Message;

use super::runtime::{Runtime, RuntimeConfig};

/// The optimized graph's and its side file's names inside the temporary folder.
const GRAPH_FILE: &str = "model.onnx";
const WEIGHTS_FILE: &str = "weights.bin";
/// Smaller initializers (shapes, scales) stay in the graph, where the
/// optimizers can read them.
const MIN_SHARED_BYTES: usize = 4096;

/// The optimized graph and its weights, ready to build sessions from.
pub(super) struct SharedWeights {
    /// Holds the optimized graph while sessions are built; removed on drop.
    dir: tempfile::TempDir,
    initializers: Vec<(String, Arc<DynValue>)>,
    bytes: usize,
}

/// A temporary folder only this user can open (0700 whatever the umask):
/// outside the unit's private /tmp, the optimized graph is nobody else's.
fn private_dir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .prefix("watchpost-model-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
}

impl SharedWeights {
    /// Optimizes `model` once for this CPU and reads its large weights back
    /// as one set of tensors.
    pub(super) fn prepare(model: &Path, runtime: &Runtime, settings: &RuntimeConfig) -> Result<Self, String> {
        let dir = private_dir().map_err(|e| format!("cannot make a temporary folder: {e}"))?;
        let optimized = dir.path().join(GRAPH_FILE);
        let session: Session = Session::builder(&runtime.environment)
            .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::Level3)?))
            .and_then(|b| Ok(b.with_intra_threads(1)?))
            .and_then(|b| Ok(b.with_inter_threads(settings.inter_threads)?))
            .and_then(|b| Ok(b.with_optimized_model_path(&optimized)?))
            .and_then(|b| {
                Ok(b.with_config_entry("session.optimized_model_external_initializers_file_name", WEIGHTS_FILE)?)
            })
            .and_then(|b| {
                Ok(b.with_config_entry(
                    "session.optimized_model_external_initializers_min_size_in_bytes",
                    MIN_SHARED_BYTES.to_string(),
                )?)
            })
            .and_then(|mut b| b.commit_from_file(model))
            .map_err(|e| format!("cannot optimize the model: {e}"))?;
        drop(session);
        let graph = std::fs::read(&optimized).map_err(|e| format!("cannot read the optimized model: {e}"))?;
        let weights = std::fs::read(dir.path().join(WEIGHTS_FILE))
            .map_err(|e| format!("cannot read the optimized model's weights: {e}"))?;
        let model =
            ModelProto::decode(graph.as_slice()).map_err(|e| format!("cannot parse the optimized model: {e}"))?;
        let mut initializers = Vec::new();
        let mut bytes = 0;
        for tensor in model.graph.map(|g| g.initializer).unwrap_or_default() {
            let Some((offset, length)) = tensor.external_range()? else {
                continue;
            };
            let data = weights
                .get(offset..offset + length)
                .ok_or_else(|| format!("weight `{}` lies beyond the side file", tensor.name))?;
            initializers.push((tensor.name.clone(), Arc::new(tensor.value(data)?)));
            bytes += length;
        }
        Ok(Self {
            dir,
            initializers,
            bytes,
        })
    }

    /// The optimized graph, to build every session from.
    pub(super) fn model_path(&self) -> PathBuf {
        self.dir.path().join(GRAPH_FILE)
    }

    /// Bytes of weights the sessions share.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Gives a session the shared tensors as its initializers.
    pub(super) fn apply(&self, mut builder: SessionBuilder) -> ort::Result<SessionBuilder> {
        for (name, value) in &self.initializers {
            builder = builder.with_initializer(name, value.clone())?;
        }
        Ok(builder)
    }
}

/// The parts of ONNX's `ModelProto` read here; other fields are skipped.
#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(message, repeated, tag = "13")]
    external_data: Vec<Entry>,
    /// 1: the data is in `external_data`'s file.
    #[prost(int32, tag = "14")]
    data_location: i32,
}

#[derive(Clone, PartialEq, Message)]
struct Entry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

impl TensorProto {
    /// Where the side file holds this tensor, if it is there.
    fn external_range(&self) -> Result<Option<(usize, usize)>, String> {
        if self.data_location != 1 {
            return Ok(None);
        }
        let field = |key: &str| {
            self.external_data
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.as_str())
        };
        if field("location") != Some(WEIGHTS_FILE) {
            return Err(format!("weight `{}` is in an unexpected file", self.name));
        }
        let number = |key: &str| -> Result<usize, String> {
            field(key)
                .unwrap_or("0")
                .parse()
                .map_err(|_| format!("weight `{}` has a bad `{key}`", self.name))
        };
        Ok(Some((number("offset")?, number("length")?)))
    }

    /// The tensor, copied out of the side file's little-endian bytes.
    fn value(&self, data: &[u8]) -> Result<DynValue, String> {
        // ONNX TensorProto.DataType: FLOAT 1, UINT8 2, INT8 3, INT32 6, INT64 7.
        let width = match self.data_type {
            2 | 3 => 1,
            1 | 6 => 4,
            7 => 8,
            other => return Err(format!("weight `{}` has data type {other}, not read here", self.name)),
        };
        let elements: i64 = self.dims.iter().product();
        if elements.max(0) as usize * width != data.len() {
            return Err(format!(
                "weight `{}` has {} bytes for {elements} elements",
                self.name,
                data.len()
            ));
        }
        let shape = self.dims.clone();
        let value = match self.data_type {
            1 => Tensor::from_array((shape, read(data, f32::from_le_bytes))).map(|t| t.into_dyn()),
            2 => Tensor::from_array((shape, data.to_vec())).map(|t| t.into_dyn()),
            3 => Tensor::from_array((shape, read(data, i8::from_le_bytes))).map(|t| t.into_dyn()),
            6 => Tensor::from_array((shape, read(data, i32::from_le_bytes))).map(|t| t.into_dyn()),
            _ => Tensor::from_array((shape, read(data, i64::from_le_bytes))).map(|t| t.into_dyn()),
        };
        value.map_err(|e| format!("weight `{}`: {e}", self.name))
    }
}

/// Little-endian values of one width out of raw bytes.
fn read<T, const N: usize>(data: &[u8], from: fn([u8; N]) -> T) -> Vec<T> {
    data.chunks_exact(N)
        .map(|c| {
            let mut bytes = [0u8; N];
            bytes.copy_from_slice(c);
            from(bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_temporary_folder_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = super::private_dir().unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{mode:o}");
    }
}
