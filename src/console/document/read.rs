//! The editor's view of every camera in a config file, and the reason a
//! camera cannot be edited when the file writes something the editor cannot
//! show (then the view is what it could read, and nothing is written).

use std::collections::BTreeSet;

use toml_edit::{DocumentMut, TableLike};

use super::model::{CameraEdit, EditError, ZoneEdit};
use super::nodes::{list, masks_of, name_of, points_of, zone_scale};
use super::rules::read_rule;

/// The editor's view of every camera in `text`.
pub fn read(text: &str) -> Result<Vec<CameraEdit>, EditError> {
    let doc = parse(text)?;
    let cameras = list(doc.get("cameras"), "cameras").map_err(EditError::Unsupported)?;
    Ok(cameras
        .into_iter()
        .map(|camera| {
            let (mut edit, locked) = view(camera);
            edit.locked = locked;
            edit
        })
        .collect())
}

pub(super) fn parse(text: &str) -> Result<DocumentMut, EditError> {
    text.parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.to_string()))
}

/// One camera as the editor shows it, and, when it could not show all of
/// it, why (the first reason found).
pub(super) fn view(camera: &dyn TableLike) -> (CameraEdit, Option<String>) {
    let name = name_of(camera).to_string();
    let mut reasons = Vec::new();
    let mut zones = Vec::new();
    match list(camera.get("zones"), "zones") {
        Ok(tables) => {
            for zone in tables {
                match read_zone(zone) {
                    Some(z) => zones.push(z),
                    None => reasons.push(format!(
                        "zone `{}` has no `polygon` or `line` of [x, y] points the editor can show",
                        name_of(zone)
                    )),
                }
            }
        }
        Err(e) => reasons.push(e),
    }
    let rules = match list(camera.get("rules"), "rules") {
        Ok(tables) => tables.into_iter().map(read_rule).collect(),
        Err(e) => {
            reasons.push(e);
            Vec::new()
        }
    };
    let masks = masks_of(camera).unwrap_or_else(|e| {
        reasons.push(e);
        Vec::new()
    });
    for (what, names) in [
        ("zone", zones.iter().map(|z| z.name.as_str()).collect::<Vec<_>>()),
        ("rule", rules.iter().map(|r| r.name.as_str()).collect()),
    ] {
        let mut seen = BTreeSet::new();
        for n in names {
            if n.is_empty() {
                reasons.push(format!("a {what} has no `name`"));
            } else if !seen.insert(n) {
                reasons.push(format!("two {what}s are named `{n}`"));
            }
        }
    }
    let locked = reasons
        .into_iter()
        .next()
        .map(|reason| format!("camera `{name}` cannot be edited in the console: {reason}; edit the file by hand"));
    let edit = CameraEdit {
        camera: name,
        zones,
        masks,
        rules,
        locked: None,
    };
    (edit, locked)
}

fn read_zone(zone: &dyn TableLike) -> Option<ZoneEdit> {
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
}
