//! Non-maximum suppression, per class: of boxes of one label that overlap more
//! than a threshold, keep the best-scoring one. Works in place, no allocation.

use crate::vocab::Detection;

/// Keeps, per label, the boxes that no better box of that label overlaps by
/// more than `iou_threshold`; at most `max_out` results, best first.
pub fn per_class(dets: &mut Vec<Detection>, iou_threshold: f32, max_out: usize) {
    suppress(dets, iou_threshold, max_out, false)
}

/// Like [`per_class`], but a box suppresses overlapping boxes of any label.
pub fn class_agnostic(dets: &mut Vec<Detection>, iou_threshold: f32, max_out: usize) {
    suppress(dets, iou_threshold, max_out, true)
}

fn suppress(dets: &mut Vec<Detection>, iou_threshold: f32, max_out: usize, agnostic: bool) {
    if agnostic {
        dets.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    } else {
        dets.sort_unstable_by(|a, b| a.label.cmp(&b.label).then(b.score.total_cmp(&a.score)));
    }
    let mut kept = 0;
    let mut class_start = 0;
    let mut current = None;
    for i in 0..dets.len() {
        let candidate = dets[i];
        if !agnostic && current != Some(candidate.label) {
            current = Some(candidate.label);
            class_start = kept;
        }
        let suppressed = dets[class_start..kept]
            .iter()
            .any(|k| k.bbox.iou(&candidate.bbox) > iou_threshold);
        if !suppressed {
            dets[kept] = candidate;
            kept += 1;
        }
    }
    dets.truncate(kept);
    dets.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
    dets.truncate(max_out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::BBox;

    fn det(label: u32, score: f32, x: f32) -> Detection {
        Detection {
            label,
            score,
            bbox: BBox {
                x1: x,
                y1: 0.0,
                x2: x + 0.2,
                y2: 0.2,
            },
        }
    }

    #[test]
    fn overlapping_boxes_of_one_label_keep_the_best() {
        let mut dets = vec![det(1, 0.6, 0.01), det(1, 0.9, 0.0), det(1, 0.7, 0.5)];
        per_class(&mut dets, 0.45, 100);
        assert_eq!(dets, vec![det(1, 0.9, 0.0), det(1, 0.7, 0.5)]);
    }

    #[test]
    fn overlapping_boxes_of_different_labels_both_survive() {
        let mut dets = vec![det(1, 0.9, 0.0), det(3, 0.8, 0.0)];
        per_class(&mut dets, 0.45, 100);
        assert_eq!(dets.len(), 2);
    }

    #[test]
    fn class_agnostic_suppression_crosses_labels() {
        let mut dets = vec![det(1, 0.9, 0.0), det(3, 0.8, 0.0), det(3, 0.7, 0.5)];
        class_agnostic(&mut dets, 0.45, 100);
        assert_eq!(dets, vec![det(1, 0.9, 0.0), det(3, 0.7, 0.5)]);
    }

    #[test]
    fn output_is_capped_and_best_first() {
        let mut dets: Vec<_> = (0..10).map(|i| det(1, 0.1 * i as f32, i as f32)).collect();
        per_class(&mut dets, 0.45, 3);
        let scores: Vec<f32> = dets.iter().map(|d| d.score).collect();
        let expected: Vec<f32> = [9, 8, 7].iter().map(|&i| 0.1 * i as f32).collect();
        assert_eq!(scores, expected);
    }
}
