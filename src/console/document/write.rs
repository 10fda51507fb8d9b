//! Writing one camera's edit over the file's text: only what differs changes.

use toml_edit::{Array, DocumentMut, Item, Table, Value};

use super::model::{CameraEdit, EditError, ZoneEdit};
use super::nodes::{DECIMALS, aot_mut, masks_of, name_of, points_of, points_value, same_points, set, zone_scale};
use super::rules::apply_rules;

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
    let current = masks_of(camera);
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
