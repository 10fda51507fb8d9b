//! Reading and writing `toml_edit` nodes: numbers, point lists, a zone's
//! units, named tables, and setting a value so its spacing and trailing
//! comment stay.

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value};

/// Coordinates written to the file are rounded to this many decimals.
pub(super) const DECIMALS: f64 = 10_000.0;

pub(super) fn number(item: Option<&Item>) -> Option<f64> {
    let v = item?.as_value()?;
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

pub(super) fn points_of(item: Option<&Item>) -> Option<Vec<[f64; 2]>> {
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
pub(super) fn zone_scale(zone: &Table) -> [f64; 2] {
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

pub(super) fn strings(item: Option<&Item>) -> Option<Vec<String>> {
    item?
        .as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect()
}

pub(super) fn cameras(doc: &DocumentMut) -> impl Iterator<Item = &Table> {
    doc.get("cameras")
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flat_map(|a| a.iter())
}

pub(super) fn aot<'t>(table: &'t Table, key: &str) -> impl Iterator<Item = &'t Table> {
    table
        .get(key)
        .and_then(Item::as_array_of_tables)
        .into_iter()
        .flat_map(|a| a.iter())
}

/// The privacy masks a camera table lists (`[cameras.privacy] masks`).
pub(super) fn masks_of(camera: &Table) -> Vec<Vec<[f64; 2]>> {
    camera
        .get("privacy")
        .and_then(Item::as_table_like)
        .and_then(|p| p.get("masks"))
        .and_then(Item::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| points_of(Some(&Item::Value(m.clone()))))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn name_of(table: &Table) -> &str {
    table.get("name").and_then(Item::as_str).unwrap_or("")
}

pub(super) fn round(v: f64) -> f64 {
    (v * DECIMALS).round() / DECIMALS
}

pub(super) fn points_value(points: &[[f64; 2]], scale: [f64; 2]) -> Value {
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

pub(super) fn same_points(a: &[[f64; 2]], b: &[[f64; 2]], tolerance: f64) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(p, q)| (p[0] - q[0]).abs() <= tolerance && (p[1] - q[1]).abs() <= tolerance)
}

/// Sets `key` to `value`, keeping the old value's spacing and trailing comment.
pub(super) fn set(table: &mut Table, key: &str, mut value: Value) {
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

/// The camera's array of tables `key`, made if missing.
pub(super) fn aot_mut<'t>(camera: &'t mut Table, key: &str) -> &'t mut ArrayOfTables {
    if camera.get(key).and_then(Item::as_array_of_tables).is_none() {
        camera.insert(key, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    camera
        .get_mut(key)
        .and_then(Item::as_array_of_tables_mut)
        .expect("made just above")
}

pub(super) fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(String::as_str).collect())
}
