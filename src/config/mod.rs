//! Config: the operator's TOML file, checked into a [`Plan`] in two steps (as
//! ripgrep turns flags into arguments): each table is deserialised by the type
//! that sits beside the component it configures, then checked against the
//! rest — zones exist, labels belong to the model, files are there. Runtime
//! code only ever sees the plan.
//!
//! Every problem is reported at once, one line each:
//! `file:line:col: what is wrong and how to fix it`.

pub mod de;
pub mod diag;
pub mod effective;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

use crate::anonymize::privacy::{self, PrivacyConfig, PrivacyPlan};
use crate::app::camera::{self as camera, CameraPlan};
use crate::app::metrics::{self, MetricsConfig, MetricsPlan};
use crate::infer::runtime::RuntimeConfig;
use crate::infer::{LabelId, LabelMap, ModelConfig, ModelPlan, check_model};
use crate::publish::{MqttConfig, MqttPlan, OutboxConfig, OutboxPlan, mqtt, outbox};
use de::{Node, array_items, from_node, parse_document};
pub use diag::{Diagnostic, Diagnostics, SourceFile};

/// The top-level keys, in the order the documentation lists them.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "site",
    "box_id",
    "state_dir",
    "runtime",
    "mqtt",
    "outbox",
    "metrics",
    "models",
    "privacy",
    "cameras",
];

/// Where the box keeps its state (the outbox) unless `state_dir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/watchpost";

/// A config that failed its check, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.diagnostics.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// A checked config: everything the box will run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub path: PathBuf,
    /// The residential site, e.g. "maple-court"; part of every topic.
    pub site: String,
    /// This box within the site, e.g. "gatehouse-1"; part of every topic.
    pub box_id: String,
    /// Where the outbox lives, e.g. "/var/lib/watchpost".
    pub state_dir: PathBuf,
    pub runtime: RuntimeConfig,
    pub mqtt: MqttPlan,
    pub outbox: OutboxPlan,
    pub metrics: MetricsPlan,
    pub models: BTreeMap<String, Arc<ModelPlan>>,
    pub privacy: PrivacyPlan,
    pub cameras: Vec<CameraPlan>,
}

impl Plan {
    /// Whether any rule publishes snapshots.
    pub fn wants_snapshots(&self) -> bool {
        self.cameras.iter().flat_map(|c| &c.rules).any(|r| r.snapshot)
    }
}

/// What a component's check needs: where it is, and where to report.
pub struct Ctx<'a> {
    pub file: &'a SourceFile,
    pub base_dir: &'a Path,
    pub diags: &'a mut Diagnostics,
}

impl Ctx<'_> {
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.error(self.file, Some(span), message);
    }

    /// A path from the config, relative to the config file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        join_clean(self.base_dir, path)
    }

    /// The value if it lies in `range`, else a located error.
    pub fn in_range<T: PartialOrd + Copy + fmt::Display>(
        &mut self,
        value: &Spanned<T>,
        range: RangeInclusive<T>,
        key: &str,
    ) -> Option<T> {
        let v = *value.get_ref();
        if range.contains(&v) {
            Some(v)
        } else {
            self.error(
                value.span(),
                format!(
                    "`{key}` is {v}, out of range; use a value from {} to {}",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }

    /// A name that is safe inside an MQTT topic and a log line.
    pub fn identifier(&mut self, value: &Spanned<String>, what: &str) -> Option<String> {
        let v = value.get_ref();
        let ok = !v.is_empty()
            && v.len() <= 64
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Some(v.clone())
        } else {
            self.error(
                value.span(),
                format!("{what} `{v}` must be 1 to 64 characters of letters, digits, '-', '_' or '.' (it becomes part of MQTT topics)"),
            );
            None
        }
    }

    /// Resolves label names to the model's ids; unknown names are errors that
    /// list the model's labels. `labels` is None when the model failed its check.
    /// `owner` says who uses them, e.g. "rule `x` on camera `y`".
    pub fn resolve_labels(
        &mut self,
        owner: &str,
        names: &Spanned<Vec<String>>,
        labels: Option<&LabelMap>,
        model: &str,
    ) -> Option<Vec<LabelId>> {
        if names.get_ref().is_empty() {
            self.error(
                names.span(),
                format!("{owner} lists no labels; name at least one, e.g. labels = [\"person\"]"),
            );
            return None;
        }
        let labels = labels?;
        let mut ids = Vec::new();
        let mut ok = true;
        for name in names.get_ref() {
            let found = labels.ids_of(name);
            if found.is_empty() {
                ok = false;
                let known = labels.names();
                let hint = closest(name, &known)
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                self.error(
                    names.span(),
                    format!(
                        "{owner} uses label `{name}`, which model `{model}` does not have; {hint}known labels: {}",
                        known.join(", ")
                    ),
                );
            }
            ids.extend(found);
        }
        ok.then_some(ids)
    }
}

/// `base` joined with `path` (kept as is when absolute), with `a/../`
/// folded away so messages show the path an operator would type.
pub fn join_clean(base: &Path, path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// The candidate within two edits of `word`, if there is exactly one best.
pub(crate) fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
                diagonal = above;
            }
        }
        row[b.len()]
    };
    let mut scored: Vec<(usize, &str)> = candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(d, best), rest @ ..] if rest.first().is_none_or(|(d2, _)| d2 > d) => Some(best),
        _ => None,
    }
}

/// Reads and checks a config file.
pub fn load(path: &Path) -> Result<Plan, ConfigError> {
    let mut diags = Diagnostics::default();
    let plan = match std::fs::read_to_string(path) {
        Ok(text) => check_text(path, text, &mut diags),
        Err(e) => {
            diags.file_error(path, format!("cannot read config: {e}"));
            None
        }
    };
    match plan {
        Some(plan) if diags.is_empty() => Ok(plan),
        _ => Err(ConfigError {
            diagnostics: diags.into_sorted(),
        }),
    }
}

fn check_text(path: &Path, text: String, diags: &mut Diagnostics) -> Option<Plan> {
    let file = SourceFile::new(path, text);
    let doc = parse_document(&file, diags)?;
    let base_dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut ctx = Ctx {
        file: &file,
        base_dir: &base_dir,
        diags,
    };

    let mut site = None;
    let mut box_id = None;
    let mut runtime = Some(RuntimeConfig::default());
    let mut mqtt_config = Some(MqttConfig::default());
    let mut outbox_config = Some(OutboxConfig::default());
    let mut metrics_config = Some(MetricsConfig::default());
    let mut state_dir = Some(PathBuf::from(DEFAULT_STATE_DIR));
    let mut models = BTreeMap::new();
    let mut model_names = Vec::new();
    let mut camera_nodes: &[Node<'_>] = &[];
    let mut privacy_config = Some(PrivacyConfig::default());

    let root = doc.get_ref();
    for (key, node) in root.iter() {
        match key.get_ref().as_ref() {
            "site" => {
                site = from_node::<Spanned<String>>(&file, node, ctx.diags).and_then(|s| ctx.identifier(&s, "site"))
            }
            "box_id" => {
                box_id = from_node::<Spanned<String>>(&file, node, ctx.diags).and_then(|s| ctx.identifier(&s, "box_id"))
            }
            "runtime" => runtime = from_node(&file, node, ctx.diags),
            "mqtt" => mqtt_config = from_node(&file, node, ctx.diags),
            "outbox" => outbox_config = from_node(&file, node, ctx.diags),
            "privacy" => privacy_config = from_node(&file, node, ctx.diags),
            "metrics" => metrics_config = from_node(&file, node, ctx.diags),
            "state_dir" => {
                state_dir = from_node::<Spanned<PathBuf>>(&file, node, ctx.diags).and_then(|dir| {
                    let path = ctx.resolve(dir.get_ref());
                    if path.exists() && !path.is_dir() {
                        ctx.error(
                            dir.span(),
                            format!("state_dir {} exists but is not a folder", path.display()),
                        );
                        return None;
                    }
                    Some(path)
                })
            }
            "models" => match node.get_ref().as_table() {
                Some(table) => {
                    for (name, model_node) in table.iter() {
                        let name_text = name.get_ref().to_string();
                        model_names.push(name_text.clone());
                        let named = Spanned::new(name.span(), name_text.clone());
                        let valid_name = ctx.identifier(&named, "model name");
                        let config: Option<ModelConfig> = from_node(&file, model_node, ctx.diags);
                        if let (Some(config), Some(_)) = (config, valid_name)
                            && let Some(plan) = check_model(&name_text, &config, &mut ctx)
                        {
                            models.insert(name_text, Arc::new(plan));
                        }
                    }
                }
                None => ctx.error(
                    node.span(),
                    "`models` must be a table of models: [models.<name>] with manifest = \"…\"",
                ),
            },
            "cameras" => camera_nodes = array_items(&file, node, "cameras", ctx.diags),
            other => ctx.error(
                key.span(),
                format!("unknown key `{other}`; expected one of: {}", TOP_LEVEL_KEYS.join(", ")),
            ),
        }
    }
    for (value, key, example) in [(&site, "site", "maple-court"), (&box_id, "box_id", "gatehouse-1")] {
        if value.is_none() && !root.contains_key(key) {
            ctx.error(
                0..0,
                format!("missing required key `{key}`; add e.g. {key} = \"{example}\" at the top of the file"),
            );
        }
    }
    if let Some(rt) = &mut runtime
        && let Some(lib) = &rt.onnxruntime
    {
        rt.onnxruntime = Some(ctx.resolve(lib));
    }

    let privacy = privacy_config.map(|p| privacy::check(&p, &models, &mut ctx));
    let has_face_model = privacy.as_ref().is_some_and(|p| p.face_model.is_some());
    let mut cameras = Vec::new();
    let mut seen: BTreeMap<String, Range<usize>> = BTreeMap::new();
    for node in camera_nodes {
        let Some(config) = camera::load(&file, node, ctx.diags) else {
            continue;
        };
        let name = config.name.get_ref().clone();
        if seen.contains_key(&name) {
            ctx.error(
                config.name.span(),
                format!("camera name `{name}` is used twice; camera names must be unique"),
            );
            continue;
        }
        seen.insert(name, config.name.span());
        if let Some(plan) = camera::check(&config, &models, &model_names, has_face_model, &mut ctx) {
            cameras.push(plan);
        }
    }
    if camera_nodes.is_empty() && !root.contains_key("cameras") {
        ctx.error(
            0..0,
            "no cameras are defined; add a [[cameras]] table with a name, [cameras.source] and [cameras.detect]",
        );
    }

    // Check the broker settings even when the ids failed, to report everything.
    let ids = (site.as_deref().unwrap_or("site"), box_id.as_deref().unwrap_or("box"));
    let mqtt = mqtt_config.and_then(|m| mqtt::check(&m, ids.0, ids.1, &mut ctx));
    let outbox = match (&outbox_config, &state_dir) {
        (Some(o), Some(dir)) => outbox::check(o, dir, &mut ctx),
        _ => None,
    };
    let metrics = metrics_config.and_then(|m| metrics::check(&m, &mut ctx));
    Some(Plan {
        path: path.to_path_buf(),
        site: site?,
        box_id: box_id?,
        state_dir: state_dir?,
        runtime: runtime?,
        mqtt: mqtt?,
        outbox: outbox?,
        metrics: metrics?,
        models,
        privacy: privacy?,
        cameras,
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{closest, join_clean};

    #[test]
    fn joined_paths_fold_parent_folders() {
        let clean = |b: &str, p: &str| join_clean(Path::new(b), Path::new(p));
        assert_eq!(
            clean("tests/configs/invalid", "../../../models/m.toml"),
            PathBuf::from("models/m.toml")
        );
        assert_eq!(clean("configs", "/abs/x.avi"), PathBuf::from("/abs/x.avi"));
        assert_eq!(clean(".", "../media/v.avi"), PathBuf::from("../media/v.avi"));
        assert_eq!(clean("a", ".."), PathBuf::from("."));
    }

    #[test]
    fn a_near_miss_gets_a_suggestion_and_a_far_one_does_not() {
        let labels = ["person", "bicycle", "car", "cat"];
        assert_eq!(closest("persn", &labels), Some("person"));
        assert_eq!(closest("bicycel", &labels), Some("bicycle"));
        assert_eq!(closest("ebike", &labels), None);
        // "caz" is one edit from both car and cat: no single best guess
        assert_eq!(closest("caz", &labels), None);
    }
}
