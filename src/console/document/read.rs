//! The editor's view of every camera in a config file.

use toml_edit::{DocumentMut, Item};

use super::model::{CameraEdit, EditError, ZoneEdit};
use super::nodes::{aot, cameras, name_of, points_of, zone_scale};
use super::rules::read_rule;

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
