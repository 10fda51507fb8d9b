//! The editor's view of the config file, read and written with `toml_edit`:
//! a camera's zones (normalised points, whatever units the file uses), its
//! privacy masks and its rules' main keys. Writing touches only what
//! changed: a moved zone gets a new `polygon` (or `line`) value and nothing
//! else, a new zone or rule is appended after its camera's others, a removed
//! one is taken out; comments, order and every other key stay as they were,
//! and a value's trailing comment stays beside its new value.
//!
//! Nothing here checks the result: the caller runs the config check on it.

use serde::{Deserialize, Serialize};
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

/// Coordinates written to the file are rounded to this many decimals.
const DECIMALS: f64 = 10_000.0;

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

fn number(item: Option<&Item>) -> Option<f64> {
    let v = item?.as_value()?;
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

fn points_of(item: Option<&Item>) -> Option<Vec<[f64; 2]>> {
    let array = item?.as_array()?;
    array
        .iter()
        .map(|p| {
            let pair = p.as_array()?;
            let n = |i: usize| {
                let v = pair.get(i)?;
                v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
            };
            (pair.len() == 2).then_some([n(0)?, n(1)?])
        })
        .collect()
}

/// The scale from normalised points to the zone's written units.
fn zone_scale(zone: &Table) -> [f64; 2] {
    let px = zone.get("units").and_then(Item::as_str) == Some("px");
    let size = zone
        .get("frame_size")
        .and_then(Item::as_array)
        .map(|a| a.iter().filter_map(Value::as_integer).collect::<Vec<_>>());
    match (px, size.as_deref()) {
        (true, Some([w, h])) if *w > 0 && *h > 0 => [*w as f64, *h as f64],
        _ => [1.0, 1.0],
    }
}

fn strings(item: Option<&Item>) -> Option<Vec<String>> {
    item?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn cameras(doc: &DocumentMut) -> impl Iterator<Item = &Table> {
    doc.get("cameras")
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flat_map(|a| a.iter())
}

fn aot<'t>(table: &'t Table, key: &str) -> impl Iterator<Item = &'t Table> {
    table
        .get(key)
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flat_map(|a| a.iter())
}

fn name_of(table: &Table) -> &str {
    table.get("name").and_then(Item::as_str).unwrap_or("")
}

fn read_rule(rule: &Table) -> RuleEdit {
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
        labels: strings(rule.get("labels")),
        severity: text("severity"),
        min_confidence: number(rule.get("min_confidence")),
        min_secs: number(rule.get("min_secs")),
        end_after_secs: number(rule.get("end_after_secs")),
        snapshot: rule.get("snapshot").and_then(Item::as_bool),
        direction: text("direction"),
        schedule,
    }
}

/// The editor's view of every camera in `text`.
pub fn read(text: &str) -> Result<Vec<CameraEdit>, EditError> {
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string()))?;
    Ok(cameras(&doc)
        .map(|camera| {
            let zones = aot(camera, "zones")
                .filter_map(|zone| {
                    let [sx, sy] = zone_scale(zone);
                    let (kind, points) = match (points_of(zone.get("polygon")), points_of(zone.get("line"))) {
                        (Some(p), _) => ("polygon", p),
                        (None, Some(l)) => ("line", l),
                        _ => return None,
                    };
                    Some(ZoneEdit {
                        name: name_of(zone).to_string(),
                        kind: kind.to_string(),
                        points: points.iter().map(|[x, y]| [x / sx, y / sy]).collect(),
                    })
                })
                .collect();
            let masks = camera
                .get("privacy")
                .and_then(Item::as_table_like)
                .and_then(|p| p.get("masks"))
                .and_then(Item::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|m| points_of(Some(&Item::Value(m.clone()))))
                        .collect()
                })
                .unwrap_or_default();
            CameraEdit {
                camera: name_of(camera).to_string(),
                zones,
                masks,
                rules: aot(camera, "rules").map(read_rule).collect(),
            }
        })
        .collect())
}

fn round(v: f64) -> f64 {
    (v * DECIMALS).round() / DECIMALS
}

fn points_value(points: &[[f64; 2]], scale: [f64; 2]) -> Value {
    let mut array: Array = points
        .iter()
        .map(|[x, y]| {
            let mut pair = Array::new();
            pair.push(round(x * scale[0]));
            pair.push(round(y * scale[1]));
            Value::Array(pair)
        })
        .collect();
    array.fmt();
    Value::Array(array)
}

fn same_points(a: &[[f64; 2]], b: &[[f64; 2]], tolerance: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (p[0] - q[0]).abs() <= tolerance && (p[1] - q[1]).abs() <= tolerance)
}

/// Sets `key` to `value`, keeping the old value's spacing and trailing comment.
fn set(table: &mut Table, key: &str, mut value: Value) {
    match table.get_mut(key) {
        Some(Item::Value(old)) => {
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(item) => *item = Item::Value(value),
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// Writes `edit` over its camera in `text`: only what differs changes.
/// Returns the new text and one line per change, for the log.
pub fn apply(text: &str, edit: &CameraEdit) -> Result<(String, Vec<String>), EditError> {
    validate(edit)?;
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string()))?;
    let camera = doc
        .get_mut("cameras")
        .and_then(Item::as_array_of_tables_mut)
        .and_then(|a| a.iter_mut().find(|c| name_of(c) == edit.camera))
        .ok_or_else(|| EditError::NoCamera(edit.camera.clone()))?;
    let mut changes = Vec::new();
    let who = format!("camera `{}`", edit.camera);
    apply_zones(camera, &edit.zones, &who, &mut changes);
    apply_masks(camera, &edit.masks, &who, &mut changes);
    apply_rules(camera, &edit.rules, &who, &mut changes);
    Ok((doc.to_string(), changes))
}

fn validate(edit: &CameraEdit) -> Result<(), EditError> {
    let mut seen = std::collections::BTreeSet::new();
    for zone in &edit.zones {
        if !seen.insert(zone.name.as_str()) {
            return Err(EditError::Invalid(format!("two zones are named `{}`", zone.name)));
        }
        if zone.kind != "polygon" && zone.kind != "line" {
            return Err(EditError::Invalid(format!(
                "zone `{}`: kind is `{}`; use \"polygon\" or \"line\"",
                zone.name, zone.kind
            )));
        }
        if zone.points.iter().flatten().any(|v| !v.is_finite()) {
            return Err(EditError::Invalid(format!(
                "zone `{}` has a point that is not a number",
                zone.name
            )));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for rule in &edit.rules {
        if !seen.insert(rule.name.as_str()) {
            return Err(EditError::Invalid(format!("two rules are named `{}`", rule.name)));
        }
    }
    if edit.masks.iter().flatten().flatten().any(|v| !v.is_finite()) {
        return Err(EditError::Invalid(
            "a privacy mask has a point that is not a number".into(),
        ));
    }
    Ok(())
}

/// The camera's array of tables `key`, made if missing.
fn aot_mut<'t>(camera: &'t mut Table, key: &str) -> &'t mut ArrayOfTables {
    if camera.get(key).and_then(Item::as_array_of_tables).is_none() {
        camera.insert(key, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    camera
        .get_mut(key)
        .and_then(Item::as_array_of_tables_mut)
        .expect("made just above")
}

fn apply_zones(camera: &mut Table, zones: &[ZoneEdit], who: &str, changes: &mut Vec<String>) {
    let has_zones = camera.get("zones").is_some();
    if !has_zones && zones.is_empty() {
        return;
    }
    let list = aot_mut(camera, "zones");
    let removed: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, z)| !zones.iter().any(|e| e.name == name_of(z)))
        .map(|(i, _)| i)
        .collect();
    for i in removed.into_iter().rev() {
        changes.push(format!(
            "{who}: zone `{}` removed",
            name_of(list.get(i).expect("listed"))
        ));
        list.remove(i);
    }
    for zone in zones {
        let found = list.iter().position(|z| name_of(z) == zone.name);
        match found {
            Some(i) => {
                let table = list.get_mut(i).expect("found above");
                let scale = zone_scale(table);
                let other = if zone.kind == "polygon" { "line" } else { "polygon" };
                let current = points_of(table.get(&zone.kind))
                    .map(|p| p.iter().map(|[x, y]| [x / scale[0], y / scale[1]]).collect::<Vec<_>>());
                if current
                    .as_deref()
                    .is_some_and(|c| same_points(c, &zone.points, 0.5 / DECIMALS))
                {
                    continue;
                }
                table.remove(other);
                set(table, &zone.kind, points_value(&zone.points, scale));
                changes.push(format!(
                    "{who}: zone `{}` {} set to {:?}",
                    zone.name, zone.kind, zone.points
                ));
            }
            None => {
                let mut table = Table::new();
                table.insert("name", toml_edit::value(zone.name.as_str()));
                table.insert(&zone.kind, Item::Value(points_value(&zone.points, [1.0, 1.0])));
                list.push(table);
                changes.push(format!(
                    "{who}: zone `{}` added, {} {:?}",
                    zone.name, zone.kind, zone.points
                ));
            }
        }
    }
}

fn apply_masks(camera: &mut Table, masks: &[Vec<[f64; 2]>], who: &str, changes: &mut Vec<String>) {
    let privacy = camera.get("privacy").and_then(Item::as_table_like);
    let current: Vec<Vec<[f64; 2]>> = privacy
        .and_then(|p| p.get("masks"))
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| points_of(Some(&Item::Value(m.clone()))))
                .collect()
        })
        .unwrap_or_default();
    let same = current.len() == masks.len()
        && current
            .iter()
            .zip(masks)
            .all(|(a, b)| same_points(a, b, 0.5 / DECIMALS));
    if same {
        return;
    }
    let mut array: Array = masks.iter().map(|m| points_value(m, [1.0, 1.0])).collect();
    array.fmt();
    if camera.get("privacy").is_none() {
        camera.insert("privacy", Item::Table(Table::new()));
    }
    match camera.get_mut("privacy") {
        Some(Item::Table(table)) => set(table, "masks", Value::Array(array)),
        Some(Item::Value(Value::InlineTable(table))) => {
            table.insert("masks", Value::Array(array));
        }
        _ => {}
    }
    changes.push(format!("{who}: privacy masks set to {masks:?}"));
}

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(String::as_str).collect())
}

fn schedule_value(windows: &[WindowEdit]) -> Value {
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
/// edited value with the file's.
fn rule_key<T: std::fmt::Debug>(
    table: &mut Table,
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
            set(table, key, make(w));
            changed.push(format!("{key} = {w:?}"));
        }
        (None, Some(_)) => {
            table.remove(key);
            changed.push(format!("{key} removed"));
        }
    }
}

fn close(a: &f64, b: &f64) -> bool {
    (a - b).abs() < 1e-9
}

fn write_rule(table: &mut Table, rule: &RuleEdit, changed: &mut Vec<String>) {
    let current = read_rule(table);
    let text = |s: &String| Value::from(s.as_str());
    let eq = |a: &String, b: &String| a == b;
    rule_key(
        table,
        "kind",
        &Some(rule.kind.clone()),
        &Some(current.kind.clone()),
        eq,
        text,
        changed,
    );
    rule_key(
        table,
        "zone",
        &Some(rule.zone.clone()),
        &Some(current.zone.clone()),
        eq,
        text,
        changed,
    );
    rule_key(
        table,
        "labels",
        &rule.labels,
        &current.labels,
        |a, b| a == b,
        |l| string_array(l),
        changed,
    );
    rule_key(table, "severity", &rule.severity, &current.severity, eq, text, changed);
    let float = |v: &f64| Value::from(*v);
    rule_key(
        table,
        "min_confidence",
        &rule.min_confidence,
        &current.min_confidence,
        close,
        float,
        changed,
    );
    rule_key(
        table,
        "min_secs",
        &rule.min_secs,
        &current.min_secs,
        close,
        float,
        changed,
    );
    rule_key(
        table,
        "end_after_secs",
        &rule.end_after_secs,
        &current.end_after_secs,
        close,
        float,
        changed,
    );
    rule_key(
        table,
        "snapshot",
        &rule.snapshot,
        &current.snapshot,
        |a, b| a == b,
        |v| Value::from(*v),
        changed,
    );
    rule_key(
        table,
        "direction",
        &rule.direction,
        &current.direction,
        eq,
        text,
        changed,
    );
    rule_key(
        table,
        "schedule",
        &rule.schedule,
        &current.schedule,
        |a, b| a == b,
        |s| schedule_value(s),
        changed,
    );
}

fn apply_rules(camera: &mut Table, rules: &[RuleEdit], who: &str, changes: &mut Vec<String>) {
    if camera.get("rules").is_none() && rules.is_empty() {
        return;
    }
    let list = aot_mut(camera, "rules");
    let removed: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, r)| !rules.iter().any(|e| e.name == name_of(r)))
        .map(|(i, _)| i)
        .collect();
    for i in removed.into_iter().rev() {
        changes.push(format!(
            "{who}: rule `{}` removed",
            name_of(list.get(i).expect("listed"))
        ));
        list.remove(i);
    }
    for rule in rules {
        let mut changed = Vec::new();
        let found = list.iter().position(|r| name_of(r) == rule.name);
        match found {
            Some(i) => {
                let table = list.get_mut(i).expect("found above");
                write_rule(table, rule, &mut changed);
                if !changed.is_empty() {
                    changes.push(format!("{who}: rule `{}`: {}", rule.name, changed.join(", ")));
                }
            }
            None => {
                let mut table = Table::new();
                table.insert("name", toml_edit::value(rule.name.as_str()));
                write_rule(&mut table, rule, &mut changed);
                list.push(table);
                changes.push(format!("{who}: rule `{}` added: {}", rule.name, changed.join(", ")));
            }
        }
    }
}

/// Where each field the editor shows sits in `text`: (first line, last
/// line, field id). Field ids: `zone:<name>`, `rule:<name>:<key>`,
/// `rule:<name>`, `masks`. Lines are 1-based.
pub fn field_lines(text: &str, camera: &str) -> Vec<(usize, usize, String)> {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Vec::new();
    };
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let span_lines = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| (line(s.start), line(s.end.saturating_sub(1).max(s.start))))
    };
    let mut fields = Vec::new();
    let Some(cameras) = doc.get("cameras").and_then(Item::as_array_of_tables) else {
        return fields;
    };
    let Some(table) = cameras.iter().find(|c| name_of(c) == camera) else {
        return fields;
    };
    for zone in aot(table, "zones") {
        let name = name_of(zone);
        if let Some((a, b)) = span_lines(zone.span()) {
            fields.push((a, b, format!("zone:{name}")));
        }
        for (key, item) in zone.iter() {
            if let Some((a, b)) = span_lines(item.span()) {
                fields.push((a, b, format!("zone:{name}:{key}")));
            }
        }
    }
    for rule in aot(table, "rules") {
        let name = name_of(rule);
        if let Some((a, b)) = span_lines(rule.span()) {
            fields.push((a, b, format!("rule:{name}")));
        }
        for (key, item) in rule.iter() {
            if let Some((a, b)) = span_lines(item.span()) {
                fields.push((a, b, format!("rule:{name}:{key}")));
            }
        }
    }
    if let Some(masks) = table
        .get("privacy")
        .and_then(Item::as_table_like)
        .and_then(|p| p.get("masks"))
        && let Some((a, b)) = span_lines(masks.span())
    {
        fields.push((a, b, "masks".to_string()));
    }
    fields
}

/// The narrowest field holding `line`.
pub fn field_at(fields: &[(usize, usize, String)], line: usize) -> Option<&str> {
    fields
        .iter()
        .filter(|(a, b, _)| (*a..=*b).contains(&line))
        .min_by_key(|(a, b, _)| b - a)
        .map(|(_, _, f)| f.as_str())
}

#[cfg(test)]
mod tests;
