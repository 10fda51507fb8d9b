//! Tracking: links each frame's detections to the objects seen before, so a
//! rule can tell "the same person is still in the zone" from "someone new".
//!
//! This is a greedy IoU tracker: same label, best overlap first. A track is
//! confirmed after `min_hits` sightings and forgotten after `max_age_secs`
//! unseen. Track ids are per camera, ephemeral and never an identity: they are
//! numbers that restart with the process and never leave the box.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::Ctx;
use crate::infer::{BBox, Detection, LabelId};

/// `[cameras.track]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    /// Least overlap (IoU) for a detection to continue a track, e.g. 0.3.
    #[serde(default = "default_iou")]
    pub iou: Spanned<f32>,
    /// Sightings before a track counts, e.g. 2 (filters one-frame flickers).
    #[serde(default = "default_min_hits")]
    pub min_hits: Spanned<u32>,
    /// Seconds a track survives unseen (occlusion), e.g. 1.5.
    #[serde(default = "default_max_age")]
    pub max_age_secs: Spanned<f64>,
}

fn default_iou() -> Spanned<f32> {
    Spanned::new(0..0, 0.3)
}
fn default_min_hits() -> Spanned<u32> {
    Spanned::new(0..0, 2)
}
fn default_max_age() -> Spanned<f64> {
    Spanned::new(0..0, 1.5)
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            iou: default_iou(),
            min_hits: default_min_hits(),
            max_age_secs: default_max_age(),
        }
    }
}

/// Checked tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPlan {
    pub iou: f32,
    pub min_hits: u32,
    pub max_age: Duration,
}

impl Default for TrackPlan {
    fn default() -> Self {
        let c = TrackConfig::default();
        Self {
            iou: *c.iou.get_ref(),
            min_hits: *c.min_hits.get_ref(),
            max_age: Duration::from_secs_f64(*c.max_age_secs.get_ref()),
        }
    }
}

pub fn check(config: &TrackConfig, ctx: &mut Ctx<'_>) -> Option<TrackPlan> {
    let iou = ctx.in_range(&config.iou, 0.01..=1.0, "track.iou");
    let min_hits = ctx.in_range(&config.min_hits, 1..=100, "track.min_hits");
    let max_age = ctx.in_range(&config.max_age_secs, 0.0..=600.0, "track.max_age_secs");
    Some(TrackPlan {
        iou: iou?,
        min_hits: min_hits?,
        max_age: Duration::from_secs_f64(max_age?),
    })
}

/// An object followed over frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    pub id: u64,
    pub label: LabelId,
    pub score: f32,
    pub bbox: BBox,
    pub hits: u32,
    pub first_seen: Duration,
    pub last_seen: Duration,
    /// How far the box centre moved at the last sighting, in frame widths/heights.
    pub moved: f32,
}

impl Track {
    pub fn confirmed(&self, plan: &TrackPlan) -> bool {
        self.hits >= plan.min_hits
    }
}

#[derive(Debug)]
pub struct Tracker {
    plan: TrackPlan,
    next_id: u64,
    tracks: Vec<Track>,
    /// Reused per frame: candidate (iou, track, detection) pairs.
    pairs: Vec<(f32, usize, usize)>,
    det_used: Vec<bool>,
    track_used: Vec<bool>,
    /// Reused per frame: the confirmed tracks seen in the last update.
    current: Vec<Track>,
}

impl Tracker {
    pub fn new(plan: TrackPlan) -> Self {
        Self {
            plan,
            next_id: 1,
            tracks: Vec::new(),
            pairs: Vec::new(),
            det_used: Vec::new(),
            track_used: Vec::new(),
            current: Vec::new(),
        }
    }

    /// Feeds one frame's detections; returns the confirmed tracks seen in it.
    pub fn update(&mut self, detections: &[Detection], now: Duration) -> &[Track] {
        self.pairs.clear();
        for (ti, track) in self.tracks.iter().enumerate() {
            for (di, det) in detections.iter().enumerate() {
                if det.label != track.label {
                    continue;
                }
                let iou = track.bbox.iou(&det.bbox);
                if iou >= self.plan.iou {
                    self.pairs.push((iou, ti, di));
                }
            }
        }
        self.pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        self.det_used.clear();
        self.det_used.resize(detections.len(), false);
        self.track_used.clear();
        self.track_used.resize(self.tracks.len(), false);
        for &(_, ti, di) in &self.pairs {
            if self.track_used[ti] || self.det_used[di] {
                continue;
            }
            self.track_used[ti] = true;
            self.det_used[di] = true;
            let track = &mut self.tracks[ti];
            let det = &detections[di];
            let centre = |b: &BBox| ((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5);
            let (old, new) = (centre(&track.bbox), centre(&det.bbox));
            track.moved = ((new.0 - old.0).powi(2) + (new.1 - old.1).powi(2)).sqrt();
            track.bbox = det.bbox;
            track.score = det.score;
            track.hits += 1;
            track.last_seen = now;
        }
        for (di, det) in detections.iter().enumerate() {
            if !self.det_used[di] {
                self.tracks.push(Track {
                    id: self.next_id,
                    label: det.label,
                    score: det.score,
                    bbox: det.bbox,
                    hits: 1,
                    first_seen: now,
                    last_seen: now,
                    moved: 0.0,
                });
                self.next_id += 1;
            }
        }
        let max_age = self.plan.max_age;
        self.tracks.retain(|t| now.saturating_sub(t.last_seen) <= max_age);
        self.current.clear();
        let plan = self.plan;
        self.current.extend(
            self.tracks
                .iter()
                .filter(|t| t.last_seen == now && t.confirmed(&plan))
                .copied(),
        );
        &self.current
    }

    /// Live tracks, confirmed or not.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// The confirmed tracks of the last update, unchanged (for frames the
    /// motion gate skipped: nothing moved, so they are still where they were).
    pub fn current(&self) -> &[Track] {
        &self.current
    }

    /// Whether a confirmed track moved more than `min_step` (a fraction of
    /// the frame) at its last sighting: someone is walking, keep looking.
    pub fn any_moving(&self, min_step: f32) -> bool {
        self.current.iter().any(|t| t.moved > min_step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(label: u32, x: f32) -> Detection {
        Detection {
            label,
            score: 0.9,
            bbox: BBox {
                x1: x,
                y1: 0.2,
                x2: x + 0.1,
                y2: 0.5,
            },
        }
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_moving_object_keeps_its_id_and_is_confirmed_on_the_second_hit() {
        let mut t = Tracker::new(TrackPlan::default());
        assert!(t.update(&[det(1, 0.10)], at(0)).is_empty());
        let seen = t.update(&[det(1, 0.12)], at(200)).to_vec();
        assert_eq!(seen.len(), 1);
        let id = seen[0].id;
        let seen = t.update(&[det(1, 0.14)], at(400)).to_vec();
        assert_eq!(seen[0].id, id);
        assert_eq!(seen[0].hits, 3);
    }

    #[test]
    fn different_labels_never_share_a_track() {
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[det(1, 0.1)], at(0));
        t.update(&[det(3, 0.1)], at(200));
        let ids: Vec<u64> = t.tracks().iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 2]);
    }

    #[test]
    fn a_track_survives_a_short_gap_and_is_dropped_after_max_age() {
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[det(1, 0.1)], at(0));
        t.update(&[det(1, 0.1)], at(200));
        assert!(t.update(&[], at(1000)).is_empty());
        assert_eq!(t.update(&[det(1, 0.1)], at(1200))[0].id, 1);
        t.update(&[], at(3000));
        assert!(t.tracks().is_empty());
    }
}
