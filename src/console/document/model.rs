//! The editor's model of one camera: its zones (normalised points), its
//! privacy masks and its rules' main keys, as the page shows and sends them.

use serde::{Deserialize, Serialize};

/// A zone as the editor draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneEdit {
    pub name: String,
    /// "polygon" or "line".
    pub kind: String,
    /// Normalised to the frame.
    pub points: Vec<[f64; 2]>,
}

/// One window of a rule's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowEdit {
    #[serde(default)]
    pub days: Option<Vec<String>>,
    pub from: String,
    pub to: String,
}

/// A rule's main keys; None is "not in the file" (its default applies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEdit {
    pub name: String,
    pub kind: String,
    pub zone: String,
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub min_confidence: Option<f64>,
    #[serde(default)]
    pub min_secs: Option<f64>,
    #[serde(default)]
    pub end_after_secs: Option<f64>,
    #[serde(default)]
    pub snapshot: Option<bool>,
    /// line_crossing only: "a_to_b", "b_to_a" or "both".
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub schedule: Option<Vec<WindowEdit>>,
}

/// What the editor shows and sends back for one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraEdit {
    pub camera: String,
    pub zones: Vec<ZoneEdit>,
    pub masks: Vec<Vec<[f64; 2]>>,
    pub rules: Vec<RuleEdit>,
}

/// Why an edit cannot be written (the file is not touched).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EditError {
    #[error("the config file is not valid TOML: {0}")]
    Parse(String),
    #[error("the config has no camera `{0}`")]
    NoCamera(String),
    #[error("{0}")]
    Invalid(String),
}
