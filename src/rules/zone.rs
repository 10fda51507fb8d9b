//! Zones: named polygons on a camera's picture that rules watch.

use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::geometry::Polygon;
use crate::config::Ctx;

/// `[[cameras.zones]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Name used by rules and in alerts, e.g. "gate-walkway".
    pub name: Spanned<String>,
    /// Corners in order, normalised to the frame (0..1, origin top-left),
    /// e.g. [[0.70, 0.58], [1.0, 0.58], [1.0, 0.80], [0.70, 0.80]].
    pub polygon: Spanned<Vec<[f64; 2]>>,
}

/// A checked zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: Arc<str>,
    pub polygon: Polygon,
}

pub fn check(camera: &str, config: &ZoneConfig, ctx: &mut Ctx<'_>) -> Option<Zone> {
    let name = ctx.identifier(&config.name, "zone name");
    let polygon = match Polygon::new(config.polygon.get_ref()) {
        Ok(polygon) => Some(polygon),
        Err(e) => {
            ctx.error(
                config.polygon.span(),
                format!("zone `{}` on camera `{camera}`: {e}", config.name.get_ref()),
            );
            None
        }
    };
    Some(Zone {
        name: Arc::from(name?),
        polygon: polygon?,
    })
}
