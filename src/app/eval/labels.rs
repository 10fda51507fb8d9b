//! The label files `watchpost eval` scores against: moments a person marked
//! in a recording by looking at it (see `tests/truth/README.md`), read with
//! serde from TOML. A label file names its clip and frame rate and lists
//! counting lines, each with its geometry and every crossing (frame index and
//! direction), and zones, each with its polygon, the rule kind its moments
//! are for and every moment (frame index): an entry for `intrusion`, an
//! object appearing for `restricted_object`, a throw for `thrown_object`…
//! A moment a person cannot call for sure is `optional`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A label file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Labels {
    /// The recording the labels are for, relative to the label file.
    pub clip: PathBuf,
    /// The recording's frame rate, which turns frame indices into seconds.
    pub fps: f64,
    #[serde(default)]
    pub lines: Vec<LabelledLine>,
    #[serde(default)]
    pub zones: Vec<LabelledZone>,
}

/// One zone and the moments one rule kind should raise in it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledZone {
    /// Matched to the config's zone of the same name.
    pub name: String,
    /// The zone the labels were made for, as in a config's `polygon`.
    pub polygon: Vec<[f32; 2]>,
    /// The rule kind the moments are for, e.g. "intrusion".
    pub kind: String,
    /// What one moment is: an object raised (a start's objects and those an
    /// update brings in; the default) or an incident started.
    #[serde(default)]
    pub count: Count,
    pub moments: Vec<Moment>,
}

/// What a labelled moment stands for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Count {
    #[default]
    Objects,
    Incidents,
}

/// One labelled moment in a zone.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Moment {
    /// The frame (from 0) in which it happens.
    pub frame: u64,
    /// Neither required nor wrong if raised.
    #[serde(default)]
    pub optional: bool,
}

/// One counting line and every crossing of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledLine {
    /// Matched to the config's zone of the same name.
    pub name: String,
    /// The line the labels were made for, as in a config's `line`.
    pub line: [[f32; 2]; 2],
    pub crossings: Vec<Crossing>,
}

/// One person crossing a line.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crossing {
    /// The frame in which the feet are on the line (from 0).
    pub frame: u64,
    pub direction: Way,
    /// Neither required nor wrong if raised.
    #[serde(default)]
    pub optional: bool,
}

/// Which way a labelled crossing went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Way {
    AToB,
    BToA,
}

impl Labels {
    /// Reads a label file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: cannot read the label file: {e}", path.display()))?;
        let labels: Labels =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a label file: {e}", path.display()))?;
        if !(labels.fps.is_finite() && labels.fps > 0.0) {
            anyhow::bail!("{}: `fps` must be a positive number", path.display());
        }
        Ok(labels)
    }

    /// The labelled zone named `zone` with moments for rule kind `kind`.
    pub fn zone(&self, zone: &str, kind: &str) -> Option<&LabelledZone> {
        self.zones.iter().find(|z| z.name == zone && z.kind == kind)
    }

    /// The labelled line named `zone`.
    pub fn line(&self, zone: &str) -> Option<&LabelledLine> {
        self.lines.iter().find(|l| l.name == zone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_label_files_read() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/truth");
        for file in ["vtest_zones.toml", "bikes_objects.toml", "facade_throws.toml"] {
            let labels = Labels::load(&dir.join(file)).expect(file);
            assert!(!labels.zones.is_empty(), "{file}");
            for zone in &labels.zones {
                let in_order = zone.moments.iter().map(|m| m.frame).is_sorted();
                assert!(in_order, "{file}: {}: out of order", zone.name);
            }
        }
        let labels = Labels::load(&dir.join("vtest_lines.toml")).expect("vtest labels");
        assert!(labels.lines.len() >= 3);
        for line in &labels.lines {
            let in_order = line.crossings.iter().map(|c| c.frame).is_sorted();
            assert!(in_order, "{}: crossings out of order", line.name);
        }
        assert!(dir.join(&labels.clip).is_file() || !dir.join("../../media").exists());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<Labels>("clip = \"x\"\nfps = 10.0\ncolour = 1\n").unwrap_err();
        assert!(err.to_string().contains("colour"));
    }
}
