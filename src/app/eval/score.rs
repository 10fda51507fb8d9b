//! Matching raised moments to labelled ones, and the figures `watchpost eval`
//! prints for each rule: true and false positives, misses, precision, recall
//! and the delay from the labelled moment to the event.
//!
//! A raised moment matches a labelled one when it comes no more than
//! [`EARLY`] before it and no more than [`LATE`] after it: a label marks the
//! frame in which the feet are on the line (to within about two frames), and
//! a rule raises once the feet are clearly past it, after the tracker has
//! confirmed the person. Both lists are walked in time order and each raised
//! moment takes the earliest unmatched label whose window holds it, which
//! is the largest matching when every window has the same length. Raised
//! moments left over may match an optional label instead; those count for
//! nothing either way.

use std::time::Duration;

use serde::Serialize;

/// How long before its label a raised moment may come.
pub const EARLY: Duration = Duration::from_millis(500);
/// How long after its label a raised moment may come.
pub const LATE: Duration = Duration::from_millis(1500);

/// A rule's score on one recording.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Score {
    pub labelled: usize,
    pub raised: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub misses: usize,
    /// Raised moments that matched an optional label.
    pub optional_matched: usize,
    /// Seconds from each matched label to its event, in label order.
    pub delays_secs: Vec<f64>,
    /// Labelled moments (seconds) nothing matched.
    pub missed_at_secs: Vec<f64>,
    /// Raised moments (seconds) that matched no label.
    pub false_at_secs: Vec<f64>,
}

impl Score {
    /// True positives over raised moments that count (1 when none were raised).
    pub fn precision(&self) -> f64 {
        let counted = self.true_positives + self.false_positives;
        if counted == 0 {
            1.0
        } else {
            self.true_positives as f64 / counted as f64
        }
    }

    /// True positives over labelled moments (1 when none were labelled).
    pub fn recall(&self) -> f64 {
        if self.labelled == 0 {
            1.0
        } else {
            self.true_positives as f64 / self.labelled as f64
        }
    }

    /// The median delay in seconds, if anything matched.
    pub fn median_delay(&self) -> Option<f64> {
        let mut d = self.delays_secs.clone();
        if d.is_empty() {
            return None;
        }
        d.sort_by(f64::total_cmp);
        Some(d[d.len() / 2])
    }
}

/// Scores `raised` (seconds) against the `required` and `optional` labels (seconds).
pub fn score(required: &[f64], optional: &[f64], raised: &[f64]) -> Score {
    let mut raised: Vec<f64> = raised.to_vec();
    raised.sort_by(f64::total_cmp);
    let (matched, leftover) = match_times(required, &raised);
    let (optional_hits, false_at) = match_times(optional, &leftover);
    let mut delays = Vec::new();
    let mut missed = Vec::new();
    for (label, hit) in required.iter().zip(&matched) {
        match hit {
            Some(at) => delays.push(at - label),
            None => missed.push(*label),
        }
    }
    Score {
        labelled: required.len(),
        raised: raised.len(),
        true_positives: delays.len(),
        false_positives: false_at.len(),
        misses: missed.len(),
        optional_matched: optional_hits.iter().flatten().count(),
        delays_secs: delays,
        missed_at_secs: missed,
        false_at_secs: false_at,
    }
}

/// For each label, the raised moment matched to it; and the raised moments left.
fn match_times(labels: &[f64], raised: &[f64]) -> (Vec<Option<f64>>, Vec<f64>) {
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_by(|&a, &b| labels[a].total_cmp(&labels[b]));
    let mut matched = vec![None; labels.len()];
    let mut leftover = Vec::new();
    let (early, late) = (EARLY.as_secs_f64(), LATE.as_secs_f64());
    for &at in raised {
        // the earliest unmatched label whose window holds `at`
        let hit = order
            .iter()
            .copied()
            .find(|&i| matched[i].is_none() && labels[i] - early <= at && at <= labels[i] + late);
        match hit {
            Some(i) => matched[i] = Some(at),
            None => leftover.push(at),
        }
    }
    (matched, leftover)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_label_takes_at_most_one_moment_in_its_window() {
        // two labels 0.3 s apart, three raised moments: one early, one late, one far off
        let s = score(&[10.0, 10.3], &[], &[9.8, 11.0, 20.0]);
        assert_eq!((s.true_positives, s.false_positives, s.misses), (2, 1, 0));
        assert_eq!(s.false_at_secs, vec![20.0]);
        let s = score(&[10.0], &[], &[9.0, 12.0]);
        assert_eq!((s.true_positives, s.false_positives, s.misses), (0, 2, 1));
        assert_eq!(s.precision(), 0.0);
        assert_eq!(s.recall(), 0.0);
    }

    #[test]
    fn a_second_moment_for_one_label_is_a_false_positive() {
        let s = score(&[5.0], &[], &[5.1, 5.2]);
        assert_eq!((s.true_positives, s.false_positives), (1, 1));
        assert!((s.precision() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn optional_labels_count_neither_way() {
        let s = score(&[1.0], &[30.0], &[1.2, 30.4]);
        assert_eq!(
            (s.true_positives, s.false_positives, s.misses, s.optional_matched),
            (1, 0, 0, 1)
        );
        let s = score(&[1.0], &[30.0], &[1.2]);
        assert_eq!((s.true_positives, s.false_positives, s.misses), (1, 0, 0));
    }

    #[test]
    fn delays_are_measured_from_the_label() {
        let s = score(&[2.0, 4.0], &[], &[2.5, 4.1]);
        assert_eq!(s.delays_secs.len(), 2);
        assert!((s.delays_secs[0] - 0.5).abs() < 1e-9);
        assert_eq!(s.median_delay().map(|d| (d * 10.0).round()), Some(5.0));
    }
}
