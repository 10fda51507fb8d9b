//! Helpers for the rule kinds' unit tests: a zone, a label map and tracks
//! placed by their anchor point.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::geometry::{Anchor, Line, Point, Polygon};
use super::kind::Scope;
use super::zone::{Shape, Zone};
use crate::track::Track;
use crate::vocab::{BBox, LabelMap};

pub const PERSON: u32 = 1;
pub const CAR: u32 = 3;

/// The square from (0.2, 0.2) to (0.8, 0.8).
pub fn area() -> Zone {
    Zone {
        name: "z".into(),
        shape: Shape::Polygon(Polygon::new(&[[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]).unwrap()),
    }
}

/// A line across the middle, drawn left to right: A above, B below.
pub fn line() -> Zone {
    let p = |x, y| Point { x, y };
    Zone {
        name: "l".into(),
        shape: Shape::Line(Line::from_points(vec![p(0.2, 0.5), p(0.8, 0.5)]).unwrap()),
    }
}

pub struct Harness {
    pub zone: Zone,
    pub names: Arc<LabelMap>,
    pub labels: Vec<u32>,
}

impl Harness {
    pub fn new(zone: Zone) -> Self {
        let names = BTreeMap::from([(PERSON, "person".to_string()), (CAR, "car".to_string())]);
        Self {
            zone,
            names: Arc::new(LabelMap::new(names)),
            labels: vec![PERSON],
        }
    }

    /// A track in sight whose feet (bottom centre) are at (x, y).
    pub fn track(&self, id: u64, label: &str, x: f32, y: f32) -> Track {
        let bbox = BBox {
            x1: x - 0.05,
            y1: y - 0.2,
            x2: x + 0.05,
            y2: y,
        };
        Track {
            id,
            label: self.names.ids_of(label)[0],
            score: 0.9,
            bbox,
            hits: 5,
            first_seen: Duration::ZERO,
            first_bbox: bbox,
            last_seen: Duration::ZERO,
            moved: 0.0,
            lost: false,
            predicted: bbox,
            stationary: false,
            size: (0.0, 0.0),
        }
    }

    pub fn lost(&self, mut t: Track) -> Track {
        t.lost = true;
        t
    }

    pub fn scored(&self, mut t: Track, score: f32) -> Track {
        t.score = score;
        t
    }

    pub fn scope(&self, now_secs: f64) -> Scope<'_> {
        Scope {
            zone: &self.zone,
            anchor: Anchor::default(),
            labels: &self.labels,
            min_confidence: 0.5,
            names: &self.names,
            now: Duration::from_secs_f64(now_secs),
        }
    }
}
