//! Plane geometry for zones: points and polygons in coordinates normalised to
//! the frame (0..1, origin top-left), and the anchor point of a box.
//!
//! Polygons are checked once, at config load: at least three points, inside
//! the frame, a non-zero area and no crossing edges.

use serde::Deserialize;

use crate::infer::BBox;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// Which point of an object's box must be inside a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Where a person stands or a vehicle touches the ground (the default).
    #[default]
    BottomCentre,
    /// The middle of the box.
    Centre,
}

impl Anchor {
    pub fn of(&self, b: &BBox) -> Point {
        let x = (b.x1 + b.x2) * 0.5;
        match self {
            Anchor::BottomCentre => Point { x, y: b.y2 },
            Anchor::Centre => Point {
                x,
                y: (b.y1 + b.y2) * 0.5,
            },
        }
    }
}

/// A simple polygon (checked: ≥ 3 points, no crossing edges).
#[derive(Debug, Clone, PartialEq)]
pub struct Polygon {
    points: Vec<Point>,
}

/// Why a list of points is not a usable zone.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolygonError {
    #[error("a polygon needs at least 3 points, this one has {0}")]
    TooFewPoints(usize),
    #[error("point {index} ({x}, {y}) is outside the frame; normalised coordinates run from 0 to 1")]
    OutOfFrame { index: usize, x: f32, y: f32 },
    #[error("the polygon has no area (its points are on one line or repeated)")]
    NoArea,
    #[error("edges {0} and {1} cross; list the points in order around the zone")]
    SelfIntersecting(usize, usize),
}

impl Polygon {
    /// Checks and builds a polygon from normalised `[x, y]` pairs.
    pub fn new(points: &[[f64; 2]]) -> Result<Self, PolygonError> {
        if points.len() < 3 {
            return Err(PolygonError::TooFewPoints(points.len()));
        }
        for (index, p) in points.iter().enumerate() {
            if !(0.0..=1.0).contains(&p[0]) || !(0.0..=1.0).contains(&p[1]) {
                return Err(PolygonError::OutOfFrame {
                    index: index + 1,
                    x: p[0] as f32,
                    y: p[1] as f32,
                });
            }
        }
        let points: Vec<Point> = points
            .iter()
            .map(|p| Point {
                x: p[0] as f32,
                y: p[1] as f32,
            })
            .collect();
        let polygon = Self { points };
        if let Some((a, b)) = polygon.first_crossing() {
            return Err(PolygonError::SelfIntersecting(a + 1, b + 1));
        }
        if polygon.area() < 1e-9 {
            return Err(PolygonError::NoArea);
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
        assert_eq!(Polygon::new(&SQUARE[..2]), Err(PolygonError::TooFewPoints(2)));
        assert_eq!(
            Polygon::new(&[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]]),
            Err(PolygonError::NoArea)
        );
        let bow_tie = [[0.2, 0.2], [0.6, 0.6], [0.6, 0.2], [0.2, 0.6]];
        assert_eq!(Polygon::new(&bow_tie), Err(PolygonError::SelfIntersecting(1, 3)));
        assert!(matches!(
            Polygon::new(&[[0.1, 0.1], [1.5, 0.1], [0.1, 0.5]]),
            Err(PolygonError::OutOfFrame { index: 2, .. })
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
}
