//! The JSON Schema of the whole config file, derived from the config tables
//! themselves: each component's `*Config` struct carries its keys, defaults
//! and doc text (`schemars` reads the serde attributes and the `///` docs),
//! the rule kinds come from their registry, and this module only says where
//! each table sits in the file. `watchpost schema` prints it, the console
//! builds its forms from it (`GET /api/schema`), `docs/schema/config.json`
//! is it committed, and [`reference`] renders it as the key reference in
//! `docs/config.md`. Nothing here restates a key.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use crate::anonymize::privacy::{CameraPrivacyConfig, PrivacyConfig};
use crate::console::ConsoleConfig;
use crate::decode::DecodeConfig;
use crate::evidence::config::{CameraEvidenceConfig, EvidenceConfig};
use crate::infer::ModelConfig;
use crate::infer::detect::DetectConfig;
use crate::infer::motion::MotionConfig;
use crate::infer::runtime::RuntimeConfig;
use crate::observe::metrics::MetricsConfig;
use crate::publish::{IntegrationsConfig, MqttConfig, OutboxConfig};
use crate::rules::{HealthConfig, ProfileConfig, RuleCommon, ZoneConfig, kind_schemas};
use crate::source::SourceConfig;
use crate::track::TrackConfig;

/// The top-level keys, in the order the documentation lists them.
pub const TOP_LEVEL_KEYS: &[&str] = ConfigFile::KEYS;

/// Where the box keeps its state (the outbox) unless `state_dir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/watchpost";

/// The file's top level: where each component's table sits.
#[allow(dead_code)]
#[derive(JsonSchema, watchpost_macros::Keys)]
#[schemars(
    title = "watchpost config",
    description = "The box's config file (TOML), e.g. /etc/watchpost/watchpost.toml.",
    deny_unknown_fields
)]
struct ConfigFile {
    /// The residential site, e.g. "maple-court"; part of every MQTT topic.
    site: String,
    /// This box within the site, e.g. "gatehouse-1"; part of every MQTT topic.
    box_id: String,
    /// Where the box keeps its state (the outbox), e.g. "/var/lib/watchpost".
    #[schemars(default = "default_state_dir")]
    state_dir: Option<PathBuf>,
    /// ONNX Runtime: the library and its threads.
    runtime: Option<RuntimeConfig>,
    /// The MQTT broker incidents go to.
    mqtt: Option<MqttConfig>,
    /// The durable outbox that holds events until the broker has them.
    outbox: Option<OutboxConfig>,
    /// The Prometheus metrics endpoint.
    metrics: Option<MetricsConfig>,
    /// The operator console.
    console: Option<ConsoleConfig>,
    /// Detection models by name, e.g. [models.coco] manifest = "…".
    models: Option<BTreeMap<String, ModelConfig>>,
    /// Redaction of snapshots, for the whole box.
    privacy: Option<PrivacyConfig>,
    /// Evidence clips of incidents: how long the box keeps them.
    evidence: Option<EvidenceConfig>,
    /// The cameras, one [[cameras]] table each.
    cameras: Vec<CameraTable>,
    /// Announcements to other systems (Home Assistant).
    integrations: Option<IntegrationsConfig>,
    /// Named sets of armed rules, e.g. [profiles.night].
    profiles: Option<BTreeMap<String, ProfileConfig>>,
    /// Config managed by the security office: pinned keys, groups, rollback window.
    fleet: Option<super::fleet::FleetConfig>,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
}

// The check reads the tables beside its name from `CameraTable::KEYS`.
/// One `[[cameras]]` table: its name and the tables of each stage.
#[allow(dead_code)]
#[derive(JsonSchema, watchpost_macros::Keys)]
#[schemars(deny_unknown_fields)]
pub(super) struct CameraTable {
    /// Unique name, used in topics and logs, e.g. "north-gate".
    name: String,
    /// Where the video comes from.
    source: SourceConfig,
    /// Decoding, snapshots and reconnection.
    decode: Option<DecodeConfig>,
    /// The model and frame rate of detection.
    detect: DetectConfig,
    /// Motion gating: detection runs only when something moves.
    motion: Option<MotionConfig>,
    /// The tracker.
    track: Option<TrackConfig>,
    /// What this camera's snapshots hide, and masks.
    privacy: Option<CameraPrivacyConfig>,
    /// The size and frame rate of this camera's evidence clips.
    evidence: Option<CameraEvidenceConfig>,
    /// Zones (polygons) and lines on the picture.
    zones: Option<Vec<ZoneConfig>>,
    /// The rules: one table each, its keys set by its `kind`.
    rules: Option<Vec<RuleTable>>,
    /// Camera health: covered, blurred, moved, too dark, frozen, lost.
    health: Option<HealthConfig>,
}

/// A `[[cameras.rules]]` table: the common keys and those of its kind, one
/// schema per kind of the registry.
struct RuleTable;

impl JsonSchema for RuleTable {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rule".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let common = RuleCommon::json_schema(generator);
        let variants: Vec<Value> = kind_schemas(generator)
            .into_iter()
            .map(|(name, kind)| {
                let mut properties = object(&common, "properties");
                properties.extend(object(&kind, "properties"));
                let mut description = properties
                    .get("kind")
                    .and_then(|k| k.get("description"))
                    .cloned()
                    .unwrap_or(Value::Null);
                if let Some(text) = kind.get("description") {
                    description = text.clone();
                }
                properties.insert(
                    "kind".into(),
                    serde_json::json!({ "const": name, "description": description }),
                );
                let mut required: Vec<Value> = strings(common.as_value(), "required")
                    .into_iter()
                    .map(Value::from)
                    .collect();
                required.extend(strings(kind.as_value(), "required").into_iter().map(Value::from));
                serde_json::json!({
                    "title": name,
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({ "oneOf": variants })
    }
}

fn object(schema: &Schema, key: &str) -> Map<String, Value> {
    schema.get(key).and_then(Value::as_object).cloned().unwrap_or_default()
}

/// The texts in the list `key` of a schema (`required`, `enum`, …).
fn strings(schema: &Value, key: &str) -> Vec<String> {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// The JSON Schema of the config file.
pub fn config_schema() -> Value {
    // TOML has no null: a key left out is how a value is absent.
    let settings = SchemaSettings::draft2020_12().with_transform(RecursiveTransform(drop_null));
    let schema = settings.into_generator().into_root_schema_for::<ConfigFile>();
    schema.to_value()
}

/// Removes the `null` that `Option` adds to a type.
fn drop_null(schema: &mut Schema) {
    if schema.get("default").is_some_and(Value::is_null) {
        schema.remove("default");
    }
    // An f32 default reads as the operator would write it (0.3, not
    // 0.30000001192092896).
    if let Some(Value::Number(n)) = schema.get("default")
        && n.is_f64()
        && let Some(v) = n.as_f64()
        && f64::from(v as f32) == v
        && let Ok(short) = (v as f32).to_string().parse::<f64>()
    {
        schema.insert("default".into(), Value::from(short));
    }
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            schema.insert("type".into(), only);
        }
    }
    let any_of = schema.get_mut("anyOf").and_then(Value::as_array_mut);
    if let Some(variants) = any_of {
        variants.retain(|v| v.get("type").and_then(Value::as_str) != Some("null"));
        if variants.len() == 1 {
            let only = variants.remove(0);
            schema.remove("anyOf");
            if let Value::Object(only) = only {
                for (k, v) in only {
                    schema.insert(k, v);
                }
            }
        }
    }
}

/// The keys a table of the schema lists, in schema order (for checks that
/// name the keys an operator may write).
pub fn keys_of(schema: &Value, table: &Value) -> Vec<String> {
    resolve(schema, table)
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// A schema with a `$ref` followed to its definition.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    // Definitions may refer to definitions; the chain is short.
    for _ in 0..8 {
        let Some(name) = schema.get("$ref").and_then(Value::as_str) else {
            break;
        };
        let Some(found) = name.strip_prefix("#/").map(|path| {
            path.split('/')
                .try_fold(root, |node, part| node.get(part))
                .unwrap_or(&Value::Null)
        }) else {
            break;
        };
        schema = found;
    }
    schema
}

/// The schema of the table a key path names (`cameras.track`,
/// `integrations.home_assistant`), through arrays and maps of tables.
pub fn table_at<'a>(root: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut node = root;
    for key in path {
        node = element(root, resolve(root, node)).get("properties")?.get(*key)?;
    }
    Some(element(root, resolve(root, node)))
}

/// The keys of a table's schema, `$ref` followed; None when it is no table.
pub fn properties<'a>(root: &'a Value, schema: &'a Value) -> Option<&'a Map<String, Value>> {
    resolve(root, schema).get("properties").and_then(Value::as_object)
}

/// The table schema a key holds: its definition, or the table inside an
/// array of tables (a map of tables stays a map).
pub fn element_of<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let schema = resolve(root, schema);
    match schema.get("items") {
        Some(items) => resolve(root, items),
        None => schema,
    }
}

/// The table inside an array of tables, a map of tables or an optional one.
fn element<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let schema = resolve(root, schema);
    if let Some(items) = schema.get("items") {
        return element(root, items);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        return element(root, values);
    }
    schema
}

/// The key reference of the config file as Markdown: every table, every
/// key with its type, default and description.
pub fn reference(schema: &Value) -> String {
    let mut out = String::from(
        "# Config key reference\n\n\
         Every key of the config file, generated from the code (`watchpost schema \
         --markdown`); the JSON Schema is docs/schema/config.json. How the parts fit \
         together is in README.md, docs/rules.md and docs/privacy.md.\n",
    );
    write_table(schema, schema, "", &mut out);
    out
}

fn write_table(root: &Value, table: &Value, path: &str, out: &mut String) {
    let table = element(root, table);
    if let Some(variants) = table.get("oneOf").and_then(Value::as_array) {
        for variant in variants {
            let kind = variant.get("title").and_then(Value::as_str).unwrap_or("?");
            write_table(root, variant, &format!("{path} (kind = \"{kind}\")"), out);
        }
        return;
    }
    let Some(properties) = table.get("properties").and_then(Value::as_object) else {
        return;
    };
    let heading = if path.is_empty() {
        "Top level".to_string()
    } else {
        format!("`{path}`")
    };
    out.push_str(&format!("\n## {heading}\n\n"));
    if let Some(text) = table.get("description").and_then(Value::as_str)
        && !path.is_empty()
    {
        out.push_str(&one_line(text));
        out.push_str("\n\n");
    }
    out.push_str("| key | type | default | description |\n|---|---|---|---|\n");
    let required = strings(table, "required");
    let mut nested = Vec::new();
    for (key, schema) in properties {
        let inner = element(root, resolve(root, schema));
        let is_table = inner.get("properties").is_some() || inner.get("oneOf").is_some();
        let own = resolve(root, schema);
        let description = schema
            .get("description")
            .or_else(|| own.get("description"))
            .and_then(Value::as_str)
            .map(one_line)
            .unwrap_or_default();
        let default = match (schema.get("default"), required.contains(key)) {
            (Some(v), _) => format!("`{}`", compact(v)),
            (None, true) => "required".to_string(),
            (None, false) => String::new(),
        };
        out.push_str(&format!(
            "| `{key}` | {} | {default} | {} |\n",
            type_of(root, schema),
            description.replace('|', "\\|")
        ));
        if is_table {
            nested.push((key.clone(), schema.clone()));
        }
    }
    for (key, schema) in nested {
        // A map of tables is written [models.<name>].
        let own = resolve(root, &schema);
        let key = if own.get("additionalProperties").is_some_and(Value::is_object) {
            format!("{key}.<name>")
        } else {
            key
        };
        let sub = if path.is_empty() { key } else { format!("{path}.{key}") };
        write_table(root, &schema, &sub, out);
    }
}

/// A short name for a key's type: "number", "array of string", "table"…
fn type_of(root: &Value, schema: &Value) -> String {
    let schema = resolve(root, schema);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(compact).collect::<Vec<_>>().join(" \\| ");
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        let names: Vec<String> = variants
            .iter()
            .map(|v| match v.get("const") {
                Some(c) => compact(c),
                None => v.get("title").and_then(Value::as_str).unwrap_or("table").to_string(),
            })
            .collect();
        return names.join(" \\| ");
    }
    if let Some(c) = schema.get("const") {
        return compact(c);
    }
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => match schema.get("items") {
            Some(items) if items.is_object() => format!("array of {}", type_of(root, items)),
            _ => "array".to_string(),
        },
        Some(Value::String(t)) if t == "object" => "table".to_string(),
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" or "),
        _ => "value".to_string(),
    }
}

fn compact(value: &Value) -> String {
    value.to_string()
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_lists_every_table_the_check_reads() {
        let schema = config_schema();
        let sorted = |keys: &[&str]| {
            let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            keys.sort();
            keys
        };
        assert_eq!(keys_of(&schema, &schema), sorted(TOP_LEVEL_KEYS));
        let camera = table_at(&schema, &["cameras"]).unwrap();
        assert_eq!(keys_of(&schema, camera), sorted(CameraTable::KEYS));
    }

    #[test]
    fn a_camera_table_named_as_a_top_level_one_names_its_keys_under_cameras() {
        let shared: Vec<&str> = CameraTable::KEYS
            .iter()
            .filter(|k| TOP_LEVEL_KEYS.contains(k))
            .copied()
            .collect();
        assert_eq!(
            shared,
            ["privacy", "evidence"],
            "a new shared name: prefix its keys below"
        );
        assert_eq!(
            (CameraPrivacyConfig::PREFIX, PrivacyConfig::PREFIX),
            ("cameras.privacy.", "privacy.")
        );
        assert_eq!(
            (CameraEvidenceConfig::PREFIX, EvidenceConfig::PREFIX),
            ("cameras.evidence.", "evidence.")
        );
        // the other camera tables have no top-level twin: their bare name
        assert_eq!((DetectConfig::PREFIX, TrackConfig::PREFIX), ("detect.", "track."));
    }

    #[test]
    fn every_rule_kind_has_its_schema_with_the_common_keys() {
        let schema = config_schema();
        let rules = table_at(&schema, &["cameras", "rules"]).unwrap();
        let variants = rules["oneOf"].as_array().unwrap();
        let names: Vec<&str> = variants.iter().map(|v| v["title"].as_str().unwrap()).collect();
        assert_eq!(names, crate::rules::KINDS);
        for variant in variants {
            let keys: Vec<&String> = variant["properties"].as_object().unwrap().keys().collect();
            for common in crate::rules::COMMON_KEYS {
                assert!(keys.iter().any(|k| k == common), "{}: no `{common}`", variant["title"]);
            }
        }
    }

    #[test]
    fn defaults_come_from_the_default_functions() {
        let schema = config_schema();
        let track = table_at(&schema, &["cameras", "track"]).unwrap();
        assert_eq!(track["properties"]["min_hits"]["default"], 2);
        assert_eq!(
            track["properties"]["iou"]["default"]
                .as_f64()
                .map(|v| (v * 100.0).round()),
            Some(30.0)
        );
        let reference = reference(&schema);
        assert!(reference.contains("## `cameras.track`"), "{reference}");
        assert!(reference.contains("| `min_hits` | integer | `2` |"), "{reference}");
    }
}
