//! How the frames of an evidence clip are covered without a full face
//! search on each of them: the plan of which frames are searched (key
//! frames) and where the faces found there may be on the frames between.
//!
//! Every frame of a clip is a [`super::Picture`]: an analysed frame with
//! its own detector pass, so the head region of every person the detector
//! found on *that* frame is covered as on a snapshot. The face model, which
//! catches what the person detector misses (a face close to the lens, a
//! person cut by the frame), runs on every [`KEY_EVERY`]th frame and the
//! last one, and on the result again (as [`super::Redactor`] does for a
//! snapshot). Every frame is covered over the faces of the key frames
//! before and after it (a key frame over its own as well): a face matched on both is covered where it would be
//! on the straight path between them, and every face also where it was,
//! its box grown on each side by [`STEP_GROW`] of its size for every frame
//! step away, so a face that walked, turned or was lost between key frames
//! stays under cover. This module computes boxes only; it never sees pixels.

use crate::vocab::{BBox, Detection};

/// Every this many frames the face model searches the frame (and its
/// redacted result): at 5 frames a second, about twice a second.
pub const KEY_EVERY: usize = 3;

/// A face's box is grown on each side by this share of its size for every
/// frame step between it and the frame covered: at 5 frames a second a
/// walking person's face moves about its own width per step.
pub const STEP_GROW: f32 = 0.5;

/// A face box is grown a little even on the straight path between two
/// key frames: the path is a guess.
const PATH_GROW: f32 = 0.25;

/// Whether frame `i` of `count` is a key frame, in a clip of one scene.
pub fn is_key(i: usize, count: usize) -> bool {
    i % KEY_EVERY == 0 || i + 1 == count
}

/// The key frames before and after frame `i` of `count`, a key frame
/// excluded (the first and last key frames are their own neighbours on
/// the side where there is none), in a clip of one scene: a key frame is
/// covered over its neighbours' faces too, so a face its own search
/// missed, or whose surroundings still look like one once covered, is
/// covered as on the frames between.
pub fn neighbours(i: usize, count: usize) -> (usize, usize) {
    let last = count.saturating_sub(1);
    let before = if i == 0 { 0 } else { (i - 1) - (i - 1) % KEY_EVERY };
    let after = if i >= last {
        last
    } else {
        (i - i % KEY_EVERY + KEY_EVERY).min(last)
    };
    (before, after)
}

/// The key frames of a clip that may hold cuts (a frame that shows
/// another place than the one before it; see [`crate::track::CutWatch`]):
/// each scene is planned as a clip of its own, so its first and last
/// frames are key frames and no frame borrows faces from a key frame of
/// another scene (a face there says nothing of where faces are here).
#[derive(Debug, Clone)]
pub struct KeyPlan {
    /// Per frame: whether it is a key frame, and its key frames around.
    frames: Vec<(bool, (usize, usize))>,
}

impl KeyPlan {
    /// `cut[i]`: frame i shows another place than frame i - 1.
    pub fn new(cut: &[bool]) -> Self {
        let mut frames = Vec::with_capacity(cut.len());
        let mut start = 0;
        for end in 1..=cut.len() {
            if end < cut.len() && !cut[end] {
                continue;
            }
            let count = end - start;
            for j in 0..count {
                let (b, a) = neighbours(j, count);
                frames.push((is_key(j, count), (start + b, start + a)));
            }
            start = end;
        }
        KeyPlan { frames }
    }

    pub fn is_key(&self, i: usize) -> bool {
        self.frames.get(i).is_some_and(|f| f.0)
    }

    /// Frame `i`'s key frames before and after, within its scene.
    pub fn neighbours(&self, i: usize) -> (usize, usize) {
        self.frames.get(i).map_or((i, i), |f| f.1)
    }
}

/// The faces to cover on frame `i`, whose key frames before (`at.0`) and
/// after (`at.1`) found `before` and `after`: appended to `out`.
pub fn between(i: usize, at: (usize, usize), before: &[Detection], after: &[Detection], out: &mut Vec<Detection>) {
    let (b, a) = at;
    let steps_b = i.abs_diff(b) as f32;
    let steps_a = i.abs_diff(a) as f32;
    out.extend(before.iter().map(|f| grown(f, STEP_GROW * steps_b)));
    out.extend(after.iter().map(|f| grown(f, STEP_GROW * steps_a)));
    if a == b {
        return;
    }
    // faces found on both key frames: where they would be on the way
    let t = steps_b / (steps_b + steps_a);
    for f in before {
        let Some(g) = after.iter().max_by(|x, y| closeness(f, x).total_cmp(&closeness(f, y))) else {
            continue;
        };
        if closeness(f, g) <= 0.0 {
            continue;
        }
        let path = BBox {
            x1: f.bbox.x1 + (g.bbox.x1 - f.bbox.x1) * t,
            y1: f.bbox.y1 + (g.bbox.y1 - f.bbox.y1) * t,
            x2: f.bbox.x2 + (g.bbox.x2 - f.bbox.x2) * t,
            y2: f.bbox.y2 + (g.bbox.y2 - f.bbox.y2) * t,
        };
        out.push(grown(&Detection { bbox: path, ..*f }, PATH_GROW));
    }
}

/// How likely `b` is the face `a` a few frames later: positive when their
/// centres are closer than twice the larger face's size.
fn closeness(a: &Detection, b: &Detection) -> f32 {
    let c = |d: &Detection| ((d.bbox.x1 + d.bbox.x2) / 2.0, (d.bbox.y1 + d.bbox.y2) / 2.0);
    let ((ax, ay), (bx, by)) = (c(a), c(b));
    let size = a
        .bbox
        .width()
        .max(a.bbox.height())
        .max(b.bbox.width())
        .max(b.bbox.height());
    let distance = ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt();
    2.0 * size - distance
}

fn grown(f: &Detection, by: f32) -> Detection {
    let (w, h) = (f.bbox.width(), f.bbox.height());
    Detection {
        bbox: BBox {
            x1: f.bbox.x1 - w * by,
            y1: f.bbox.y1 - h * by,
            x2: f.bbox.x2 + w * by,
            y2: f.bbox.y2 + h * by,
        },
        ..*f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32) -> Detection {
        Detection {
            label: 0,
            score: 0.9,
            bbox: BBox::new(x, y, x + 0.05, y + 0.05),
        }
    }

    fn covers(boxes: &[Detection], target: &BBox) -> bool {
        boxes.iter().any(|d| {
            d.bbox.x1 <= target.x1 && d.bbox.y1 <= target.y1 && d.bbox.x2 >= target.x2 && d.bbox.y2 >= target.y2
        })
    }

    #[test]
    fn key_frames_come_every_few_frames_and_last() {
        let keys: Vec<usize> = (0..8).filter(|&i| is_key(i, 8)).collect();
        assert_eq!(keys, vec![0, 3, 6, 7]);
        assert_eq!(neighbours(4, 8), (3, 6));
        assert_eq!(neighbours(6, 8), (3, 7), "a key frame has its neighbours' faces too");
        assert_eq!(neighbours(0, 8), (0, 3));
        assert_eq!(neighbours(7, 8), (6, 7));
        assert_eq!(neighbours(1, 3), (0, 2), "the last frame is a key frame");
    }

    #[test]
    fn each_scene_of_a_clip_has_its_own_key_frames() {
        // frames 0..5 one place, 5..7 another (a cut at 5), 7..8 a third
        let cut = [false, false, false, false, false, true, false, true];
        let plan = KeyPlan::new(&cut);
        let keys: Vec<usize> = (0..8).filter(|&i| plan.is_key(i)).collect();
        assert_eq!(
            keys,
            vec![0, 3, 4, 5, 6, 7],
            "a scene's first and last frames are searched"
        );
        assert_eq!(plan.neighbours(2), (0, 3));
        assert_eq!(plan.neighbours(4), (3, 4), "no key frame of the next scene");
        assert_eq!(plan.neighbours(5), (5, 6), "no key frame of the scene before");
        assert_eq!(plan.neighbours(7), (7, 7));
        // without cuts, the plan of one scene
        let plan = KeyPlan::new(&[false; 8]);
        for i in 0..8 {
            assert_eq!((plan.is_key(i), plan.neighbours(i)), (is_key(i, 8), neighbours(i, 8)));
        }
        assert!(!KeyPlan::new(&[]).is_key(0));
    }

    #[test]
    fn a_face_walking_between_key_frames_stays_covered() {
        // a face moving right by 0.02 a frame, found on frames 0 and 3
        let (before, after) = (face(0.10, 0.2), face(0.16, 0.2));
        for i in 1..3 {
            let mut out = Vec::new();
            between(i, (0, 3), &[before], &[after], &mut out);
            let truth = face(0.10 + 0.02 * i as f32, 0.2).bbox;
            assert!(covers(&out, &truth), "frame {i}: {out:?}");
        }
        // found on the first key frame only (it turned away): still covered
        let mut out = Vec::new();
        between(2, (0, 3), &[before], &[], &mut out);
        assert!(covers(&out, &face(0.14, 0.2).bbox));
        // far apart faces are two faces, not one on its way
        let mut out = Vec::new();
        between(1, (0, 3), &[face(0.1, 0.1)], &[face(0.8, 0.8)], &mut out);
        assert_eq!(out.len(), 2);
    }
}
