//! The whole file: reads the operator's TOML, has each table deserialised
//! and checked by the component it configures, then checks them against
//! each other — cameras name models that exist, rules name zones and labels
//! that exist — into one [`Plan`]. Runtime code only ever sees the plan.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::camera::{self, CameraPlan};
use super::fleet::{self, FleetConfig, FleetPlan};
use super::schema::{DEFAULT_STATE_DIR, TOP_LEVEL_KEYS};
use crate::anonymize::privacy::{self, PrivacyConfig, PrivacyPlan};
use crate::config::Checked;
use crate::config::Spanned;
use crate::config::de::{Node, array_items, from_node, parse_document};
use crate::config::{ConfigError, Ctx, Diagnostics, SourceFile};
use crate::console::{self, ConsoleConfig, ConsolePlan};
use crate::evidence::config::{EvidenceConfig, EvidencePlan};
use crate::infer::runtime::RuntimeConfig;
use crate::infer::{ModelConfig, ModelPlan, check_model};
use crate::observe::metrics::{self, MetricsConfig, MetricsPlan};
use crate::publish::homeassistant::{self, HomeAssistantPlan, IntegrationsConfig};
use crate::publish::{MqttConfig, MqttPlan, OutboxConfig, OutboxPlan, mqtt, outbox};
use crate::rules::arming::{Profile, ProfileConfig, check_profile};

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
    /// The operator console, `[console]`.
    pub console: ConsolePlan,
    /// Home Assistant discovery, when `[integrations.home_assistant]` turns it on.
    pub home_assistant: Option<HomeAssistantPlan>,
    /// `[profiles.<name>]`: named sets of armed rules.
    pub profiles: Vec<Profile>,
    pub models: BTreeMap<String, Arc<ModelPlan>>,
    pub privacy: PrivacyPlan,
    /// Evidence clips: how long they are kept.
    pub evidence: EvidencePlan,
    pub cameras: Vec<CameraPlan>,
    /// `[fleet]`: the office keys this box trusts for config bundles.
    pub fleet: FleetPlan,
}

impl Plan {
    /// Whether any rule records evidence clips.
    pub fn wants_evidence(&self) -> bool {
        self.cameras
            .iter()
            .flat_map(|c| &c.rules)
            .any(|r| r.keys.evidence.is_some())
    }

    /// Whether any rule publishes snapshots.
    pub fn wants_snapshots(&self) -> bool {
        self.cameras.iter().flat_map(|c| &c.rules).any(|r| r.keys.snapshot)
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

pub fn check_text(path: &Path, text: String, diags: &mut Diagnostics) -> Option<Plan> {
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
    let mut console_config = Some(ConsoleConfig::default());
    let mut state_dir = Some(PathBuf::from(DEFAULT_STATE_DIR));
    let mut models = BTreeMap::new();
    let mut model_names = Vec::new();
    let mut camera_nodes: &[Node<'_>] = &[];
    let mut privacy_config = Some(PrivacyConfig::default());
    let mut evidence_config = Some(EvidenceConfig::default());
    let mut integrations_config = Some(IntegrationsConfig::default());
    let mut profiles = Vec::new();
    let mut profiles_ok = true;
    let mut fleet_config = Some(FleetConfig::default());

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
            "evidence" => evidence_config = from_node(&file, node, ctx.diags),
            "metrics" => metrics_config = from_node(&file, node, ctx.diags),
            "console" => console_config = from_node(&file, node, ctx.diags),
            "integrations" => integrations_config = from_node(&file, node, ctx.diags),
            "fleet" => fleet_config = from_node(&file, node, ctx.diags),
            "profiles" => match node.get_ref().as_table() {
                Some(table) => {
                    for (name, profile_node) in table.iter() {
                        let named = Spanned::new(name.span(), name.get_ref().to_string());
                        let config: Option<ProfileConfig> = from_node(&file, profile_node, ctx.diags);
                        let Some(config) = config else {
                            profiles_ok = false;
                            continue;
                        };
                        let (profile, ok) = check_profile(&named, &config, &mut ctx);
                        profiles_ok &= ok;
                        profiles.push(profile);
                    }
                }
                None => ctx.error(
                    node.span(),
                    "`profiles` must be a table of profiles: [profiles.<name>] with armed = [\"camera\", \"camera/rule\"]",
                ),
            },
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
    let intra_threads = runtime.as_ref().map_or(1, |rt| rt.intra_threads);
    for model in models.values_mut().filter(|m| m.batch.sessions == 0) {
        Arc::make_mut(model).batch.sessions = crate::infer::model::auto_sessions(intra_threads);
    }

    let privacy = privacy_config.map(|p| privacy::check(&p, &models, &mut ctx));
    if let Some(privacy) = &privacy {
        privacy.cover_persons(&mut models);
    }
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
    let evidence = evidence_config.and_then(|e| e.checked(&mut ctx));
    let console = console_config.and_then(|c| console::check(&c, &mut ctx));
    let home_assistant = integrations_config.and_then(|i| homeassistant::check(&i, &mut ctx));
    let fleet = fleet_config.and_then(|f| fleet::check(&f, &mut ctx));
    check_profile_names(&profiles, &cameras, &seen, &mut ctx);
    Some(Plan {
        path: path.to_path_buf(),
        site: site?,
        box_id: box_id?,
        state_dir: state_dir?,
        runtime: runtime?,
        mqtt: mqtt?,
        outbox: outbox?,
        metrics: metrics?,
        console: console?,
        home_assistant: home_assistant?,
        profiles: profiles_ok.then_some(profiles)?,
        models,
        privacy: privacy?,
        evidence: evidence?,
        cameras,
        fleet: fleet?,
    })
}

/// Checks that the profiles name cameras and rules that exist (cameras that
/// failed their own check were reported there).
fn check_profile_names(
    profiles: &[Profile],
    cameras: &[CameraPlan],
    written: &BTreeMap<String, Range<usize>>,
    ctx: &mut Ctx<'_>,
) {
    for profile in profiles {
        for entry in &profile.armed {
            let Some(camera) = cameras.iter().find(|c| *c.name == *entry.camera) else {
                if !written.contains_key(&entry.camera) {
                    let known: Vec<&str> = written.keys().map(String::as_str).collect();
                    ctx.error(
                        entry.span.clone(),
                        format!(
                            "profile `{}` arms camera `{}`, which is not defined; known cameras: {}",
                            profile.name,
                            entry.camera,
                            known.join(", ")
                        ),
                    );
                }
                continue;
            };
            if let Some(rule) = &entry.rule
                && !camera.rules.iter().any(|r| *r.name == **rule)
            {
                ctx.error(
                    entry.span.clone(),
                    format!(
                        "profile `{}` arms rule `{rule}` of camera `{}`, which has no such rule; its rules: {}",
                        profile.name,
                        entry.camera,
                        crate::config::listed(camera.rules.iter().map(|r| &*r.name))
                    ),
                );
            }
        }
    }
}
