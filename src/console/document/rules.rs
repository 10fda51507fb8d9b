//! A rule's main keys: read from its table, and written back one key at a
//! time, only where the edit differs from the file.

use std::sync::LazyLock;

use schemars::JsonSchema;
use toml_edit::{Array, InlineTable, Item, TableLike, Value};

use super::model::{EditError, RuleEdit, WindowEdit};
use super::nodes::{ListMut, name_of, set, string_array};
use crate::rules::{COMMON_KEYS, RuleCommon, kind_schemas};

pub(super) fn read_rule(rule: &dyn TableLike) -> RuleEdit {
    let text = |k: &str| rule.get(k).and_then(Item::as_str).map(str::to_string);
    let schedule = rule.get("schedule").and_then(|s| {
        let windows: Option<Vec<WindowEdit>> = match s {
            Item::Value(Value::Array(a)) => a
                .iter()
                .map(|w| {
                    let w = w.as_inline_table()?;
                    Some(WindowEdit {
                        days: w
                            .get("days")
                            .and_then(Value::as_array)
                            .map(|d| d.iter().filter_map(Value::as_str).map(str::to_string).collect()),
                        from: w.get("from")?.as_str()?.to_string(),
                        to: w.get("to")?.as_str()?.to_string(),
                    })
                })
                .collect(),
            _ => None,
        };
        windows
    });
    RuleEdit {
        name: name_of(rule).to_string(),
        kind: text("kind").unwrap_or_default(),
        zone: text("zone").unwrap_or_default(),
        schedule,
        keys: rule
            .iter()
            .filter(|(key, _)| !FIELDS.contains(key))
            .filter_map(|(key, item)| Some((key.to_string(), json_of(item.as_value()?, 0)?)))
            .collect(),
    }
}

/// The keys [`RuleEdit`] has fields for; every other key goes to its `keys`.
const FIELDS: &[&str] = &["name", "kind", "zone", "schedule"];

/// A plain TOML value (number, boolean, text, or a list of those) as JSON;
/// None for tables and nested lists, which the editor leaves as written.
fn json_of(value: &Value, depth: usize) -> Option<serde_json::Value> {
    Some(match value {
        Value::Boolean(b) => serde_json::Value::Bool(*b.value()),
        Value::Integer(i) => serde_json::Value::from(*i.value()),
        Value::Float(f) => serde_json::Value::from(*f.value()),
        Value::String(s) => serde_json::Value::from(s.value().as_str()),
        Value::Array(items) if depth == 0 => {
            serde_json::Value::Array(items.iter().map(|v| json_of(v, 1)).collect::<Option<_>>()?)
        }
        _ => return None,
    })
}

/// The TOML value of a plain JSON value (the edit checked it is plain); a
/// `fractional` key's number is written with a fraction even when whole
/// (`2.0`), as the config writes such keys.
fn toml_of(value: &serde_json::Value, fractional: bool) -> Value {
    match value {
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) if !fractional => Value::from(i),
            _ => Value::from(n.as_f64().unwrap_or_default()),
        },
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            let mut array: Array = items.iter().map(|item| toml_of(item, false)).collect();
            array.fmt();
            Value::Array(array)
        }
        serde_json::Value::Null | serde_json::Value::Object(_) => Value::from(""),
    }
}

/// Whether the config schema types key `key` of a rule of kind `kind` (its
/// own or a common one) as a number with a fraction (`min_secs`, …).
fn fractional(kind: &str, key: &str) -> bool {
    static NUMBERS: LazyLock<Vec<(&'static str, Vec<String>)>> = LazyLock::new(|| {
        let mut generator = schemars::SchemaGenerator::default();
        let numbers = |schema: &schemars::Schema| -> Vec<String> {
            let properties = schema.get("properties").and_then(serde_json::Value::as_object);
            let is_number = |t: &serde_json::Value| match t {
                serde_json::Value::String(t) => t == "number",
                serde_json::Value::Array(ts) => ts.iter().any(|t| t == "number"),
                _ => false,
            };
            properties
                .into_iter()
                .flatten()
                .filter(|(_, p)| p.get("type").is_some_and(is_number))
                .map(|(key, _)| key.clone())
                .collect()
        };
        let common = numbers(&RuleCommon::json_schema(&mut generator));
        kind_schemas(&mut generator)
            .into_iter()
            .map(|(name, schema)| (name, [numbers(&schema), common.clone()].concat()))
            .collect()
    });
    NUMBERS
        .iter()
        .find(|(name, _)| *name == kind)
        .is_some_and(|(_, keys)| keys.iter().any(|k| k == key))
}

/// Two plain values alike (numbers within rounding).
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

pub(super) fn schedule_value(windows: &[WindowEdit]) -> Value {
    let mut array: Array = windows
        .iter()
        .map(|w| {
            let mut t = InlineTable::new();
            if let Some(days) = &w.days {
                t.insert("days", string_array(days));
            }
            t.insert("from", w.from.as_str().into());
            t.insert("to", w.to.as_str().into());
            t.fmt();
            Value::InlineTable(t)
        })
        .collect();
    array.fmt();
    Value::Array(array)
}

/// Sets or removes one key of a rule when it differs; `same` compares the
/// edited value with the file's, `make` writes it.
pub(super) fn rule_key<T>(
    table: &mut dyn TableLike,
    key: &str,
    wanted: &Option<T>,
    current: &Option<T>,
    same: impl Fn(&T, &T) -> bool,
    make: impl Fn(&T) -> Value,
    changed: &mut Vec<String>,
) {
    match (wanted, current) {
        (Some(w), Some(c)) if same(w, c) => {}
        (None, None) => {}
        (Some(w), _) => {
            let value = make(w);
            changed.push(format!("{key} = {}", value.to_string().trim()));
            set(table, key, value);
        }
        (None, Some(_)) => {
            table.remove(key);
            changed.push(format!("{key} removed"));
        }
    }
}

/// Writes the keys of `rule` that differ from the table's: its kind and
/// zone, then the common keys in the order [`COMMON_KEYS`] declares them,
/// then its kind's own keys by name.
pub(super) fn write_rule(table: &mut dyn TableLike, rule: &RuleEdit, changed: &mut Vec<String>) {
    let current = read_rule(table);
    for (key, wanted, now) in [("kind", &rule.kind, &current.kind), ("zone", &rule.zone, &current.zone)] {
        rule_key(
            table,
            key,
            &Some(wanted),
            &Some(now),
            |a, b| a == b,
            |s| Value::from(s.as_str()),
            changed,
        );
    }
    let written = rule.keys.keys().chain(current.keys.keys()).map(String::as_str);
    let own: std::collections::BTreeSet<&str> = written.filter(|key| !COMMON_KEYS.contains(key)).collect();
    for key in COMMON_KEYS.iter().copied().chain(own) {
        match key {
            "name" | "kind" | "zone" => {}
            "schedule" => rule_key(
                table,
                key,
                &rule.schedule,
                &current.schedule,
                |a, b| a == b,
                |s| schedule_value(s),
                changed,
            ),
            _ => rule_key(
                table,
                key,
                &rule.keys.get(key).filter(|v| !v.is_null()),
                &current.keys.get(key),
                |a, b| same_json(a, b),
                |v| toml_of(v, fractional(&rule.kind, key)),
                changed,
            ),
        }
    }
}

pub(super) fn apply_rules(
    camera: &mut dyn TableLike,
    inline: bool,
    rules: &[RuleEdit],
    who: &str,
    changes: &mut Vec<String>,
) -> Result<(), EditError> {
    ListMut::edit_by_name(
        camera,
        "rules",
        inline,
        rules,
        ("rule", who),
        changes,
        |rule, table, added, changes| {
            let mut changed = Vec::new();
            write_rule(table, rule, &mut changed);
            if added {
                changes.push(format!("{who}: rule `{}` added: {}", rule.name, changed.join(", ")));
            } else if !changed.is_empty() {
                changes.push(format!("{who}: rule `{}`: {}", rule.name, changed.join(", ")));
            }
        },
    )
    .map_err(EditError::Unsupported)
}
