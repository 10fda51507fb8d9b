//! The editor's view of every camera in a config file.

use toml_edit::DocumentMut;

use super::model::{CameraEdit, EditError, ZoneEdit};
use super::nodes::{aot, cameras, masks_of, name_of, points_of, zone_scale};
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
            let masks = masks_of(camera);
            CameraEdit {
                camera: name_of(camera).to_string(),
                zones,
                masks,
                rules: aot(camera, "rules").map(read_rule).collect(),
            }
        })
        .collect())
}
