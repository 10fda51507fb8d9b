//! Plane geometry for zones and lines: points, polygons and polylines in
//! coordinates normalised to the frame (0..1, origin top-left), the anchor
//! point of a box, and the conversion from pixel coordinates.
//!
//! Shapes are checked once, at config load: a polygon needs three points, a
//! non-zero area and no crossing edges; a line needs two distinct points per
//! segment and no crossing segments. Runtime code only meets checked shapes.

use serde::Deserialize;

use crate::vocab::BBox;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// Which point of an object's box a rule follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Where a person stands or a vehicle touches the ground (the default).
    #[default]
    BottomCentre,
    /// The middle of the box.
    Centre,
    /// The top of the box (a head above a wall).
    TopCentre,
}

impl crate::config::table::Bare for Anchor {}

impl Anchor {
    pub fn of(&self, b: &BBox) -> Point {
        let x = (b.x1 + b.x2) * 0.5;
        match self {
            Anchor::BottomCentre => Point { x, y: b.y2 },
            Anchor::Centre => Point {
                x,
                y: (b.y1 + b.y2) * 0.5,
            },
            Anchor::TopCentre => Point { x, y: b.y1 },
        }
    }
}

/// How the points of a zone or line are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Fractions of the frame, 0..1 from the top-left corner (the default):
    /// they survive a change of resolution.
    #[default]
    #[serde(alias = "normalized")]
    Normalised,
    /// Pixels of a picture of `frame_size` (e.g. a snapshot the installer
    /// drew on), converted to fractions at load.
    Px,
}

/// Why a list of points is not a usable zone or line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeometryError {
    #[error("a polygon needs at least 3 points, this one has {0}")]
    TooFewPoints(usize),
    #[error("a line needs at least 2 points, this one has {0}")]
    TooFewLinePoints(usize),
    #[error("point {index} ({x}, {y}) is outside the frame; normalised coordinates run from 0 to 1")]
    OutOfFrame { index: usize, x: f64, y: f64 },
    #[error(
        "point {index} ({x}, {y}) is outside the {width}x{height} frame; pixel coordinates run from 0 to the frame size"
    )]
    OutOfPixelFrame {
        index: usize,
        x: f64,
        y: f64,
        width: u32,
        height: u32,
    },
    #[error("the polygon has no area (its points are on one line or repeated)")]
    NoArea,
    #[error("edges {0} and {1} cross; list the points in order around the zone")]
    SelfIntersecting(usize, usize),
    #[error("segment {0} of the line has zero length (points {0} and {1} are the same); move or remove one")]
    ZeroLength(usize, usize),
    #[error("segments {0} and {1} of the line cross; a line must not loop back over itself")]
    LineCrossesItself(usize, usize),
}

/// Converts written `[x, y]` pairs to normalised points, checking each is in
/// the frame. `frame` is the picture size for [`Units::Px`].
pub fn normalise(points: &[[f64; 2]], units: Units, frame: (u32, u32)) -> Result<Vec<Point>, GeometryError> {
    let (width, height) = match units {
        Units::Normalised => (1.0, 1.0),
        Units::Px => (f64::from(frame.0.max(1)), f64::from(frame.1.max(1))),
    };
    points
        .iter()
        .enumerate()
        .map(|(i, &[x, y])| {
            if !(0.0..=width).contains(&x) || !(0.0..=height).contains(&y) {
                return Err(match units {
                    Units::Normalised => GeometryError::OutOfFrame { index: i + 1, x, y },
                    Units::Px => GeometryError::OutOfPixelFrame {
                        index: i + 1,
                        x,
                        y,
                        width: frame.0,
                        height: frame.1,
                    },
                });
            }
            Ok(Point {
                x: (x / width) as f32,
                y: (y / height) as f32,
            })
        })
        .collect()
}

/// A simple polygon (checked: ≥ 3 points, no crossing edges).
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    points: Vec<Point>,
}

impl Polygon {
    /// Checks and builds a polygon from normalised `[x, y]` pairs.
    pub fn new(points: &[[f64; 2]]) -> Result<Self, GeometryError> {
        Self::from_points(normalise(points, Units::Normalised, (1, 1))?)
    }

    /// Checks and builds a polygon from normalised points.
    pub fn from_points(points: Vec<Point>) -> Result<Self, GeometryError> {
        if points.len() < 3 {
            return Err(GeometryError::TooFewPoints(points.len()));
        }
        let polygon = Self { points };
        if let Some((a, b)) = polygon.first_crossing() {
            return Err(GeometryError::SelfIntersecting(a + 1, b + 1));
        }
        if polygon.area() < 1e-9 {
            return Err(GeometryError::NoArea);
        }
        Ok(polygon)
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Unsigned area (shoelace formula).
    pub fn area(&self) -> f32 {
        let n = self.points.len();
        let twice: f32 = (0..n)
            .map(|i| {
                let (a, b) = (self.points[i], self.points[(i + 1) % n]);
                a.x * b.y - b.x * a.y
            })
            .sum();
        twice.abs() * 0.5
    }

    /// Even-odd rule; points on an edge may fall either way.
    pub fn contains(&self, p: Point) -> bool {
        let mut inside = false;
        let n = self.points.len();
        let mut j = n - 1;
        for i in 0..n {
            let (a, b) = (self.points[i], self.points[j]);
            if (a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x {
                inside = !inside;
            }
            j = i;
        }
        inside
    }

    /// The first pair of non-adjacent edges that cross, if any.
    fn first_crossing(&self) -> Option<(usize, usize)> {
        let n = self.points.len();
        let edge = |i: usize| (self.points[i], self.points[(i + 1) % n]);
        for i in 0..n {
            for j in i + 1..n {
                let adjacent = j == i + 1 || (i == 0 && j == n - 1);
                if adjacent {
                    continue;
                }
                let (a, b) = edge(i);
                let (c, d) = edge(j);
                if segments_cross(a, b, c, d) {
                    return Some((i, j));
                }
            }
        }
        None
    }
}

/// Which side of a line a point is on. Walking along the line from its first
/// point to its last, side A is on the left and side B on the right, as seen
/// on the picture: a line drawn left to right has A above it and B below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// A checked line: two points, or a polyline of several segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    points: Vec<Point>,
}

impl Line {
    /// Checks and builds a line from normalised points.
    pub fn from_points(points: Vec<Point>) -> Result<Self, GeometryError> {
        if points.len() < 2 {
            return Err(GeometryError::TooFewLinePoints(points.len()));
        }
        for (i, w) in points.windows(2).enumerate() {
            if w[0] == w[1] {
                return Err(GeometryError::ZeroLength(i + 1, i + 2));
            }
        }
        let line = Self { points };
        let n = line.points.len() - 1;
        for i in 0..n {
            for j in i + 2..n {
                let (a, b) = (line.points[i], line.points[i + 1]);
                let (c, d) = (line.points[j], line.points[j + 1]);
                if segments_cross(a, b, c, d) {
                    return Err(GeometryError::LineCrossesItself(i + 1, j + 1));
                }
            }
        }
        Ok(line)
    }

    pub fn points(&self) -> &[Point] {
        &self.points
    }

    /// Distance from the line to `p`, negative on side A and positive on
    /// side B (the side of the nearest segment).
    pub fn signed_distance(&self, p: Point) -> f32 {
        let mut best = f32::INFINITY;
        let mut signed = 0.0;
        for w in self.points.windows(2) {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b.x - a.x, b.y - a.y);
            let len2 = dx * dx + dy * dy;
            let t = (((p.x - a.x) * dx + (p.y - a.y) * dy) / len2).clamp(0.0, 1.0);
            let (nx, ny) = (a.x + t * dx - p.x, a.y + t * dy - p.y);
            let d = (nx * nx + ny * ny).sqrt();
            if d < best {
                best = d;
                signed = if orientation(a, b, p) > 0.0 { d } else { -d };
            }
        }
        signed
    }

    /// The side `p` is on, if it is at least `margin` away from the line.
    pub fn side(&self, p: Point, margin: f32) -> Option<Side> {
        let d = self.signed_distance(p);
        if d.abs() < margin.max(f32::MIN_POSITIVE) {
            None
        } else if d < 0.0 {
            Some(Side::A)
        } else {
            Some(Side::B)
        }
    }

    /// Whether the step from `from` to `to` touches the line.
    pub fn crossed_by(&self, from: Point, to: Point) -> bool {
        self.points.windows(2).any(|w| segments_cross(w[0], w[1], from, to))
    }
}

fn orientation(a: Point, b: Point, c: Point) -> f32 {
    (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x)
}

fn on_segment(a: Point, b: Point, p: Point) -> bool {
    p.x >= a.x.min(b.x) && p.x <= a.x.max(b.x) && p.y >= a.y.min(b.y) && p.y <= a.y.max(b.y)
}

/// Whether segments ab and cd share a point.
fn segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool {
    let (o1, o2, o3, o4) = (
        orientation(a, b, c),
        orientation(a, b, d),
        orientation(c, d, a),
        orientation(c, d, b),
    );
    if o1 * o2 < 0.0 && o3 * o4 < 0.0 {
        return true;
    }
    (o1 == 0.0 && on_segment(a, b, c))
        || (o2 == 0.0 && on_segment(a, b, d))
        || (o3 == 0.0 && on_segment(c, d, a))
        || (o4 == 0.0 && on_segment(c, d, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [[f64; 2]; 4] = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]];

    #[test]
    fn contains_inside_and_not_outside() {
        let p = Polygon::new(&SQUARE).unwrap();
        assert!(p.contains(Point { x: 0.4, y: 0.4 }));
        assert!(!p.contains(Point { x: 0.7, y: 0.4 }));
        assert!(!p.contains(Point { x: 0.4, y: 0.1 }));
        assert!((p.area() - 0.16).abs() < 1e-6);
    }

    #[test]
    fn concave_polygon_notch_is_outside() {
        // a U shape: the notch between the arms is outside
        let u = Polygon::new(&[
            [0.1, 0.1],
            [0.3, 0.1],
            [0.3, 0.5],
            [0.5, 0.5],
            [0.5, 0.1],
            [0.7, 0.1],
            [0.7, 0.8],
            [0.1, 0.8],
        ])
        .unwrap();
        assert!(!u.contains(Point { x: 0.4, y: 0.3 }));
        assert!(u.contains(Point { x: 0.2, y: 0.3 }));
        assert!(u.contains(Point { x: 0.4, y: 0.7 }));
    }

    #[test]
    fn bad_polygons_are_rejected_with_the_reason() {
        assert_eq!(Polygon::new(&SQUARE[..2]), Err(GeometryError::TooFewPoints(2)));
        assert_eq!(
            Polygon::new(&[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]),
            Err(GeometryError::NoArea)
        );
        let bow_tie = [[0.2, 0.2], [0.6, 0.6], [0.6, 0.2], [0.2, 0.6]];
        assert_eq!(Polygon::new(&bow_tie), Err(GeometryError::SelfIntersecting(1, 3)));
        assert!(matches!(
            Polygon::new(&[[0.1, 0.1], [1.5, 0.1], [0.1, 0.5]]),
            Err(GeometryError::OutOfFrame { index: 2, .. })
        ));
    }

    #[test]
    fn the_default_anchor_is_where_the_feet_are() {
        let b = BBox {
            x1: 0.2,
            y1: 0.1,
            x2: 0.4,
            y2: 0.9,
        };
        assert_eq!(Anchor::default().of(&b), Point { x: 0.3, y: 0.9 });
        assert_eq!(Anchor::Centre.of(&b), Point { x: 0.3, y: 0.5 });
    }

    fn pts(raw: &[[f64; 2]]) -> Vec<Point> {
        normalise(raw, Units::Normalised, (1, 1)).unwrap()
    }

    #[test]
    fn a_line_drawn_left_to_right_has_a_above_and_b_below() {
        let line = Line::from_points(pts(&[[0.2, 0.5], [0.8, 0.5]])).unwrap();
        assert_eq!(line.side(Point { x: 0.5, y: 0.3 }, 0.01), Some(Side::A));
        assert_eq!(line.side(Point { x: 0.5, y: 0.7 }, 0.01), Some(Side::B));
        // inside the margin: no side yet
        assert_eq!(line.side(Point { x: 0.5, y: 0.505 }, 0.01), None);
        assert!((line.signed_distance(Point { x: 0.5, y: 0.7 }) - 0.2).abs() < 1e-6);
        // beyond the end, the distance is to the end point
        assert!((line.signed_distance(Point { x: 0.9, y: 0.5 }).abs() - 0.1).abs() < 1e-6);
    }

    #[test]
    fn crossing_needs_the_step_to_touch_the_line_not_just_change_sides() {
        let line = Line::from_points(pts(&[[0.2, 0.5], [0.8, 0.5]])).unwrap();
        let p = |x, y| Point { x, y };
        assert!(line.crossed_by(p(0.5, 0.4), p(0.5, 0.6)));
        // walking around the end of the line
        assert!(!line.crossed_by(p(0.9, 0.4), p(0.9, 0.6)));
    }

    #[test]
    fn a_polyline_takes_the_side_of_its_nearest_segment() {
        // an L: along the top, then down the right-hand side
        let line = Line::from_points(pts(&[[0.1, 0.2], [0.6, 0.2], [0.6, 0.9]])).unwrap();
        assert_eq!(line.side(Point { x: 0.3, y: 0.1 }, 0.01), Some(Side::A));
        assert_eq!(line.side(Point { x: 0.3, y: 0.3 }, 0.01), Some(Side::B));
        // right of the downward segment is its left-hand side when walking down: A
        assert_eq!(line.side(Point { x: 0.7, y: 0.6 }, 0.01), Some(Side::A));
    }

    #[test]
    fn bad_lines_are_rejected_with_the_reason() {
        assert_eq!(
            Line::from_points(pts(&[[0.3, 0.3], [0.3, 0.3]])),
            Err(GeometryError::ZeroLength(1, 2))
        );
        assert_eq!(
            Line::from_points(pts(&[[0.3, 0.3]])),
            Err(GeometryError::TooFewLinePoints(1))
        );
        let zigzag = [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]];
        assert_eq!(
            Line::from_points(pts(&zigzag)),
            Err(GeometryError::LineCrossesItself(1, 3))
        );
    }

    #[test]
    fn pixel_points_become_fractions_of_their_frame() {
        let p = normalise(&[[960.0, 540.0], [1920.0, 0.0]], Units::Px, (1920, 1080)).unwrap();
        assert_eq!(p, vec![Point { x: 0.5, y: 0.5 }, Point { x: 1.0, y: 0.0 }]);
        assert!(matches!(
            normalise(&[[10.0, 1081.0]], Units::Px, (1920, 1080)),
            Err(GeometryError::OutOfPixelFrame { index: 1, .. })
        ));
    }
}
