//! Writing one camera's edit over the file's text: only what differs changes.
//! A camera the editor cannot show whole (see [`super::read`]) is refused,
//! never rewritten from a partial view.

use toml_edit::{Array, InlineTable, Item, Table, TableLike, Value};

use super::model::{CameraEdit, EditError, ZoneEdit};
use super::nodes::{DECIMALS, ListMut, list, masks_of, name_of, points_of, points_value, same_points, set, zone_scale};
use super::read::{parse, view};
use super::rules::apply_rules;

/// Writes `edit` over its camera in `text`: only what differs changes.
/// Returns the new text and one line per change, for the log.
pub fn apply(text: &str, edit: &CameraEdit) -> Result<(String, Vec<String>), EditError> {
    edit.validate()?;
    let mut doc = parse(text)?;
    let cameras = list(doc.get("cameras"), "cameras").map_err(EditError::Unsupported)?;
    let matching: Vec<_> = cameras.iter().filter(|c| name_of(**c) == edit.camera).collect();
    match matching.as_slice() {
        [] => return Err(EditError::NoCamera(edit.camera.clone())),
        [camera] => {
            if let (_, Some(reason)) = view(**camera) {
                return Err(EditError::Unsupported(reason));
            }
        }
        _ => {
            return Err(EditError::Unsupported(format!(
                "two cameras are named `{}`; edit the file by hand",
                edit.camera
            )));
        }
    }
    let mut cameras = ListMut::of(doc.as_table_mut(), "cameras", false).map_err(EditError::Unsupported)?;
    let inline = cameras.is_inline();
    let index = cameras
        .names()
        .iter()
        .position(|n| *n == edit.camera)
        .ok_or_else(|| EditError::NoCamera(edit.camera.clone()))?;
    let camera = cameras
        .get_mut(index)
        .ok_or_else(|| EditError::NoCamera(edit.camera.clone()))?;
    let mut changes = Vec::new();
    let who = format!("camera `{}`", edit.camera);
    apply_zones(camera, inline, &edit.zones, &who, &mut changes)?;
    apply_masks(camera, inline, &edit.masks, &who, &mut changes);
    apply_rules(camera, inline, &edit.rules, &who, &mut changes)?;
    Ok((doc.to_string(), changes))
}

fn apply_zones(
    camera: &mut dyn TableLike,
    inline: bool,
    zones: &[ZoneEdit],
    who: &str,
    changes: &mut Vec<String>,
) -> Result<(), EditError> {
    ListMut::edit_by_name(
        camera,
        "zones",
        inline,
        zones,
        ("zone", who),
        changes,
        |zone, table, added, changes| {
            if added {
                table.insert(&zone.kind, Item::Value(points_value(&zone.points, [1.0, 1.0])));
                changes.push(format!(
                    "{who}: zone `{}` added, {} {:?}",
                    zone.name, zone.kind, zone.points
                ));
                return;
            }
            let scale = zone_scale(table);
            let other = if zone.kind == "polygon" { "line" } else { "polygon" };
            let current = points_of(table.get(&zone.kind))
                .map(|p| p.iter().map(|[x, y]| [x / scale[0], y / scale[1]]).collect::<Vec<_>>());
            if current
                .as_deref()
                .is_some_and(|c| same_points(c, &zone.points, 0.5 / DECIMALS))
            {
                return;
            }
            table.remove(other);
            set(table, &zone.kind, points_value(&zone.points, scale));
            changes.push(format!(
                "{who}: zone `{}` {} set to {:?}",
                zone.name, zone.kind, zone.points
            ));
        },
    )
    .map_err(EditError::Unsupported)
}

fn apply_masks(
    camera: &mut dyn TableLike,
    inline: bool,
    masks: &[Vec<[f64; 2]>],
    who: &str,
    changes: &mut Vec<String>,
) {
    let current = masks_of(camera).unwrap_or_default();
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
    let created = camera.get("privacy").is_none();
    if created {
        let made = if inline {
            Item::Value(Value::InlineTable(InlineTable::new()))
        } else {
            Item::Table(Table::new())
        };
        camera.insert("privacy", made);
    }
    if let Some(privacy) = camera.get_mut("privacy").and_then(Item::as_table_like_mut) {
        set(privacy, "masks", Value::Array(array));
        if let Some(Item::Value(Value::InlineTable(t))) = camera.get_mut("privacy")
            && created
        {
            t.fmt();
        }
    }
    changes.push(format!("{who}: privacy masks set to {masks:?}"));
}
