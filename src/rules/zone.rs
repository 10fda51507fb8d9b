//! Zones: the named shapes on a camera's picture that rules watch — polygons
//! (areas: intrusion, loitering, crowd) and lines (line crossing).
//!
//! Points are written normalised to the frame, or in pixels of a picture of
//! a stated size (`units = "px"`, `frame_size`); either way they are turned
//! into normalised, checked shapes here, at load.

use std::sync::Arc;

use super::geometry::{Line, Polygon, Units, normalise};
use crate::config::Ctx;
use crate::config::Spanned;

crate::config::table! {
    /// `[[cameras.zones]]`: a polygon or a line.
    pub struct ZoneConfig in "" {
        /// Name used by rules and in alerts, e.g. "gate-walkway".
        #[required]
        pub name: Spanned<String>;
        /// An area: its corners in order, e.g.
        /// [[0.70, 0.58], [1.0, 0.58], [1.0, 0.80], [0.70, 0.80]].
        pub polygon: Option<Spanned<Vec<[f64; 2]>>>;
        /// A line to cross: two points, or more for a polyline, e.g.
        /// [[0.1, 0.62], [0.9, 0.62]]. Walking from its first point to its last,
        /// side A is on the left and side B on the right.
        pub line: Option<Spanned<Vec<[f64; 2]>>>;
        /// "normalised" (default: fractions of the frame, 0..1 from the top-left)
        /// or "px" (pixels of a picture of `frame_size`), e.g. "px".
        pub units: Spanned<Units>;
        /// With units = "px": width and height of the picture the points were
        /// measured on, e.g. [1920, 1080]. The camera may stream at another
        /// resolution with the same framing.
        pub frame_size: Option<Spanned<[u32; 2]>>;
    }
}

/// A zone's shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Polygon(Polygon),
    Line(Line),
}

/// A checked zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub name: Arc<str>,
    pub shape: Shape,
}

impl Zone {
    pub fn polygon(&self) -> Option<&Polygon> {
        match &self.shape {
            Shape::Polygon(p) => Some(p),
            Shape::Line(_) => None,
        }
    }

    pub fn line(&self) -> Option<&Line> {
        match &self.shape {
            Shape::Line(l) => Some(l),
            Shape::Polygon(_) => None,
        }
    }
}

pub fn check(camera: &str, config: &ZoneConfig, ctx: &mut Ctx<'_>) -> Option<Zone> {
    let name = ctx.identifier(&config.name, "zone name");
    let zone_name = config.name.get_ref();
    let owner = format!("zone `{zone_name}` on camera `{camera}`");
    let units = *config.units.get_ref();
    let frame = match (units, &config.frame_size) {
        (Units::Normalised, None) => Some((1, 1)),
        (Units::Normalised, Some(size)) => {
            ctx.error(
                size.span(),
                format!("{owner}: `frame_size` only applies with units = \"px\"; add that or remove `frame_size`"),
            );
            None
        }
        (Units::Px, None) => {
            ctx.error(
                config.units.span(),
                format!(
                    "{owner}: units = \"px\" needs frame_size = [width, height], the size of the picture the points were measured on, e.g. [1920, 1080]"
                ),
            );
            None
        }
        (Units::Px, Some(size)) => {
            let [w, h] = *size.get_ref();
            if (1..=16_384).contains(&w) && (1..=16_384).contains(&h) {
                Some((w, h))
            } else {
                ctx.error(
                    size.span(),
                    format!("{owner}: `frame_size` is [{w}, {h}]; use a picture size from 1 to 16384 pixels a side"),
                );
                None
            }
        }
    };
    let shape = match (&config.polygon, &config.line) {
        (Some(_), Some(line)) => {
            ctx.error(
                line.span(),
                format!("{owner} has both `polygon` and `line`; a zone is one or the other, make two zones"),
            );
            None
        }
        (None, None) => {
            ctx.error(
                config.name.span(),
                format!(
                    "{owner} has neither `polygon` nor `line`; add polygon = [[x, y], …] for an area or line = [[x, y], [x, y]] for a line to cross"
                ),
            );
            None
        }
        (Some(points), None) => frame.and_then(|frame| {
            let shape = normalise(points.get_ref(), units, frame).and_then(Polygon::from_points);
            located(ctx, &owner, points, shape.map(Shape::Polygon))
        }),
        (None, Some(points)) => frame.and_then(|frame| {
            let shape = normalise(points.get_ref(), units, frame).and_then(Line::from_points);
            located(ctx, &owner, points, shape.map(Shape::Line))
        }),
    };
    Some(Zone {
        name: Arc::from(name?),
        shape: shape?,
    })
}

fn located<T>(
    ctx: &mut Ctx<'_>,
    owner: &str,
    at: &Spanned<Vec<[f64; 2]>>,
    result: Result<T, super::geometry::GeometryError>,
) -> Option<T> {
    result.map_err(|e| ctx.error(at.span(), format!("{owner}: {e}"))).ok()
}
