//! The effective config (`watchpost run --print-config`): the operator's file
//! with every default the checked [`Plan`] used written in and secrets masked
//! — what the box would really run. Paths stay as written (relative ones are
//! relative to the config file's folder).
//!
//! Keys the file sets are kept as written (the plan agrees with them, or the
//! file would not have passed its check); missing keys are filled in from the
//! plan. Zones and rules are shown as written. Passwords and credentials in
//! camera URLs never appear.

use std::path::Path;

use toml::{Table, Value};

use super::check::Plan;
use crate::decode::DecoderChoice;
use crate::rules::health::condition::PICTURE;
use crate::source::SourceKind;

const MASK: &str = "********";

/// The effective config of a checked file, as TOML.
pub fn render(plan: &Plan, text: &str) -> Result<String, toml::de::Error> {
    let mut root: Table = toml::from_str(text)?;
    fill(&mut root, "state_dir", path(&plan.state_dir));

    let runtime = table(&mut root, "runtime");
    if let Some(lib) = &plan.runtime.onnxruntime {
        runtime.insert("onnxruntime".into(), path(lib));
    }
    fill(runtime, "intra_threads", int(plan.runtime.intra_threads as u64));
    fill(runtime, "inter_threads", int(plan.runtime.inter_threads as u64));
    let providers = plan.runtime.providers.iter().map(|p| Value::String(p.to_string()));
    fill(runtime, "providers", Value::Array(providers.collect()));

    let mqtt = table(&mut root, "mqtt");
    if !mqtt.contains_key("urls") {
        fill(mqtt, "url", Value::String(plan.mqtt.url.clone()));
    }
    fill(mqtt, "client_id", Value::String(plan.mqtt.client_id.clone()));
    let prefix = plan.mqtt.topics.availability();
    let prefix = prefix.strip_suffix("/availability").unwrap_or(&prefix);
    fill(mqtt, "topic_prefix", Value::String(prefix.to_string()));
    if mqtt.contains_key("password") {
        mqtt.insert("password".into(), Value::String(MASK.into()));
    }

    if let Some(ha) = &plan.home_assistant {
        let written = table(table(&mut root, "integrations"), "home_assistant");
        fill(written, "discovery_prefix", Value::String(ha.discovery_prefix.clone()));
        fill(written, "status_topic", Value::String(ha.status_topic.clone()));
    }

    // [outbox] holds no value the plan works out: its defaults come from
    // the schema below (an unset `max_bytes` is worked out at start).
    table(&mut root, "outbox");

    // Nor does [metrics]: a written key is kept, a missing one is its default.
    table(&mut root, "metrics");

    let console = table(&mut root, "console");
    fill(console, "enabled", Value::Boolean(plan.console.listen.is_some()));
    let listen = plan.console.listen.map(|a| a.to_string());
    fill(
        console,
        "listen",
        Value::String(listen.unwrap_or_else(|| crate::console::config::DEFAULT_LISTEN.into())),
    );

    if let Some(Value::Table(models)) = root.get_mut("models") {
        for (name, model) in plan.models.iter() {
            let Some(Value::Table(t)) = models.get_mut(name) else {
                continue;
            };
            fill(t, "confidence", float(plan_f32(model.keys.confidence)));
            fill(t, "nms_iou", float(plan_f32(model.keys.nms_iou)));
            fill(t, "max_batch", int(model.batch.max_size as u64));
            fill(t, "max_wait_ms", int(model.batch.max_wait.as_millis() as u64));
            fill(t, "sessions", int(model.batch.sessions as u64));
        }
    }

    if let Some(Value::Array(cameras)) = root.get_mut("cameras") {
        for camera in cameras.iter_mut() {
            let Value::Table(t) = camera else { continue };
            let name = t.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let Some(c) = plan.cameras.iter().find(|c| *c.name == name) else {
                continue;
            };
            let source = table(t, "source");
            // A camera URL as logs show it: any password masked.
            if !matches!(c.source.kind, SourceKind::File(_)) {
                source.insert("url".into(), Value::String(c.source.display.clone()));
            }
            if source.contains_key("password") {
                source.insert("password".into(), Value::String(MASK.into()));
            }
            fill(source, "loop", Value::Boolean(c.source.keys.loop_playback));
            fill(source, "realtime", Value::Boolean(c.source.keys.realtime));
            fill(source, "latency_ms", int(u64::from(c.source.keys.latency_ms)));

            let decode = table(t, "decode");
            let decoder = match &c.decode.decoder {
                DecoderChoice::Auto => "auto",
                DecoderChoice::Software => "software",
                DecoderChoice::Element(name) => name.as_str(),
            };
            fill(decode, "decoder", Value::String(decoder.to_string()));
            fill(decode, "stall_secs", int(c.decode.stall.as_secs()));
            fill(decode, "retry_initial_secs", int(c.decode.retry_initial.as_secs()));
            fill(decode, "retry_max_secs", int(c.decode.retry_max.as_secs()));
            fill(
                decode,
                "snapshot_max_width",
                int(u64::from(c.decode.snapshot_max_width)),
            );
            fill(decode, "snapshot_quality", int(u64::from(c.decode.snapshot_quality)));
            fill(
                decode,
                "snapshot_max_kb",
                int(c.decode.snapshot_max_bytes as u64 / 1024),
            );
            fill(decode, "max_width", int(u64::from(c.decode.max_size.width)));
            fill(decode, "max_height", int(u64::from(c.decode.max_size.height)));

            let detect = table(t, "detect");
            fill(detect, "fps", int(u64::from(c.detect.keys.fps)));

            let motion = table(t, "motion");
            fill(motion, "enabled", Value::Boolean(c.motion.enabled));
            fill(motion, "pixel_threshold", int(u64::from(c.motion.pixel_threshold)));
            fill(motion, "min_area", float(plan_f32(c.motion.min_area)));
            fill(motion, "while_tracking", Value::Boolean(c.motion.while_tracking));
            fill(motion, "refresh_secs", float(c.motion.refresh_secs.as_secs_f64()));

            // [cameras.track] holds no value the plan works out: its
            // defaults come from the schema below, like any other key.
            table(t, "track");

            if let Some(h) = &c.health {
                let health = table(t, "health");
                fill(health, "analysis_fps", float(h.analysis_fps));
                fill(health, "learn_secs", float(h.learn_secs.as_secs_f64()));
                fill(health, "adapt_secs", float(h.adapt_secs));
                fill(health, "relearn_secs", float(h.relearn_secs.as_secs_f64()));
                fill(health, "lost_secs", float(h.lost_secs.as_secs_f64()));
                fill(health, "severity", Value::String(h.severity.to_string()));
                for condition in PICTURE {
                    let plan = h.condition(condition);
                    let written = table(health, condition.name());
                    fill(written, "enabled", Value::Boolean(plan.enabled));
                    fill(written, "min_secs", float(plan.min.as_secs_f64()));
                    fill(written, "end_after_secs", float(plan.end_after.as_secs_f64()));
                    fill(written, "threshold", float(plan.threshold));
                }
            }
        }
    }
    // Every key still missing takes its default from the tables' schema,
    // so a new key appears here with no edit to this printer.
    let schema = super::schema::config_schema();
    fill_defaults(&schema, &schema, &mut root);
    Ok(format!(
        "# Effective config of {}: the file with every default filled in.\n{}",
        plan.path.display(),
        toml::to_string(&root).unwrap_or_default()
    ))
}

/// Fills the keys of `table` that have a default in its `schema` and are
/// not written, then does the same in the sub-tables present (cameras and
/// models included). Rules and zones are shown as written.
fn fill_defaults(root: &serde_json::Value, schema: &serde_json::Value, table: &mut Table) {
    let Some(properties) = super::schema::properties(root, schema) else {
        return;
    };
    for (key, property) in properties {
        if matches!(key.as_str(), "rules" | "zones") {
            continue;
        }
        match table.get_mut(key) {
            None => {
                if let Some(value) = property.get("default").and_then(toml_value) {
                    table.insert(key.clone(), value);
                }
            }
            Some(Value::Table(inner)) => {
                let element = super::schema::element_of(root, property);
                if super::schema::properties(root, element).is_some() {
                    fill_defaults(root, element, inner);
                } else if let Some(values) = element.get("additionalProperties") {
                    let values = super::schema::element_of(root, values);
                    for (_, item) in inner.iter_mut() {
                        if let Value::Table(item) = item {
                            fill_defaults(root, values, item);
                        }
                    }
                }
            }
            Some(Value::Array(items)) => {
                let element = super::schema::element_of(root, property);
                for item in items {
                    if let Value::Table(item) = item {
                        fill_defaults(root, element, item);
                    }
                }
            }
            Some(_) => {}
        }
    }
}

/// A schema default as TOML (None for a null or an empty table).
fn toml_value(value: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Float(n.as_f64()?),
        },
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::Array(items.iter().map(toml_value).collect::<Option<_>>()?),
        J::Null | J::Object(_) => return None,
    })
}

/// The sub-table `key` of `t`, created when missing.
fn table<'a>(t: &'a mut Table, key: &str) -> &'a mut Table {
    if !matches!(t.get(key), Some(Value::Table(_))) {
        t.insert(key.into(), Value::Table(Table::new()));
    }
    match t.get_mut(key) {
        Some(Value::Table(inner)) => inner,
        _ => unreachable!("inserted above"),
    }
}

fn fill(t: &mut Table, key: &str, value: Value) {
    t.entry(key.to_string()).or_insert(value);
}

fn int(v: u64) -> Value {
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn float(v: f64) -> Value {
    Value::Float(v)
}

/// An f32 as the short decimal an operator wrote (0.45, not 0.449999988).
fn plan_f32(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

fn path(p: &Path) -> Value {
    Value::String(p.display().to_string())
}
