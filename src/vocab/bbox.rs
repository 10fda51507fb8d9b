//! Boxes and detections: what a detector finds in one frame, in coordinates
//! normalised to the frame. Every stage after decode speaks in these.

use super::labels::LabelId;

/// An axis-aligned box in coordinates normalised to the frame (0..1).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    /// The box from its left, top, right and bottom edges.
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union; 0 for disjoint or empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = w * h;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }

    /// The box clamped to the frame.
    pub fn clamped(&self) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, 1.0),
            self.y1.clamp(0.0, 1.0),
            self.x2.clamp(0.0, 1.0),
            self.y2.clamp(0.0, 1.0),
        )
    }
}

/// One detected object in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub label: LabelId,
    pub score: f32,
    pub bbox: BBox,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = BBox {
            x1: 0.0,
            y1: 0.0,
            x2: 0.2,
            y2: 0.2,
        };
        let b = BBox {
            x1: 0.1,
            y1: 0.0,
            x2: 0.3,
            y2: 0.2,
        };
        let far = BBox {
            x1: 0.5,
            y1: 0.5,
            x2: 0.6,
            y2: 0.6,
        };
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&far), 0.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(BBox::default().iou(&BBox::default()), 0.0);
    }
}
