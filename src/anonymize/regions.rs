//! Which regions of a picture the camera's policy covers: the faces the face
//! search found, grown a little; the head of every detected person, placed
//! from the shape of its box; whole persons; the plate area of vehicles. It
//! only computes boxes; [`super::redact`] covers them.

use super::redact::{RedactLabels, RedactSet};
use crate::vocab::{BBox, Detection};

/// A head is the top part of a person box, slightly widened: the top 30% of
/// a standing person's tall box, and more of a box whose shape says the
/// person sits, bends, leans or is cut by the frame (the head may then be
/// anywhere in its upper part), up to 60% of a box as wide as it is high.
const HEAD_TOP: f32 = 0.05;
const HEAD_DEPTH: f32 = 0.3;
const HEAD_DEPTH_SQUAT: f32 = 0.6;
/// Height/width of a standing person's box, and of a squat one.
const TALL: f32 = 2.5;
const SQUAT: f32 = 1.0;
const HEAD_WIDEN: f32 = 0.1;
/// Faces are grown by this much on each side: a face box is tight.
const FACE_GROW: f32 = 0.3;
/// Plates sit in the lower part of a vehicle box.
const PLATE_FROM: f32 = 0.55;
/// The regions the policy covers, in normalised coordinates, in a picture
/// `aspect` times as wide as it is high.
pub fn regions(
    set: &RedactSet,
    labels: &RedactLabels,
    faces: &[Detection],
    scene: &[Detection],
    aspect: f32,
    out: &mut Vec<BBox>,
) {
    if set.faces {
        out.extend(faces.iter().map(|f| grow(&f.bbox, FACE_GROW, FACE_GROW)));
    }
    for d in scene {
        let b = &d.bbox;
        let (w, h) = (b.width(), b.height());
        if labels.persons.contains(&d.label) {
            if set.persons {
                out.push(grow(b, 0.05, 0.05));
            } else if set.heads {
                out.push(BBox {
                    x1: b.x1 - w * HEAD_WIDEN,
                    y1: b.y1 - h * HEAD_TOP,
                    x2: b.x2 + w * HEAD_WIDEN,
                    y2: b.y1 + h * head_depth(w * aspect, h),
                });
            }
        }
        if set.plates && labels.vehicles.contains(&d.label) {
            out.push(BBox {
                x1: b.x1,
                y1: b.y1 + h * PLATE_FROM,
                x2: b.x2,
                y2: b.y2,
            });
        }
    }
}

/// The share of a person box, from its top, that its head region covers,
/// from the box's height over its width (in the same unit).
fn head_depth(w: f32, h: f32) -> f32 {
    if !(w > 0.0 && h.is_finite()) {
        return HEAD_DEPTH;
    }
    let t = ((TALL - h / w) / (TALL - SQUAT)).clamp(0.0, 1.0);
    HEAD_DEPTH + t * (HEAD_DEPTH_SQUAT - HEAD_DEPTH)
}

fn grow(b: &BBox, fx: f32, fy: f32) -> BBox {
    let (w, h) = (b.width(), b.height());
    BBox {
        x1: b.x1 - w * fx,
        y1: b.y1 - h * fy,
        x2: b.x2 + w * fx,
        y2: b.y2 + h * fy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(x1: f32, y1: f32, x2: f32, y2: f32) -> BBox {
        BBox { x1, y1, x2, y2 }
    }

    #[test]
    fn heads_come_from_persons_and_plates_from_vehicles() {
        let labels = RedactLabels {
            persons: vec![1],
            vehicles: vec![3],
        };
        let person = Detection {
            label: 1,
            score: 0.9,
            bbox: region(0.1, 0.2, 0.3, 0.8),
        };
        let car = Detection {
            label: 3,
            score: 0.9,
            bbox: region(0.5, 0.5, 0.9, 0.9),
        };
        let mut out = Vec::new();
        regions(&RedactSet::default(), &labels, &[], &[person, car], 1.0, &mut out);
        assert_eq!(out.len(), 1, "default: the person's head only");
        assert!(out[0].y2 < 0.5 && out[0].y1 < 0.2);
        out.clear();
        let all = RedactSet {
            faces: true,
            heads: true,
            persons: true,
            plates: true,
        };
        regions(&all, &labels, &[], &[person, car], 1.0, &mut out);
        assert_eq!(out.len(), 2, "the whole person (head included) and the plate area");
        assert!(out[1].y1 > 0.5 && out[1].y2 == 0.9);
    }

    #[test]
    fn a_squat_person_box_gets_a_deeper_head_region() {
        let labels = RedactLabels {
            persons: vec![1],
            vehicles: vec![],
        };
        let depth = |bbox: BBox, aspect: f32| {
            let mut out = Vec::new();
            let person = Detection {
                label: 1,
                score: 0.9,
                bbox,
            };
            regions(&RedactSet::default(), &labels, &[], &[person], aspect, &mut out);
            (out[0].y2 - bbox.y1) / bbox.height()
        };
        // standing: 0.1 wide, 0.6 high in a square picture
        assert!((depth(region(0.1, 0.1, 0.2, 0.7), 1.0) - HEAD_DEPTH).abs() < 1e-5);
        // seated: as wide as high
        assert!((depth(region(0.1, 0.1, 0.5, 0.5), 1.0) - HEAD_DEPTH_SQUAT).abs() < 1e-5);
        // the same normalised box is squat in a 16:9 picture
        assert!(depth(region(0.1, 0.1, 0.25, 0.6), 16.0 / 9.0) > depth(region(0.1, 0.1, 0.25, 0.6), 1.0));
    }
}
