//! The editor's model of one camera: its zones (normalised points), its
//! privacy masks and its rules' main keys, as the page shows and sends them,
//! and the bounds an edit must keep before anything reads it further: how
//! many zones, rules, masks and points, and how long each name and text.
//! Save and the trial both check an edit here first, so neither the writer
//! nor the config check (whose edge test is quadratic in a shape's points)
//! can be driven with huge input.

use serde::{Deserialize, Serialize};

use super::nodes::Named;

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

impl Named for ZoneEdit {
    fn name(&self) -> &str {
        &self.name
    }
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

/// A rule as the editor shows and sends it: its name, kind and zone, its
/// schedule (a list of tables), and every other key it writes in `keys`,
/// the common ones (`labels`, `min_secs`, ...) and its kind's own alike, as
/// the config schema lists them for the page's form. A key not in `keys`
/// is not in the file (its default applies).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEdit {
    pub name: String,
    pub kind: String,
    pub zone: String,
    #[serde(default)]
    pub schedule: Option<Vec<WindowEdit>>,
    /// Every other key of the rule that holds a number, a boolean, a text
    /// or a list of those, e.g. `"min_secs": 2.0`, `"labels": ["person"]`.
    /// Unknown keys are refused by the config check of the written file, at
    /// their line; null is "not in the file".
    #[serde(flatten)]
    pub keys: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Named for RuleEdit {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Checks one of a rule's plain keys: a number, a boolean, a text of at
/// most [`MAX_NAME`] bytes, or a list of at most [`MAX_LIST`] of those.
fn plain_key(who: &str, key: &str, value: &serde_json::Value) -> Result<(), EditError> {
    use serde_json::Value;
    too_long(&format!("{who}: a key"), key)?;
    let what = format!("{who}: `{key}`");
    let items = match value {
        Value::Array(items) => {
            too_many(&what, items.len(), MAX_LIST)?;
            items.as_slice()
        }
        // null is "not in the file"
        Value::Null => return Ok(()),
        one => std::slice::from_ref(one),
    };
    for item in items {
        match item {
            Value::String(text) => too_long(&what, text)?,
            Value::Bool(_) => {}
            Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => {}
            _ => {
                return Err(EditError::Invalid(format!(
                    "{what} must be a number, true or false, a text of at most {MAX_NAME} bytes, or a list of at most {MAX_LIST} of those"
                )));
            }
        }
    }
    Ok(())
}

/// What the editor shows and sends back for one camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraEdit {
    pub camera: String,
    pub zones: Vec<ZoneEdit>,
    pub masks: Vec<Vec<[f64; 2]>>,
    pub rules: Vec<RuleEdit>,
    /// Why this camera cannot be edited in the console (the file writes
    /// something the editor cannot show whole); None when it can. Shown,
    /// never read back: Save works it out from the file again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<String>,
}

/// Most zones, rules or privacy masks one camera's edit may hold, and most
/// keys of one rule.
pub const MAX_ITEMS: usize = 64;
/// Most points of one zone, line or mask.
pub const MAX_POINTS: usize = 256;
/// Longest name (camera, zone, rule: config names are 1 to 64 characters)
/// and longest other text (kind, label, severity, day, time), in bytes.
pub const MAX_NAME: usize = 64;
/// Most labels of one rule (items of one list key), and most windows of one
/// schedule.
pub const MAX_LIST: usize = 32;

fn too_long(what: &str, text: &str) -> Result<(), EditError> {
    if text.len() > MAX_NAME {
        return Err(EditError::Invalid(format!(
            "{what} is {} bytes long; at most {MAX_NAME} are allowed",
            text.len()
        )));
    }
    Ok(())
}

fn too_many(what: &str, count: usize, max: usize) -> Result<(), EditError> {
    if count > max {
        return Err(EditError::Invalid(format!(
            "{what}: {count} given, at most {max} are allowed"
        )));
    }
    Ok(())
}

fn points_ok(what: &str, points: &[[f64; 2]]) -> Result<(), EditError> {
    too_many(&format!("{what} points"), points.len(), MAX_POINTS)?;
    if points.iter().flatten().any(|v| !v.is_finite()) {
        return Err(EditError::Invalid(format!("{what} has a point that is not a number")));
    }
    Ok(())
}

impl CameraEdit {
    /// Checks the edit's own shape and size (not the config: the caller
    /// runs the config check on the written result).
    pub fn validate(&self) -> Result<(), EditError> {
        too_long("the camera name", &self.camera)?;
        too_many("zones", self.zones.len(), MAX_ITEMS)?;
        too_many("rules", self.rules.len(), MAX_ITEMS)?;
        too_many("privacy masks", self.masks.len(), MAX_ITEMS)?;
        let mut seen = std::collections::BTreeSet::new();
        for zone in &self.zones {
            too_long("a zone name", &zone.name)?;
            if !seen.insert(zone.name.as_str()) {
                return Err(EditError::Invalid(format!("two zones are named `{}`", zone.name)));
            }
            if zone.kind != "polygon" && zone.kind != "line" {
                return Err(EditError::Invalid(format!(
                    "zone `{}`: kind is `{}`; use \"polygon\" or \"line\"",
                    zone.name,
                    zone.kind.chars().take(MAX_NAME).collect::<String>()
                )));
            }
            points_ok(&format!("zone `{}`", zone.name), &zone.points)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for rule in &self.rules {
            too_long("a rule name", &rule.name)?;
            if !seen.insert(rule.name.as_str()) {
                return Err(EditError::Invalid(format!("two rules are named `{}`", rule.name)));
            }
            let who = format!("rule `{}`", rule.name);
            too_long(&format!("{who}: `kind`"), &rule.kind)?;
            too_long(&format!("{who}: `zone`"), &rule.zone)?;
            too_many(&format!("{who}: keys"), rule.keys.len(), MAX_ITEMS)?;
            for (key, value) in &rule.keys {
                plain_key(&who, key, value)?;
            }
            let windows = rule.schedule.as_deref().unwrap_or_default();
            too_many(&format!("{who}: schedule windows"), windows.len(), MAX_LIST)?;
            for window in windows {
                let days = window.days.as_deref().unwrap_or_default();
                too_many(&format!("{who}: days of a schedule window"), days.len(), MAX_LIST)?;
                for text in days.iter().chain([&window.from, &window.to]) {
                    too_long(&format!("{who}: a schedule day or time"), text)?;
                }
            }
        }
        for (i, mask) in self.masks.iter().enumerate() {
            points_ok(&format!("privacy mask {}", i + 1), mask)?;
        }
        Ok(())
    }
}

/// Why an edit cannot be written (the file is not touched).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EditError {
    #[error("the config file is not valid TOML: {0}")]
    Parse(String),
    #[error("the config has no camera `{0}`")]
    NoCamera(String),
    /// The edit itself is wrong or too large.
    #[error("{0}")]
    Invalid(String),
    /// The file writes this camera in a way the editor cannot show whole;
    /// nothing is written rather than something dropped.
    #[error("{0}")]
    Unsupported(String),
}
