//! Which regions of a picture the camera's policy covers: the faces the face
//! search found, grown a little; the head of every detected person, placed
//! from the shape of its box; whole persons; the plate area of vehicles. It
//! only computes boxes; [`super::redact`] covers them.

use super::redact::RedactSet;
use super::sighting::{Seen, What};
use crate::track::EDGE;
use crate::vocab::{BBox, Detection};

/// A head is the top part of a person box, slightly widened: the top 30% of
/// a standing person's tall box, and more of a box whose shape says the
/// person sits, bends or leans, or that one side of the frame cuts (the
/// head may then be anywhere in its upper part), up to 60% of a box as wide
/// as it is high; 30% of a box cut by the picture's top above feet in
/// sight, whatever its shape (what shows is the lower part of a person).
/// It starts above the box: a detector's box of a standing person often
/// cuts the top of the head (hair, a hat) — 15% of the box's height is
/// what it cut on the walkway clip against an independent detector — and
/// 5% above a squat or cut box, which holds the head of someone close
/// (docs/privacy.md).
const HEAD_TOP_TALL: f32 = 0.15;
const HEAD_TOP: f32 = 0.05;
const HEAD_DEPTH: f32 = 0.3;
const HEAD_DEPTH_SQUAT: f32 = 0.6;
/// Height/width of a standing person's box, and of a squat one.
const TALL: f32 = 2.5;
const SQUAT: f32 = 1.0;
/// A head region is widened by this share of the box's width on each side
/// (hair, an ear the box cut), the box's width taken up to that of
/// [`PAIR`] persons of its height standing side by side: a box wider than
/// that is wide for its arms, legs or a bent body, not for its heads.
const HEAD_WIDEN: f32 = 0.1;
const PAIR: f32 = 2.0;
/// Faces are grown by this much on each side: a face box is tight.
const FACE_GROW: f32 = 0.3;
/// Whole persons are grown by this much on each side: the detector's box
/// may cut off a hand, a foot or hair, and another detector's box of the
/// same person is often wider.
const PERSON_GROW: f32 = 0.1;
/// A person box this many times wider than high (in pixels) holds no one
/// person standing, sitting or bending: it is a group, and when it holds
/// [`GROUP_MEMBERS`] persons found on their own, their heads are covered
/// by their own boxes, not a band across the group (the detector draws such
/// boxes over a whole street of walkers; docs/privacy.md).
const GROUP_WIDE: f32 = 1.5;
const GROUP_MEMBERS: usize = 2;
/// Plates sit in the lower part of a vehicle box.
const PLATE_FROM: f32 = 0.55;
/// The regions the policy covers, in normalised coordinates, in a picture
/// `size` pixels wide and high: around the faces found, and from
/// the persons and vehicles `seen` on the picture.
pub fn regions(set: &RedactSet, faces: &[Detection], seen: &[Seen], size: (f32, f32), out: &mut Vec<BBox>) {
    let aspect = size.0 / size.1.max(1.0);
    if set.faces {
        out.extend(faces.iter().map(|f| grow(&f.bbox, FACE_GROW, FACE_GROW)));
    }
    for s in seen {
        let b = &s.bbox;
        let (w, h) = (b.width(), b.height());
        match s.what {
            What::Person if set.persons => out.push(grow(b, PERSON_GROW, PERSON_GROW)),
            What::Person if set.heads => {
                if is_group(s, seen, aspect) {
                    continue;
                }
                // a lost track's band is as deep as its grown box is squat:
                // its head may be anywhere in the top of where it may be.
                // Cut by one side, someone may be leaning in from it. Cut
                // by the top with the feet in sight, the person's top is
                // above the picture: a head in sight at all is at the box's
                // top, however squat the legs below it make the box. A box
                // as wide as the picture, or cut by top and bottom, has the
                // shape of what is in sight.
                let side = (b.x1 <= EDGE) != (b.x2 >= 1.0 - EDGE);
                let feet_under_cut_top = cut_by_top(&s.shape) && s.shape.y2 < 1.0 - EDGE;
                let squat = if side {
                    1.0
                } else if feet_under_cut_top {
                    0.0
                } else {
                    squatness(w * aspect, h)
                };
                let depth = HEAD_DEPTH + squat * (HEAD_DEPTH_SQUAT - HEAD_DEPTH);
                let top = HEAD_TOP_TALL + squat * (HEAD_TOP - HEAD_TOP_TALL);
                let widen = HEAD_WIDEN * w.min(PAIR * h / (TALL * aspect));
                let head = BBox {
                    x1: b.x1 - widen,
                    y1: b.y1 - h * top,
                    x2: b.x2 + widen,
                    y2: b.y1 + h * depth,
                };
                out.push(head);
            }
            What::Vehicle if set.plates => out.push(BBox {
                x1: b.x1,
                y1: b.y1 + h * PLATE_FROM,
                x2: b.x2,
                y2: b.y2,
            }),
            _ => {}
        }
    }
}

/// Whether the person `s` is a group's box whose members were found on
/// their own (`seen`, in a picture of width/height `aspect`): its shape
/// much wider than high, holding the centres of at least
/// [`GROUP_MEMBERS`] other person boxes, each narrower than half of it. A
/// lost track's box, grown around where it may be, keeps its shape: a
/// group tracked and lost for a moment is still a group.
fn is_group(s: &Seen, seen: &[Seen], aspect: f32) -> bool {
    let (b, shape) = (&s.bbox, &s.shape);
    let (w, h) = (shape.width(), shape.height());
    if w * aspect <= GROUP_WIDE * h {
        return false;
    }
    let members = seen
        .iter()
        .filter(|o| o.what == What::Person && o.shape != *shape)
        .filter(|o| {
            let (cx, cy) = ((o.bbox.x1 + o.bbox.x2) / 2.0, (o.bbox.y1 + o.bbox.y2) / 2.0);
            o.shape.width() < w / 2.0 && (b.x1..=b.x2).contains(&cx) && (b.y1..=b.y2).contains(&cy)
        })
        .count();
    members >= GROUP_MEMBERS
}

/// Whether a person box is cut by the picture's top: its top within
/// [`EDGE`] of it, or closer to it than the band a squat box's head starts
/// above its top ([`HEAD_TOP`] of its height). A head above such a box would
/// have to fit in a strip a small part of the person's height: the box's
/// top is where the picture cuts the person, a few pixels of the detector's
/// slack below it.
fn cut_by_top(b: &BBox) -> bool {
    b.y1 <= EDGE.max(b.height() * HEAD_TOP)
}

/// How squat a person box is, from its height over its width (in the same
/// unit): 0 for a standing person's tall box, 1 for one as wide as high.
fn squatness(w: f32, h: f32) -> f32 {
    if !(w > 0.0 && h.is_finite()) {
        return 0.0;
    }
    ((TALL - h / w) / (TALL - SQUAT)).clamp(0.0, 1.0)
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

    fn person(bbox: BBox) -> Seen {
        Seen::at(What::Person, bbox)
    }

    #[test]
    fn heads_come_from_persons_and_plates_from_vehicles() {
        let person = person(region(0.1, 0.2, 0.3, 0.8));
        let car = Seen::at(What::Vehicle, region(0.5, 0.5, 0.9, 0.9));
        let mut out = Vec::new();
        regions(&RedactSet::default(), &[], &[person, car], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 1, "default: the person's head only");
        assert!(out[0].y2 < 0.5 && out[0].y1 < 0.2);
        out.clear();
        let all = RedactSet {
            faces: true,
            heads: true,
            persons: true,
            plates: true,
        };
        regions(&all, &[], &[person, car], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 2, "the whole person (head included) and the plate area");
        assert!(out[0].x1 < 0.1 && out[0].y2 > 0.8, "grown beyond the box");
        assert!(out[1].y1 > 0.5 && out[1].y2 == 0.9);
    }

    #[test]
    fn a_squat_person_box_gets_a_deeper_head_region() {
        let depth = |bbox: BBox, aspect: f32| {
            let mut out = Vec::new();
            regions(
                &RedactSet::default(),
                &[],
                &[person(bbox)],
                (aspect * 100.0, 100.0),
                &mut out,
            );
            (out[0].y2 - bbox.y1) / bbox.height()
        };
        // standing: 0.1 wide, 0.6 high in a square picture
        assert!((depth(region(0.1, 0.1, 0.2, 0.7), 1.0) - HEAD_DEPTH).abs() < 1e-5);
        // seated: as wide as high
        assert!((depth(region(0.1, 0.1, 0.5, 0.5), 1.0) - HEAD_DEPTH_SQUAT).abs() < 1e-5);
        // the same normalised box is squat in a 16:9 picture
        assert!(depth(region(0.1, 0.1, 0.25, 0.6), 16.0 / 9.0) > depth(region(0.1, 0.1, 0.25, 0.6), 1.0));
        // a standing person cut by one side of the picture may be leaning in
        assert!((depth(region(0.0, 0.1, 0.1, 0.7), 1.0) - HEAD_DEPTH_SQUAT).abs() < 1e-5);
        assert!((depth(region(0.9, 0.1, 1.0, 0.7), 1.0) - HEAD_DEPTH_SQUAT).abs() < 1e-5);
        // as wide as the picture, or cut by top and bottom, a box has the
        // shape of what is in sight: a tall one's head is at its top
        assert!((depth(region(0.0, 0.05, 1.0, 1.0), 0.3) - HEAD_DEPTH).abs() < 1e-5);
        assert!((depth(region(0.3, 0.0, 0.7, 1.0), 2.5) - HEAD_DEPTH_SQUAT).abs() < 1e-5);
        // cut by the top with the feet in sight (a walker's legs), a head in
        // sight is at the top, however squat the stride makes the box
        assert!((depth(region(0.4, 0.0, 0.5, 0.6), 1.0) - HEAD_DEPTH).abs() < 1e-5);
        assert!((depth(region(0.4, 0.0, 0.8, 0.4), 1.0) - HEAD_DEPTH).abs() < 1e-5);
        // a few pixels short of the top is still cut: no head fits above
        assert!((depth(region(0.4, 0.015, 0.8, 0.4), 1.0) - HEAD_DEPTH).abs() < 1e-5);
        // a squat box with room above it for a head keeps its band
        assert!((depth(region(0.4, 0.05, 0.8, 0.45), 1.0) - HEAD_DEPTH_SQUAT).abs() < 1e-5);
    }

    #[test]
    fn a_head_is_widened_by_its_box_up_to_a_standing_pairs_width() {
        let band = |bbox: BBox| {
            let mut out = Vec::new();
            regions(&RedactSet::default(), &[], &[person(bbox)], (100.0, 100.0), &mut out);
            out[0]
        };
        // standing, 0.1 wide and 0.5 high: by a tenth of its width
        let tall = band(region(0.4, 0.2, 0.5, 0.7));
        assert!((tall.x1 - (0.4 - 0.01)).abs() < 1e-5 && (tall.x2 - (0.5 + 0.01)).abs() < 1e-5);
        // a pair side by side, 0.3 wide and 0.5 high: by a tenth of its width
        let pair = band(region(0.4, 0.2, 0.7, 0.7));
        assert!((pair.x1 - (0.4 - 0.03)).abs() < 1e-5 && (pair.x2 - (0.7 + 0.03)).abs() < 1e-5);
        // arms out, 0.6 wide and 0.5 high: by a tenth of the 0.4 two persons
        // of its height are wide standing, not a tenth of its arms' span
        let squat = band(region(0.2, 0.2, 0.8, 0.7));
        assert!((squat.x1 - (0.2 - 0.04)).abs() < 1e-5 && (squat.x2 - (0.8 + 0.04)).abs() < 1e-5);
    }

    #[test]
    fn a_group_box_over_persons_found_on_their_own_is_not_a_head() {
        let group = person(region(0.05, 0.1, 0.95, 0.45));
        let a = person(region(0.1, 0.2, 0.15, 0.4));
        let b = person(region(0.6, 0.15, 0.65, 0.35));
        let mut out = Vec::new();
        regions(&RedactSet::default(), &[], &[group, a, b], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 2, "the members' heads, no band across the group: {out:?}");
        // with one member only, the group's band stays: someone in it may
        // have been missed
        out.clear();
        regions(&RedactSet::default(), &[], &[group, a], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 2);
        assert!(out.iter().any(|r| r.x2 > 0.9), "{out:?}");
        // two people side by side under one box are not a group
        out.clear();
        let pair = person(region(0.1, 0.1, 0.3, 0.5));
        let one = person(region(0.1, 0.12, 0.19, 0.5));
        let two = person(region(0.21, 0.12, 0.3, 0.5));
        regions(&RedactSet::default(), &[], &[pair, one, two], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 3);
        // whole persons are covered whole, groups included
        out.clear();
        let persons = RedactSet {
            persons: true,
            ..RedactSet::default()
        };
        regions(&persons, &[], &[group, a, b], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 3);
        // a group tracked and lost for a moment: its box grown around where
        // it may be is no longer wide, but its shape still is
        out.clear();
        let lost = Seen {
            what: What::Person,
            bbox: region(0.0, 0.0, 1.0, 0.6),
            shape: group.bbox,
        };
        regions(&RedactSet::default(), &[], &[lost, a, b], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 2, "the members' heads only: {out:?}");
        // grown the same way, a lost person's box keeps its band
        out.clear();
        let walker = Seen {
            what: What::Person,
            bbox: region(0.4, 0.1, 0.6, 0.7),
            shape: region(0.45, 0.2, 0.55, 0.6),
        };
        regions(&RedactSet::default(), &[], &[walker, a, b], (100.0, 100.0), &mut out);
        assert_eq!(out.len(), 3);
    }
}
