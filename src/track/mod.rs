//! Tracking: links each frame's detections to the objects seen before, so a
//! rule can tell "the same person is still in the zone" from "someone new".
//!
//! The tracker follows ByteTrack: detections scoring at least `high_score`
//! are matched first to every live track, at its predicted position (constant
//! velocity) or where it was last seen, whichever overlaps more; the weaker ones (down to `low_score`) are then offered only to
//! the tracks still unmatched, which keeps a partly hidden person on their
//! track instead of letting a weak box start a new one. Births and deaths
//! have hysteresis: a track is confirmed after `min_hits` consecutive
//! matches, and a confirmed track that goes unseen is kept "lost" for
//! `max_lost_secs` before it is forgotten. A track whose centre stays within
//! `stationary_move` of one point for `stationary_secs` is `stationary`, and
//! one that goes unseen is kept for `stationary_lost_secs` instead: a parked
//! car hidden by a passing van is still parked.
//!
//! Boxes alone cannot tell apart two people who pass each other: the
//! detector's boxes often stay where they are while the people swap places
//! under them. With `appearance` on, the confirmed tracks' matches are then
//! checked against what the boxes look like (see [`appearance`]): two tracks
//! swap boxes, a track left without a box takes one, and a track moves to
//! the box beside its own, when the new pairs look more alike by
//! `appearance_margin`, each box within a box width of its new track (more
//! at a lower frame rate: a box width per tenth of a second between frames).
//!
//! Two people passing at different depths meet in one box, the one behind
//! hidden for a few frames; the box the detector still gives is the one in
//! front, and the track of the one behind, seen a frame ago, may take it by
//! overlap. A box whose bottom is a row away from where that track expected
//! the feet, and in the row where a lost track expected them, goes back to
//! the lost track (see [`Tracker::rows`]). With no such lost track, a track
//! whose box was a merge of the two lets go of the box when it parts to
//! the one in the other row: its own person is the one hidden, and walks on.
//!
//! A tentative track that dies after a sighting or two on its own (someone
//! seen once before walking behind something, as at 5 fps) is remembered
//! for a second: a track born where a lost track would have reached by then
//! begins its path (`first_bbox`) where that one was first seen, so a rule
//! that follows paths sees where the person came from.
//!
//! A frame that shows another place (a camera turned or knocked, a
//! recording's next shot; see [`cut`]) ends every track: no one followed
//! before it is in the new picture.
//!
//! Track ids are per camera, ephemeral and never an identity: they are
//! numbers that restart with the process and never leave the box.

use std::time::Duration;

use crate::vocab::{BBox, Detection, LabelId};

mod appearance;
mod config;
mod cut;
pub use appearance::Pixels;
use appearance::{Background, Look};
pub use config::{TrackConfig, TrackPlan, check};
pub use cut::CutWatch;

/// An object followed over frames.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Track {
    pub id: u64,
    pub label: LabelId,
    /// Score of the last matched detection.
    pub score: f32,
    /// The last matched detection's box (not a prediction).
    pub bbox: BBox,
    /// Consecutive matches while tentative; all matches once confirmed.
    pub hits: u32,
    pub first_seen: Duration,
    /// The box of the first sighting, where the object's path began (rules
    /// that follow paths start there, not at the confirming sighting).
    pub first_bbox: BBox,
    pub last_seen: Duration,
    /// How far the box centre moved at the last sighting, in frame widths/heights.
    pub moved: f32,
    /// Unseen at the last update (hidden, or out of the detector's sight) but
    /// still kept; its box is where it was last seen.
    pub lost: bool,
    /// Where the tracker expects the object now: while it is lost, the last
    /// box moved on at the track's velocity (for at most one second); while
    /// it is seen, the last box, grown back past the picture's edge when the
    /// edge cuts it (to the size its uncut boxes had: someone walking out of
    /// the picture). Rules that follow paths use it to see an object walk on
    /// behind something (a lamp post, a sign, another person) or out of sight.
    pub predicted: BBox,
    /// The centre stayed within `stationary_move` for `stationary_secs`.
    pub stationary: bool,
    /// The width and height its boxes usually have where the picture's
    /// edges do not cut them (a running average; 0 until such a box was
    /// seen). A box much shorter than that may have lost the person's head
    /// to the detector or to something in front: redaction covers where the
    /// head would be.
    pub size: (f32, f32),
}

impl Track {
    pub fn confirmed(&self, plan: &TrackPlan) -> bool {
        self.hits >= plan.min_hits
    }
}

/// A track and the tracker's private state for it.
#[derive(Debug, Clone, Copy)]
struct Entry {
    track: Track,
    confirmed: bool,
    /// Centre velocity, frame fractions per second.
    vx: f32,
    vy: f32,
    /// Where the object has been standing since `still_since`.
    still_at: (f32, f32),
    still_since: Duration,
    /// This frame's predicted box.
    predicted: BBox,
    /// The box around `predicted` and the last box: a detection outside it
    /// cannot overlap enough to match (a cheap test before two IoUs).
    reach: BBox,
    /// How far, in box widths, a detection's centre may be from `predicted`
    /// and still match by nearness: [`NEAR`], growing while the object is
    /// unseen (see [`NEAR_GROWTH`]).
    near: f32,
    /// What the object looks like, from its sightings clear of other boxes
    /// (see [`appearance`]); invalid until one was read.
    look: Look,
    /// The last sighting's box, grown back past the picture's edge to
    /// the track's `size` where the edge cuts it (see [`whole`]): motion is measured
    /// and predicted from it.
    whole: BBox,
    /// The bottom of its last box that was not a merge (at most [`MERGED`]
    /// times its usual height): the row its own feet were last seen in.
    row: f32,
}

fn centre(b: &BBox) -> (f32, f32) {
    ((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5)
}

/// Weight of a new velocity measurement against the running estimate.
const VELOCITY_GAIN: f32 = 0.5;
/// Predictions look no further ahead than this: an object hidden for long has
/// probably changed course, and a wild guess would match the wrong box.
const MAX_PREDICTION: Duration = Duration::from_secs(1);

/// Which tracks an association stage offers detections to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Strong detections, confirmed tracks (seen or lost); overlap or nearness.
    Confirmed,
    /// Weak detections, confirmed tracks; overlap only.
    Weak,
    /// Strong detections, tentative tracks; overlap or nearness.
    Tentative,
}

#[derive(Debug)]
pub struct Tracker {
    plan: TrackPlan,
    next_id: u64,
    entries: Vec<Entry>,
    /// Reused per frame: candidate (iou, entry, detection) pairs.
    pairs: Vec<(f32, usize, usize)>,
    det_used: Vec<bool>,
    entry_used: Vec<bool>,
    /// Reused per frame: the confirmed tracks alive after the last update.
    current: Vec<Track>,
    /// Reused per frame: each detection's look (invalid without pixels),
    /// whether it stands clear of the other boxes, and a stage's matches
    /// (entry, detection) before they are folded in.
    looks: Vec<Look>,
    clear: Vec<bool>,
    matches: Vec<(usize, usize)>,
    /// The slow average of the frames looks are measured against.
    background: Background,
    /// Labels whose detections count as strong below `high_score`: those the
    /// operator gave a lower `label_confidence` (a rare or hard label such
    /// as motorcycle), so the tracker can start a track on what the model's
    /// filter was told to keep.
    label_high: Vec<(LabelId, f32)>,
    /// When the previous frame was fed, and how far (in box widths) a box
    /// may be from a track for its look to move it there this frame
    /// ([`NEAR`] scaled by the time between frames, see [`reachable`]).
    last_now: Option<Duration>,
    reach: f32,
    /// Tentative tracks that died lately: a person seen once before being
    /// hidden, whose path a track born a little further on continues.
    gone: Vec<Gone>,
    /// Tells a frame that shows another place.
    cuts: CutWatch,
}

/// A tentative track that died unconfirmed.
#[derive(Debug, Clone, Copy)]
struct Gone {
    label: LabelId,
    first_bbox: BBox,
    first_seen: Duration,
    bbox: BBox,
    last_seen: Duration,
}

impl Tracker {
    pub fn new(plan: TrackPlan) -> Self {
        Self {
            plan,
            next_id: 1,
            entries: Vec::new(),
            pairs: Vec::new(),
            det_used: Vec::new(),
            entry_used: Vec::new(),
            current: Vec::new(),
            looks: Vec::new(),
            clear: Vec::new(),
            matches: Vec::new(),
            background: Background::default(),
            label_high: Vec::new(),
            last_now: None,
            reach: NEAR,
            gone: Vec::new(),
            cuts: CutWatch::default(),
        }
    }

    /// Lets detections of a label start and keep tracks from its own score
    /// threshold when that is below `high_score` (from the model's
    /// `label_confidence`; higher ones change nothing).
    pub fn with_label_thresholds(mut self, thresholds: &[(LabelId, f32)]) -> Self {
        let high = self.plan.high_score;
        self.label_high = thresholds.iter().copied().filter(|(_, t)| *t < high).collect();
        self
    }

    pub fn plan(&self) -> &TrackPlan {
        &self.plan
    }

    /// Feeds one frame's detections; returns the confirmed tracks alive after
    /// it — those seen in this frame and the lost ones (`lost` set) still kept.
    pub fn update(&mut self, detections: &[Detection], now: Duration) -> &[Track] {
        self.update_seeing(detections, None, now)
    }

    /// [`Self::update`], with the frame the detections were found on: with
    /// `track.appearance` on, what the boxes look like helps tell apart
    /// people whose boxes meet (see [`Self::rematch`]).
    pub fn update_seeing(&mut self, detections: &[Detection], pixels: Option<&Pixels<'_>>, now: Duration) -> &[Track] {
        let interval = self
            .last_now
            .map_or(NEAR_AFTER, |t| now.saturating_sub(t))
            .clamp(NEAR_AFTER, MAX_INTERVAL);
        self.last_now = Some(now);
        let scale = interval.as_secs_f32() / NEAR_AFTER.as_secs_f32();
        self.reach = NEAR * scale;
        if pixels.is_some_and(|px| self.cuts.cut(px)) {
            tracing::debug!(
                tracks = self.entries.len(),
                "the picture shows another place: every track ends"
            );
            self.entries.clear();
            self.gone.clear();
            self.background = Background::default();
        }
        self.looks.clear();
        self.looks.resize(detections.len(), Look::default());
        self.clear.clear();
        self.clear.resize(detections.len(), false);
        if let Some(px) = pixels.filter(|_| self.plan.appearance) {
            for (di, d) in detections.iter().enumerate() {
                self.clear[di] = detections
                    .iter()
                    .enumerate()
                    .all(|(oi, o)| oi == di || covered(&o.bbox, &d.bbox) < CLEAR_COVER);
                self.looks[di].measure(px, &self.background, &d.bbox);
            }
            self.background.update(px);
        }
        for e in &mut self.entries {
            let unseen = now.saturating_sub(e.track.last_seen);
            e.near = NEAR + NEAR_GROWTH * unseen.saturating_sub(NEAR_AFTER).as_secs_f32();
            let dt = unseen.min(MAX_PREDICTION).as_secs_f32();
            let b = e.whole;
            let (dx, dy) = (e.vx * dt, e.vy * dt);
            e.predicted = BBox {
                x1: b.x1 + dx,
                y1: b.y1 + dy,
                x2: b.x2 + dx,
                y2: b.y2 + dy,
            };
            e.reach = BBox {
                x1: b.x1.min(e.predicted.x1),
                y1: b.y1.min(e.predicted.y1),
                x2: b.x2.max(e.predicted.x2),
                y2: b.y2.max(e.predicted.y2),
            };
        }
        self.det_used.clear();
        self.det_used.resize(detections.len(), false);
        self.entry_used.clear();
        self.entry_used.resize(self.entries.len(), false);
        let plan = self.plan;
        let label_high = std::mem::take(&mut self.label_high);
        let strong = |d: &Detection| {
            let high = label_high
                .iter()
                .find(|(label, _)| *label == d.label)
                .map_or(plan.high_score, |(_, t)| *t);
            d.score >= high
        };
        // Stage 1: strong detections against the confirmed tracks, seen or
        // lost: an object the tracker already follows keeps its track before
        // a newcomer may claim the box (a detector often gives one person a
        // second, shifted box for a frame, which would otherwise start a
        // track that takes the person over).
        self.associate(detections, now, strong, plan.iou, Stage::Confirmed);
        // Stage 2: weak detections against the confirmed tracks left over (a
        // weak box must not keep a one-frame flicker alive).
        self.associate(
            detections,
            now,
            |d| !strong(d) && d.score >= plan.low_score,
            plan.low_iou,
            Stage::Weak,
        );
        // Stage 3: the strong detections left against the tentative tracks.
        self.associate(detections, now, strong, plan.iou, Stage::Tentative);
        // Unmatched tracks: a tentative one dies at once (birth hysteresis),
        // a confirmed one is lost until max_lost (death hysteresis), or
        // stationary_lost if it was standing still when last seen.
        // Tentative tracks about to die are remembered for a second, when
        // they were seen on their own (a second box beside a tracked person
        // is the detector's, not someone about to be hidden).
        self.gone.retain(|g| now.saturating_sub(g.last_seen) <= STITCH);
        for (e, &used) in self.entries.iter().zip(&self.entry_used) {
            if used || e.confirmed {
                continue;
            }
            let alone = !self
                .entries
                .iter()
                .any(|o| o.confirmed && reachable(o, &e.track.bbox, NEAR));
            if alone {
                self.gone.push(Gone {
                    label: e.track.label,
                    first_bbox: e.track.first_bbox,
                    first_seen: e.track.first_seen,
                    bbox: e.track.bbox,
                    last_seen: e.track.last_seen,
                });
            }
        }
        let mut i = 0;
        self.entries.retain(|e| {
            let matched = self.entry_used[i];
            i += 1;
            let keep = if e.track.stationary {
                plan.stationary_lost_secs.max(plan.max_lost_secs)
            } else {
                plan.max_lost_secs
            };
            matched || (e.confirmed && now.saturating_sub(e.track.last_seen) <= keep)
        });
        for e in &mut self.entries {
            e.track.lost = e.track.last_seen != now;
            e.track.predicted = if e.track.lost { e.predicted } else { e.whole };
        }
        // Births: strong detections nobody claimed, unless one is mostly a
        // box a track claimed in this frame (the detector's second box for
        // the same object, which would start a twin track that can take the
        // object over).
        for (di, det) in detections.iter().enumerate() {
            if self.det_used[di] || !strong(det) {
                continue;
            }
            let twin = detections
                .iter()
                .zip(&self.det_used)
                .any(|(d, &used)| used && d.label == det.label && covered(&d.bbox, &det.bbox) >= TWIN_COVER);
            if twin {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            // A box where a tentative track died lately, within the reach
            // a lost track would have had, continues its path (a person seen
            // once before being hidden: at 5 fps one sighting is 0.2 s).
            let mut origin = (det.bbox, now);
            let mut best: Option<(f32, usize)> = None;
            for (gi, g) in self.gone.iter().enumerate() {
                let off = stitch_off(g, &det.bbox, now);
                if g.label == det.label && off.is_some_and(|o| best.is_none_or(|(b, _)| o < b)) {
                    best = off.map(|o| (o, gi));
                }
            }
            if let Some((_, gi)) = best {
                let g = self.gone.swap_remove(gi);
                tracing::trace!(target: "watchpost::track", id, "stitch");
                origin = (g.first_bbox, g.first_seen);
            }
            self.entries.push(Entry {
                track: Track {
                    id,
                    label: det.label,
                    score: det.score,
                    bbox: det.bbox,
                    hits: 1,
                    first_seen: origin.1,
                    first_bbox: origin.0,
                    last_seen: now,
                    moved: 0.0,
                    lost: false,
                    predicted: det.bbox,
                    stationary: false,
                    size: uncut_size(&det.bbox, (0.0, 0.0)),
                },
                confirmed: plan.min_hits <= 1,
                vx: 0.0,
                vy: 0.0,
                still_at: centre(&det.bbox),
                still_since: now,
                predicted: det.bbox,
                reach: det.bbox,
                near: NEAR,
                look: if self.clear[di] {
                    self.looks[di]
                } else {
                    Look::default()
                },
                whole: det.bbox,
                row: det.bbox.y2,
            });
        }
        self.label_high = label_high;
        self.current.clear();
        self.current
            .extend(self.entries.iter().filter(|e| e.confirmed).map(|e| e.track));
        if tracing::enabled!(target: "watchpost::track", tracing::Level::TRACE) {
            self.trace(detections, now);
        }
        &self.current
    }

    /// Greedy best-overlap-first matching of the detections `wanted` picks
    /// to the entries not matched yet, by label and predicted box.
    fn associate(
        &mut self,
        detections: &[Detection],
        now: Duration,
        wanted: impl Fn(&Detection) -> bool,
        min_iou: f32,
        stage: Stage,
    ) {
        self.pairs.clear();
        for (ei, e) in self.entries.iter().enumerate() {
            if self.entry_used[ei] || e.confirmed != (stage != Stage::Tentative) {
                continue;
            }
            for (di, det) in detections.iter().enumerate() {
                if self.det_used[di] || det.label != e.track.label || !wanted(det) {
                    continue;
                }
                if let Some(fit) = fit(e, &det.bbox, min_iou, stage != Stage::Weak) {
                    self.pairs.push((fit, ei, di));
                }
            }
        }
        self.pairs.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        self.matches.clear();
        for pi in 0..self.pairs.len() {
            let (_, ei, di) = self.pairs[pi];
            if self.entry_used[ei] || self.det_used[di] {
                continue;
            }
            self.entry_used[ei] = true;
            self.det_used[di] = true;
            self.matches.push((ei, di));
        }
        if stage == Stage::Confirmed {
            if self.plan.appearance {
                self.rematch(detections);
            }
            self.rows(detections, now);
        }
        let plan = self.plan;
        for &(ei, di) in &self.matches {
            let look = self.clear[di].then_some(&self.looks[di]);
            observe(&mut self.entries[ei], &detections[di], look, now, &plan);
        }
    }

    /// Corrects the boxes' matching by what they look like, where the boxes
    /// alone cannot tell: two people who walk past each other give the
    /// detector boxes that stay where they are while the people swap places
    /// under them, and each track would follow the other person back. Two
    /// matched tracks swap their boxes; a track left without a box takes one
    /// from a track it looks less like (which then takes the best fitting box
    /// left over); a track whose box looks less like it than a box nobody
    /// took moves there (its old box going to the best fitting track left
    /// over). Each time every box is within reach of its new track (a box
    /// width across its last or expected place, half a height up or down)
    /// and the new pairs look alike by `appearance_margin` more than the old.
    fn rematch(&mut self, detections: &[Detection]) {
        let margin = self.plan.appearance_margin;
        let reach = self.reach;
        let within = |e: &Entry, di: usize| reachable(e, &detections[di].bbox, reach);
        for m in 0..self.matches.len() {
            for n in m + 1..self.matches.len() {
                let ((ea, da), (eb, db)) = (self.matches[m], self.matches[n]);
                let (a, b) = (&self.entries[ea], &self.entries[eb]);
                if !self.looks[da].valid || !self.looks[db].valid || !within(a, db) || !within(b, da) {
                    continue;
                }
                // A track with no look yet (it never stood clear of others)
                // leaves the judging to the other.
                let judges = a.look.valid as u32 + b.look.valid as u32;
                if judges == 0 {
                    continue;
                }
                let kept = a.look.similarity(&self.looks[da]) + b.look.similarity(&self.looks[db]);
                let swapped = a.look.similarity(&self.looks[db]) + b.look.similarity(&self.looks[da]);
                if swapped > kept + judges as f32 * margin {
                    tracing::trace!(target: "watchpost::track", a = a.track.id, b = b.track.id, kept, swapped, "swap");
                    self.matches[m].1 = db;
                    self.matches[n].1 = da;
                }
            }
        }
        // A confirmed track this stage left without a box (hidden while the
        // two passed) may take the box of a track it looks more like.
        for ea in 0..self.entries.len() {
            let a = &self.entries[ea];
            if self.entry_used[ea] || !a.confirmed || !a.look.valid {
                continue;
            }
            let mut best: Option<(f32, usize)> = None;
            for (m, &(eb, db)) in self.matches.iter().enumerate() {
                let b = &self.entries[eb];
                if b.track.label != a.track.label || !b.look.valid || !self.looks[db].valid || !within(a, db) {
                    continue;
                }
                let gain = a.look.similarity(&self.looks[db]) - b.look.similarity(&self.looks[db]);
                if gain > margin && best.is_none_or(|(g, _)| gain > g) {
                    best = Some((gain, m));
                }
            }
            if let Some((gain, m)) = best {
                let eb = self.matches[m].0;
                tracing::trace!(target: "watchpost::track", a = a.track.id, b = self.entries[eb].track.id, gain, "take");
                self.entry_used[eb] = false;
                self.entry_used[ea] = true;
                self.matches[m].0 = ea;
                self.refill(eb, detections);
            }
        }
        // A track whose box holds someone else, the person it follows
        // being the box beside it that nobody took, moves to that box; its
        // old box goes to the track left without one that fits it best.
        for m in 0..self.matches.len() {
            let (ea, da) = self.matches[m];
            let a = &self.entries[ea];
            if !a.look.valid || !self.looks[da].valid {
                continue;
            }
            let here = a.look.similarity(&self.looks[da]);
            let mut best: Option<(f32, usize)> = None;
            for (di, det) in detections.iter().enumerate() {
                if self.det_used[di]
                    || det.label != a.track.label
                    || det.score < self.plan.high_score
                    || !self.looks[di].valid
                    || !within(a, di)
                {
                    continue;
                }
                let gain = a.look.similarity(&self.looks[di]) - here;
                if gain > margin && best.is_none_or(|(g, _)| gain > g) {
                    best = Some((gain, di));
                }
            }
            let Some((gain, di)) = best else {
                continue;
            };
            tracing::trace!(target: "watchpost::track", a = a.track.id, gain, "leave");
            self.matches[m].1 = di;
            self.det_used[di] = true;
            self.det_used[da] = false;
            let heir = best_fit(self.entries.iter().enumerate().filter_map(|(eb, b)| {
                let free = !self.entry_used[eb] && b.confirmed && b.track.label == detections[da].label;
                free.then(|| fit(b, &detections[da].bbox, self.plan.iou, true))?
                    .map(|f| (f, eb))
            }));
            if let Some(eb) = heir {
                self.entry_used[eb] = true;
                self.det_used[da] = true;
                self.matches.push((eb, da));
            }
        }
    }

    /// Gives a box back to the lost track whose row it is in, where a
    /// track seen in the last frame took it by overlap although its feet
    /// jump rows to take it: two people passing at different depths (one
    /// further up the picture than the other) whose boxes meet, the one
    /// behind hidden for a few frames. The box the detector still gives is
    /// the one in front, and it overlaps the hidden one's last box more
    /// than the lost track's expected box; the seen track would follow the
    /// other person on, and the lost one would never be found again. The
    /// box goes to a lost track of its label when its bottom is more than
    /// [`ROW_JUMP`] box heights from where the seen track expected its
    /// feet, within [`ROW_FIT`] of where the lost track expected them (and
    /// under half as far as from the seen track's), within a box width
    /// across of the lost one's expected box, of a like height, and, where
    /// the looks can tell, not looking less like the lost track than the
    /// seen one. The seen track is then unmatched: lost, like the person
    /// now hidden behind the other.
    ///
    /// With no lost track there (the other person's track was lost
    /// elsewhere, or never begun), a track whose last box was a merge of
    /// the two and whose box now parts to the one in the other row, away
    /// from its own, lets the box go (see [`parted`]): it is lost and walks
    /// on where it was going, and the box is free for a lost track or a
    /// new one.
    fn rows(&mut self, detections: &[Detection], now: Duration) {
        // Seen in the last frame: a frame interval ago (half as long again
        // for an uneven clock).
        let last_frame = NEAR_AFTER.mul_f32(1.5 * self.reach / NEAR);
        for m in 0..self.matches.len() {
            let (ea, di) = self.matches[m];
            let a = &self.entries[ea];
            let d = &detections[di].bbox;
            if now.saturating_sub(a.track.last_seen) > last_frame {
                continue;
            }
            let jump = feet_off(&a.predicted, d);
            if jump <= ROW_JUMP {
                continue;
            }
            let look = self.looks[di].valid.then_some(&self.looks[di]);
            let likeness = |e: &Entry| look.filter(|_| e.look.valid).map(|l| e.look.similarity(l));
            let mut best: Option<(f32, usize)> = None;
            for (eb, b) in self.entries.iter().enumerate() {
                if self.entry_used[eb] || !b.confirmed || !b.track.lost || b.track.label != a.track.label {
                    continue;
                }
                let Some((across, _)) = beside(&b.predicted, d) else {
                    continue;
                };
                let off = feet_off(&b.predicted, d);
                let looks_less = matches!((likeness(b), likeness(a)), (Some(sb), Some(sa)) if sb < sa);
                if across <= NEAR
                    && off <= ROW_FIT
                    && off < 0.5 * jump
                    && !looks_less
                    && best.is_none_or(|(o, _)| off < o)
                {
                    best = Some((off, eb));
                }
            }
            if let Some((off, eb)) = best {
                tracing::trace!(target: "watchpost::track", a = a.track.id, b = self.entries[eb].track.id, jump, off, "row");
                self.entry_used[ea] = false;
                self.entry_used[eb] = true;
                self.matches[m].0 = eb;
            } else if parted(a, d) {
                tracing::trace!(target: "watchpost::track", a = a.track.id, jump, "parted");
                self.entry_used[ea] = false;
                self.det_used[di] = false;
                self.matches[m].0 = usize::MAX;
            }
        }
        self.matches.retain(|&(ea, _)| ea != usize::MAX);
    }

    /// Offers a track that gave its box to a track it looked less like the
    /// best fitting strong box nobody has taken (the person it lost the box
    /// to had been hidden in its box: it is the other box of the two).
    fn refill(&mut self, ei: usize, detections: &[Detection]) {
        let e = &self.entries[ei];
        let best = best_fit(detections.iter().enumerate().filter_map(|(di, det)| {
            let free = !self.det_used[di] && det.label == e.track.label && det.score >= self.plan.high_score;
            free.then(|| fit(e, &det.bbox, self.plan.iou, true))?.map(|f| (f, di))
        }));
        if let Some(di) = best {
            self.entry_used[ei] = true;
            self.det_used[di] = true;
            self.matches.push((ei, di));
        }
    }

    /// Logs one frame's detections and every track (tentative ones too), for
    /// looking at how the tracker followed a recording:
    /// `WATCHPOST_LOG=watchpost::track=trace watchpost replay ...`.
    fn trace(&self, detections: &[Detection], now: Duration) {
        use std::fmt::Write;
        let mut line = String::new();
        for d in detections {
            let b = &d.bbox;
            let _ = write!(
                line,
                " d{}:{:.2}@{:.3},{:.3},{:.3},{:.3}",
                d.label, d.score, b.x1, b.y1, b.x2, b.y2
            );
        }
        for e in &self.entries {
            let b = &e.track.bbox;
            let state = match (e.confirmed, e.track.lost) {
                (false, _) => "t",
                (true, false) => "c",
                (true, true) => "l",
            };
            let _ = write!(
                line,
                " {state}{}:{}@{:.3},{:.3},{:.3},{:.3}",
                e.track.id, e.track.label, b.x1, b.y1, b.x2, b.y2
            );
        }
        tracing::trace!(target: "watchpost::track", at = now.as_secs_f64(), "{line}");
    }

    /// Live confirmed tracks, as returned by the last update.
    pub fn tracks(&self) -> &[Track] {
        &self.current
    }

    /// The confirmed tracks of the last update, unchanged (for frames the
    /// motion gate skipped: nothing moved, so they are still where they were).
    pub fn current(&self) -> &[Track] {
        &self.current
    }

    /// Whether a confirmed track in sight moved more than `min_step` (a
    /// fraction of the frame) at its last sighting: someone is walking, keep looking.
    pub fn any_moving(&self, min_step: f32) -> bool {
        self.current.iter().any(|t| !t.lost && t.moved > min_step)
    }
}

/// How much of the smaller of two boxes the other must cover for an
/// unclaimed detection to count as a second box of a tracked object.
const TWIN_COVER: f32 = 0.5;

/// The share of the smaller box that lies inside the other.
fn covered(a: &BBox, b: &BBox) -> f32 {
    let w = (a.x2.min(b.x2) - a.x1.max(b.x1)).max(0.0);
    let h = (a.y2.min(b.y2) - a.y1.max(b.y1)).max(0.0);
    let smaller = a.area().min(b.area());
    if smaller > 0.0 { w * h / smaller } else { 0.0 }
}

/// A detection stands clear of the others, and its look is taken into its
/// track's, when no other box covers this much of the smaller of the two.
const CLEAR_COVER: f32 = 0.2;
/// Weight of a new clear sighting's look against a track's.
const LOOK_GAIN: f32 = 0.2;

/// Whether a box is close enough to where a track was last seen or is
/// expected for the tracker to consider giving it to the track by its look:
/// centres at most `near` box widths apart across and [`NEAR`] half heights
/// up or down, of a like height. `near` is [`NEAR`] at 10 fps and grows with
/// the time between frames: at 5 fps people walk twice as far between two
/// sightings, and two who pass each other are further apart when next seen.
fn reachable(e: &Entry, b: &BBox, near: f32) -> bool {
    [e.track.bbox, e.predicted].iter().any(|p| {
        let (pw, ph) = (p.x2 - p.x1, p.y2 - p.y1);
        let (bw, bh) = (b.x2 - b.x1, b.y2 - b.y1);
        if ph <= 0.0 || bh <= 0.0 || !(2.0 / 3.0..=1.5).contains(&(bh / ph)) {
            return false;
        }
        let ((px, py), (bx, by)) = (centre(p), centre(b));
        (px - bx).abs() / pw.max(bw) <= near && 2.0 * (py - by).abs() / ph.max(bh) <= NEAR
    })
}

/// How far, for its size, a detection's centre may be from a track's
/// predicted centre and still match it without overlapping enough: one box
/// width across, half a box height up or down.
const NEAR: f32 = 1.0;

/// How much further across (box widths per second) a track may reach by
/// nearness for each second it has gone unseen beyond [`NEAR_AFTER`]: a
/// person hidden for a few frames (behind a lamp post, a sign, the person
/// beside them) comes out a stride or two from where their speed, measured
/// over a few sightings, predicted. The extra reach only takes a box ahead
/// of the track's way across the picture and on the same line up and down
/// (see [`fit`]), so it does not hand a lost track to someone coming the
/// other way.
const NEAR_GROWTH: f32 = 2.5;
/// The gap between two sightings at 10 fps: an object seen on every frame
/// at 10 fps or more reaches [`NEAR`] only.
const NEAR_AFTER: Duration = Duration::from_millis(100);
/// How far up or down (in half box heights) a box reached beyond [`NEAR`]
/// may be from the prediction.
const NEAR_ROW: f32 = 0.5;
/// How far (in box heights) a seen track's box may move its bottom from
/// where the track expected its feet before a lost track whose row the box
/// is in may take it (see [`Tracker::rows`]): a walking person's feet move
/// a few hundredths of a height from one frame to the next, someone in
/// another row of the walkway a fifth of a height or more.
const ROW_JUMP: f32 = 0.15;
/// How near (in box heights) a box's bottom must be to a lost track's
/// expected feet for it to take the box back (see [`Tracker::rows`]).
const ROW_FIT: f32 = 0.075;

/// A box this many times a track's usual height holds more than its
/// person: two people in different rows of the walkway, one partly behind
/// the other, in one box from the head of the one behind to the feet of
/// the one in front.
const MERGED: f32 = 1.12;
/// A box under this share of a merged box's height has parted from it.
const PARTED: f32 = 0.8;

/// Whether box `b`, whose bottom is more than [`ROW_JUMP`] from where
/// track `e` expected its feet, is the other person of a merged box
/// parting: `e`'s last box was a merge ([`MERGED`]); `b` is of its usual
/// height (4/5 to 5/4: a whole person, not its own with the legs hidden)
/// and under [`PARTED`] of the merged box's height; its bottom is above
/// the merged box's (the one in front, whose feet were the merged box's
/// bottom, was hidden); and it is more than [`ROW_JUMP`] usual heights
/// from the row `e`'s own feet were in before the merge (so not the one
/// behind's own track getting its own box back).
fn parted(e: &Entry, b: &BBox) -> bool {
    let usual = e.track.size.1;
    let (last, h) = (e.track.bbox.y2 - e.track.bbox.y1, b.y2 - b.y1);
    usual > 0.0
        && last > MERGED * usual
        && h < PARTED * last
        && (0.8..=1.25).contains(&(h / usual))
        && b.y2 < e.predicted.y2
        && (b.y2 - e.row).abs() > ROW_JUMP * usual
}

/// How far (in the taller box's heights) box `b`'s bottom is from `p`'s:
/// how far the feet moved up or down the picture.
fn feet_off(p: &BBox, b: &BBox) -> f32 {
    let h = (p.y2 - p.y1).max(b.y2 - b.y1);
    if h > 0.0 {
        (b.y2 - p.y2).abs() / h
    } else {
        f32::INFINITY
    }
}

/// How long a tentative track that died on its own is remembered for a
/// track born further on to continue its path (see [`stitch_off`]).
const STITCH: Duration = Duration::from_secs(1);
/// Frame intervals longer than this (a camera analysed at under 2 fps) widen
/// the look's reach no further.
const MAX_INTERVAL: Duration = Duration::from_millis(500);

/// The index of the best fit among `(fit, index)` pairs; the first of equals.
fn best_fit(fits: impl Iterator<Item = (f32, usize)>) -> Option<usize> {
    fits.reduce(|best, next| if next.0 > best.0 { next } else { best })
        .map(|(_, i)| i)
}

/// How well a detection fits a track, higher is better; `None` if it cannot
/// match. The overlap (IoU) with the prediction or the last box, whichever
/// fits better (an object that stopped or turned back is still near the
/// last box), when it reaches `min_iou`. Otherwise, when `near` allows it,
/// a detection whose centre is close to the prediction for its size, of a
/// like height: a person is a thin box, and one walking across the picture
/// overlaps little with where the tracker expected them after a frame or
/// two unseen. Such fits score below every overlap fit, so overlap decides
/// first. Beyond one box width (up to the entry's grown reach) only a box
/// ahead of the track's way and in line with the prediction fits.
fn fit(e: &Entry, b: &BBox, min_iou: f32, near: bool) -> Option<f32> {
    let r = &e.reach;
    let touches = b.x1 < r.x2 && b.x2 > r.x1 && b.y1 < r.y2 && b.y2 > r.y1;
    let iou = if touches {
        e.predicted.iou(b).max(e.track.bbox.iou(b))
    } else {
        0.0
    };
    if iou >= min_iou {
        return Some(1.0 + iou);
    }
    if !near {
        return None;
    }
    let (across, row) = beside(&e.predicted, b)?;
    let off = across.max(row);
    if off > NEAR {
        let ahead = (centre(b).0 - centre(&e.whole).0) * e.vx > 0.0;
        if !ahead || row > NEAR_ROW {
            return None;
        }
    }
    (off <= e.near).then(|| (1.0 - off / e.near) * min_iou)
}

/// Where box `b` stands beside box `p`, if the two are of a like height
/// (`b` from 2/3 to 1.5 times as tall): how far across, in the wider one's
/// widths, and how far off `p`'s row, in half the taller one's heights.
fn beside(p: &BBox, b: &BBox) -> Option<(f32, f32)> {
    let (pw, ph) = (p.x2 - p.x1, p.y2 - p.y1);
    let (bw, bh) = (b.x2 - b.x1, b.y2 - b.y1);
    if ph <= 0.0 || bh <= 0.0 || !(2.0 / 3.0..=1.5).contains(&(bh / ph)) {
        return None;
    }
    let ((px, py), (bx, by)) = (centre(p), centre(b));
    Some(((px - bx).abs() / pw.max(bw), 2.0 * (py - by).abs() / ph.max(bh)))
}

/// How far (in box widths) a newborn box is from where a tentative track
/// died, if it may continue its path: in the same row, of a like height,
/// within the reach a lost track would have after as long unseen.
fn stitch_off(g: &Gone, b: &BBox, now: Duration) -> Option<f32> {
    let (across, row) = beside(&g.bbox, b)?;
    let unseen = now.saturating_sub(g.last_seen);
    let reach = NEAR + NEAR_GROWTH * unseen.saturating_sub(NEAR_AFTER).as_secs_f32();
    (row <= NEAR_ROW && across <= reach).then_some(across)
}

/// How close to the picture's edge (a fraction of the frame) a box's side
/// must be for the edge to cut it.
pub const EDGE: f32 = 0.01;
/// Weight of a new uncut box's width or height against a track's.
const SIZE_GAIN: f32 = 0.3;

/// A track's running size (see [`Track::size`]) with a new box folded in,
/// along each axis whose two sides the picture's edges leave uncut.
fn uncut_size(b: &BBox, size: (f32, f32)) -> (f32, f32) {
    let fold = |known: f32, lo: f32, hi: f32| {
        if lo <= EDGE || hi >= 1.0 - EDGE {
            known
        } else if known <= 0.0 {
            hi - lo
        } else {
            known + SIZE_GAIN * (hi - lo - known)
        }
    };
    (fold(size.0, b.x1, b.x2), fold(size.1, b.y1, b.y2))
}

/// Where the whole object is when the picture's edge cuts its box: a
/// person walking out of the picture leaves a box that shrinks against the
/// edge, its centre slowing and stopping short of it while the person walks
/// on. A box that touches one edge of an axis (not both) and is smaller
/// along it than the track's uncut boxes were is grown back past that edge
/// to their size, its inner side where the detector saw it.
fn whole(b: &BBox, size: (f32, f32)) -> BBox {
    let grow = |lo: f32, hi: f32, known: f32| {
        let (cut_lo, cut_hi) = (lo <= EDGE, hi >= 1.0 - EDGE);
        if known <= hi - lo || cut_lo == cut_hi {
            (lo, hi)
        } else if cut_lo {
            (hi - known, hi)
        } else {
            (lo, lo + known)
        }
    };
    let (x1, x2) = grow(b.x1, b.x2, size.0);
    let (y1, y2) = grow(b.y1, b.y2, size.1);
    BBox { x1, y1, x2, y2 }
}

/// Folds one matched detection into its track.
fn observe(e: &mut Entry, det: &Detection, look: Option<&Look>, now: Duration, plan: &TrackPlan) {
    if let Some(look) = look {
        e.look.blend(look, LOOK_GAIN);
    }
    let dt = now.saturating_sub(e.track.last_seen).as_secs_f32();
    let whole = whole(&det.bbox, e.track.size);
    if e.track.size.1 <= 0.0 || det.bbox.y2 - det.bbox.y1 <= MERGED * e.track.size.1 {
        e.row = det.bbox.y2;
    }
    e.track.size = uncut_size(&det.bbox, e.track.size);
    let (old, new) = (centre(&e.whole), centre(&whole));
    let (dx, dy) = (new.0 - old.0, new.1 - old.1);
    e.track.moved = (dx * dx + dy * dy).sqrt();
    if dt > 0.0 {
        e.vx += VELOCITY_GAIN * (dx / dt - e.vx);
        e.vy += VELOCITY_GAIN * (dy / dt - e.vy);
    }
    let (sx, sy) = (new.0 - e.still_at.0, new.1 - e.still_at.1);
    if (sx * sx + sy * sy).sqrt() > plan.stationary_move {
        e.still_at = new;
        e.still_since = now;
    }
    e.track.stationary = now.saturating_sub(e.still_since) >= plan.stationary_secs;
    e.track.bbox = det.bbox;
    e.whole = whole;
    e.track.score = det.score;
    e.track.hits = e.track.hits.saturating_add(1);
    e.track.last_seen = now;
    if e.track.hits >= plan.min_hits {
        e.confirmed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::frame::{FrameLayout, Geometry};

    fn det_at(label: u32, score: f32, x: f32) -> Detection {
        Detection {
            label,
            score,
            bbox: BBox {
                x1: x,
                y1: 0.2,
                x2: x + 0.1,
                y2: 0.5,
            },
        }
    }

    fn det(label: u32, x: f32) -> Detection {
        det_at(label, 0.9, x)
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_label_with_a_lower_threshold_starts_tracks_below_high_score() {
        // label 4 (say motorcycle) was given 0.15 by the model's label_confidence
        let mut t = Tracker::new(TrackPlan::default()).with_label_thresholds(&[(4, 0.15), (2, 0.7)]);
        for (i, ms) in [0, 200, 400].into_iter().enumerate() {
            let x = 0.1 + i as f32 * 0.01;
            t.update(&[det_at(4, 0.2, x), det_at(3, 0.2, x + 0.5)], at(ms));
        }
        let labels: Vec<u32> = t.tracks().iter().map(|t| t.label).collect();
        assert_eq!(labels, [4], "only the label with its own threshold is followed");
        // a higher label threshold does not raise the bar above high_score
        let mut t = Tracker::new(TrackPlan::default()).with_label_thresholds(&[(2, 0.7)]);
        t.update(&[det_at(2, 0.6, 0.1)], at(0));
        assert_eq!(t.update(&[det_at(2, 0.6, 0.11)], at(200)).len(), 1);
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
        assert!(!seen[0].lost);
    }

    #[test]
    fn different_labels_never_share_a_track() {
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[det(1, 0.1)], at(0));
        t.update(&[det(1, 0.1)], at(100));
        t.update(&[det(3, 0.1)], at(200));
        t.update(&[det(3, 0.1)], at(300));
        let ids: Vec<(u64, u32)> = t.tracks().iter().map(|t| (t.id, t.label)).collect();
        assert_eq!(ids, vec![(1, 1), (2, 3)]);
    }

    #[test]
    fn a_one_frame_flicker_never_becomes_a_track() {
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[det(1, 0.1)], at(0));
        assert!(t.update(&[], at(100)).is_empty());
        // the flicker died unconfirmed: the next sighting starts afresh
        t.update(&[det(1, 0.1)], at(200));
        assert_eq!(t.update(&[det(1, 0.1)], at(300))[0].id, 2);
    }

    #[test]
    fn a_confirmed_track_survives_a_short_gap_as_lost_and_is_dropped_after_max_lost() {
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[det(1, 0.1)], at(0));
        t.update(&[det(1, 0.1)], at(200));
        let kept = t.update(&[], at(1000)).to_vec();
        assert_eq!(kept.len(), 1);
        assert!(kept[0].lost);
        assert!(!t.any_moving(0.0));
        let back = t.update(&[det(1, 0.1)], at(1200)).to_vec();
        assert_eq!((back[0].id, back[0].lost), (1, false));
        t.update(&[], at(3000));
        assert!(t.tracks().is_empty());
    }

    #[test]
    fn a_fast_object_is_followed_through_its_predicted_position() {
        // After a gentle start (0.05 a frame) the object speeds up to 0.08 a
        // frame with a box 0.1 wide: consecutive boxes then overlap (IoU 0.11)
        // too little for a plain match; the constant-velocity prediction closes the gap.
        let mut t = Tracker::new(TrackPlan::default());
        let mut x = 0.0;
        let mut ids = Vec::new();
        for i in 0..10u64 {
            x += if i < 4 { 0.05 } else { 0.08 };
            let seen = t.update(&[det(1, x)], at(100 * i)).to_vec();
            assert!(seen.iter().all(|t| !t.lost), "lost at frame {i}");
            ids.extend(seen.iter().map(|t| t.id));
        }
        ids.dedup();
        assert_eq!(ids, vec![1], "one object, one track");
    }

    #[test]
    fn a_person_hidden_for_a_few_frames_is_found_again_ahead_but_not_behind() {
        // walking right at 0.012 a frame (box 0.05 wide), hidden for three
        // frames behind a post, seen again 0.06 on: beyond one box width of
        // where the track's (lagging) speed put them
        let walk = |score: f32, x: f32| Detection {
            label: 1,
            score,
            bbox: BBox {
                x1: x,
                y1: 0.3,
                x2: x + 0.05,
                y2: 0.5,
            },
        };
        for (reappears, same) in [(0.108, true), (-0.04, false)] {
            let mut t = Tracker::new(TrackPlan::default());
            let mut x = 0.0;
            for i in 0..4u64 {
                x = 0.012 * i as f32;
                t.update(&[walk(0.9, x)], at(100 * i));
            }
            for i in 4..7u64 {
                t.update(&[], at(100 * i));
            }
            let before = t.tracks()[0].id;
            t.update(&[walk(0.9, x + reappears)], at(700));
            let after = t.update(&[walk(0.9, x + reappears + 0.012)], at(800)).to_vec();
            let ids: Vec<u64> = after.iter().filter(|t| !t.lost).map(|t| t.id).collect();
            assert_eq!(ids == [before], same, "reappearing {reappears} on: {after:?}");
        }
    }

    #[test]
    fn an_object_that_turns_back_keeps_its_track() {
        let mut t = Tracker::new(TrackPlan::default());
        let mut x = 0.3;
        let mut ids = Vec::new();
        for i in 0..12u64 {
            x += if i < 6 { 0.025 } else { -0.025 };
            ids.extend(t.update(&[det(1, x)], at(100 * i)).iter().map(|t| t.id));
        }
        ids.dedup();
        assert_eq!(ids, vec![1]);
    }

    #[test]
    fn a_weak_detection_keeps_a_track_but_never_starts_one() {
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[det(1, 0.1)], at(0));
        t.update(&[det(1, 0.1)], at(100));
        // partly hidden: the score drops below high_score
        let seen = t.update(&[det_at(1, 0.3, 0.1), det_at(1, 0.3, 0.6)], at(200)).to_vec();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].id, seen[0].lost), (1, false));
        assert_eq!(t.entries.len(), 1, "the weak box far away started nothing");
        // below low_score it is ignored: the track is lost
        assert!(t.update(&[det_at(1, 0.05, 0.1)], at(300))[0].lost);
    }

    #[test]
    fn an_object_standing_still_becomes_stationary_and_walking_off_ends_it() {
        let plan = TrackPlan {
            stationary_secs: Duration::from_secs(2),
            ..TrackPlan::default()
        };
        let mut t = Tracker::new(plan);
        let mut last = Vec::new();
        for i in 0..=25u64 {
            // tiny detector jitter, well under stationary_move
            let x = 0.3 + if i % 2 == 0 { 0.003 } else { -0.003 };
            last = t.update(&[det(1, x)], at(100 * i)).to_vec();
            if i == 15 {
                assert!(!last[0].stationary, "1.5 s is not yet 2 s");
            }
        }
        assert!(last[0].stationary);
        let walking = t.update(&[det(1, 0.33)], at(2600)).to_vec();
        assert_eq!(walking.len(), 1);
        assert!(!walking[0].stationary);
    }

    /// A 60×20 grey RGB frame with a red and a blue person, each 6 px wide
    /// from row 2 to row 18, at the columns given (None: not in sight).
    fn street(red: Option<usize>, blue: Option<usize>) -> Vec<u8> {
        let mut data = vec![128u8; 60 * 20 * 3];
        for (x0, colour) in [(red, [200, 30, 30]), (blue, [30, 30, 200])] {
            let Some(x0) = x0 else { continue };
            for y in 2..18 {
                for x in x0..x0 + 6 {
                    data[(y * 60 + x) * 3..(y * 60 + x) * 3 + 3].copy_from_slice(&colour);
                }
            }
        }
        data
    }

    fn person(x0: usize) -> Detection {
        Detection {
            label: 1,
            score: 0.9,
            bbox: BBox::new(x0 as f32 / 60.0, 0.1, (x0 + 6) as f32 / 60.0, 0.9),
        }
    }

    #[test]
    fn two_people_who_swap_places_under_still_boxes_keep_their_tracks_by_their_look() {
        // Walking towards each other, 1 px a frame; for three frames the
        // detector's boxes stay where they are, and then the two are seen
        // past each other, each box overlapping the other's last box.
        let mut frames: Vec<(Option<usize>, Option<usize>, Vec<usize>)> = vec![(None, None, vec![]); 3];
        for i in 0..8 {
            frames.push((Some(13 + i), Some(33 - i), vec![13 + i, 33 - i]));
        }
        for _ in 0..3 {
            frames.push((Some(21), Some(25), vec![21, 25]));
        }
        for i in 0..4 {
            frames.push((Some(27 + i), Some(19 - i), vec![27 + i, 19 - i]));
        }
        let run = |appearance: bool| {
            let plan = TrackPlan {
                appearance,
                ..TrackPlan::default()
            };
            let mut t = Tracker::new(plan);
            let layout = FrameLayout {
                width: 60,
                height: 20,
                stride: 180,
            };
            let (mut red_before, mut red_after) = (0, 0);
            for (i, (red, blue, boxes)) in frames.iter().enumerate() {
                let data = street(*red, *blue);
                let px = Pixels {
                    data: &data,
                    layout,
                    geometry: Geometry::STRETCH,
                };
                let dets: Vec<Detection> = boxes.iter().map(|&x| person(x)).collect();
                let seen = t.update_seeing(&dets, Some(&px), at(100 * i as u64)).to_vec();
                let on_red = |x: usize| {
                    seen.iter()
                        .find(|t| (t.bbox.x1 * 60.0).round() as usize == x)
                        .map(|t| t.id)
                };
                if i == 10 {
                    red_before = on_red(20).expect("red followed");
                }
                if i == frames.len() - 1 {
                    red_after = on_red(30).expect("red followed");
                }
            }
            red_before == red_after
        };
        assert!(run(true), "the red person's track follows the red person");
        assert!(!run(false), "boxes alone hand each track the other person");
    }

    #[test]
    fn a_person_seen_once_before_being_hidden_starts_the_path_of_the_track_born_further_on() {
        // at 5 fps: seen once at 0.6, hidden for two frames, seen 1.4 box
        // widths further on (walking left): the new track's path begins
        // where the person was first seen
        let walk = |x: f32| Detection {
            label: 1,
            score: 0.9,
            bbox: BBox::new(x, 0.3, x + 0.05, 0.5),
        };
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[walk(0.6)], at(0));
        t.update(&[], at(200));
        t.update(&[], at(400));
        t.update(&[walk(0.53)], at(600));
        let seen = t.update(&[walk(0.52)], at(800)).to_vec();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].first_bbox.x1, seen[0].first_seen), (0.6, at(0)));
        // not a second box the detector gave beside a tracked person
        let mut t = Tracker::new(TrackPlan::default());
        t.update(&[walk(0.3)], at(0));
        t.update(&[walk(0.3)], at(200));
        t.update(&[walk(0.3), walk(0.34)], at(400));
        t.update(&[walk(0.3)], at(600));
        t.update(&[walk(0.3), walk(0.38)], at(800));
        let seen = t.update(&[walk(0.3), walk(0.385)], at(1000)).to_vec();
        let newcomer = seen.iter().find(|t| t.bbox.x1 > 0.35).expect("a second track");
        assert_eq!(newcomer.first_bbox.x1, 0.38);
    }

    #[test]
    fn a_person_walking_out_of_the_picture_keeps_their_width_past_the_edge() {
        // walking left at 0.01 a frame, 0.05 wide: once the box reaches the
        // picture's edge the detector gives only the part still in sight
        let seen_at = |x: f32| Detection {
            label: 1,
            score: 0.9,
            bbox: BBox::new(x.max(0.0), 0.3, x + 0.05, 0.5),
        };
        let mut t = Tracker::new(TrackPlan::default());
        for i in 0..10u64 {
            let x = 0.05 - 0.01 * i as f32;
            let last = t.update(&[seen_at(x)], at(100 * i)).to_vec();
            if i == 0 {
                continue;
            }
            let (p, b) = (&last[0].predicted, &last[0].bbox);
            assert!((centre(p).0 - (x + 0.025)).abs() < 1e-4, "frame {i}: {p:?}");
            assert_eq!(b.x1, x.max(0.0), "the box seen is the detector's");
        }
        // lost: the expected box walks on out at the person's pace
        let gone = t.update(&[], at(1100)).to_vec();
        assert!(gone[0].lost);
        assert!(
            centre(&gone[0].predicted).0 < -0.04 + 0.025 - 0.015,
            "{:?}",
            gone[0].predicted
        );
        // someone walking in from the edge has no width to grow back to
        let mut t = Tracker::new(TrackPlan::default());
        for i in 0..4u64 {
            let x = -0.04 + 0.01 * i as f32;
            let seen = t.update(&[seen_at(x)], at(100 * i)).to_vec();
            if let Some(s) = seen.first() {
                assert_eq!(s.predicted, s.bbox);
            }
        }
    }

    #[test]
    fn a_box_in_a_lost_tracks_row_goes_back_to_it_not_to_the_track_whose_feet_would_jump() {
        // Two people passing at different depths: one walking left higher
        // up the picture (feet at 0.43), one walking right lower down (feet
        // at 0.47), hidden for two frames behind the first. Then the
        // detector gives one box, in the lower row where the hidden one
        // walked on to; it overlaps the upper one's last box more than the
        // lost track's expected box.
        let upper = |x: f32| Detection {
            label: 1,
            score: 0.9,
            bbox: BBox::new(x, 0.29, x + 0.035, 0.43),
        };
        let lower = |x: f32, bottom: f32| Detection {
            label: 1,
            score: 0.9,
            bbox: BBox::new(x, bottom - 0.16, x + 0.045, bottom),
        };
        for (bottom, goes_back) in [(0.47, true), (0.44, false)] {
            let mut t = Tracker::new(TrackPlan::default());
            let mut ids = (0, 0);
            for i in 0..6u64 {
                let step = i as f32;
                let seen = t
                    .update(
                        &[upper(0.64 - 0.01 * step), lower(0.50 + 0.005 * step, 0.47)],
                        at(100 * i),
                    )
                    .to_vec();
                if i == 5 {
                    let id = |y: f32| seen.iter().find(|k| k.bbox.y2 == y).map(|k| k.id).expect("followed");
                    ids = (id(0.43), id(0.47));
                }
            }
            t.update(&[upper(0.58)], at(600));
            t.update(&[upper(0.57)], at(700));
            let seen = t.update(&[lower(0.58, bottom)], at(800)).to_vec();
            let holder = seen.iter().find(|k| !k.lost).map(|k| k.id).expect("the box is taken");
            let (up, low) = ids;
            assert_eq!(holder, if goes_back { low } else { up }, "feet at {bottom}: {seen:?}");
        }
    }

    #[test]
    fn a_track_lets_go_of_the_box_a_merge_parts_to_in_another_row() {
        // Two people at different depths walk into one box (from the head
        // of the one behind, feet at 0.42, to the feet of the one in front,
        // at 0.47); then the one in front is hidden and the box parts to
        // the one behind, who had no track.
        let person = |x: f32, top: f32, bottom: f32| Detection {
            label: 1,
            score: 0.9,
            bbox: BBox::new(x, top, x + 0.045, bottom),
        };
        for (own, lets_go) in [((0.32, 0.47), true), ((0.27, 0.42), false)] {
            let mut t = Tracker::new(TrackPlan::default());
            for i in 0..6u64 {
                t.update(&[person(0.50 + 0.005 * i as f32, own.0, own.1)], at(100 * i));
            }
            let id = t.tracks()[0].id;
            t.update(&[person(0.53, 0.27, 0.47)], at(600));
            assert_eq!(t.tracks()[0].id, id, "the merged box stays with the track");
            let seen = t.update(&[person(0.535, 0.27, 0.42)], at(700)).to_vec();
            let holder = seen.iter().find(|k| !k.lost).map(|k| k.id);
            if lets_go {
                // its own person (in front) was hidden: it walks on, lost
                assert_eq!(holder, None, "{seen:?}");
                assert!(seen.iter().any(|k| k.id == id && k.lost), "{seen:?}");
            } else {
                // it followed the one behind all along: the box is its own
                assert_eq!(holder, Some(id), "{seen:?}");
            }
        }
    }

    #[test]
    fn the_looks_reach_grows_with_the_time_between_frames() {
        for (step, reach) in [(100, 1.0), (200, 2.0), (1000, 5.0)] {
            let mut t = Tracker::new(TrackPlan::default());
            t.update(&[det(1, 0.1)], at(0));
            t.update(&[det(1, 0.1)], at(step));
            assert!((t.reach - reach * NEAR).abs() < 1e-4, "every {step} ms: {}", t.reach);
        }
    }

    #[test]
    fn a_crowd_of_crossing_objects_keeps_each_on_its_track() {
        // two people walking towards each other along the same row, passing
        let mut t = Tracker::new(TrackPlan::default());
        let mut first: Option<(u64, u64)> = None;
        for i in 0..20u64 {
            let a = 0.1 + 0.02 * i as f32;
            let b = 0.8 - 0.02 * i as f32;
            let mut dets = [det(1, a), det(1, b)];
            dets[1].bbox.y1 = 0.5;
            dets[1].bbox.y2 = 0.8;
            let seen = t.update(&dets, at(100 * i)).to_vec();
            if seen.len() == 2 {
                let left = seen.iter().find(|t| t.bbox.y1 < 0.4).unwrap().id;
                let right = seen.iter().find(|t| t.bbox.y1 >= 0.4).unwrap().id;
                match first {
                    None => first = Some((left, right)),
                    Some(ids) => assert_eq!(ids, (left, right)),
                }
            }
        }
        assert!(first.is_some());
    }

    #[test]
    fn a_frame_of_another_place_ends_every_track() {
        const W: usize = 48;
        const H: usize = 36;
        let layout = FrameLayout {
            width: W,
            height: H,
            stride: W * 3,
        };
        // a street (bright above, dark below) and another place (a wall lit
        // from the left, bright below)
        let paint = |f: &dyn Fn(usize, usize) -> u8| {
            let mut data = vec![0u8; W * H * 3];
            for (i, px) in data.chunks_exact_mut(3).enumerate() {
                px.fill(f(i % W, i / W));
            }
            data
        };
        let street = paint(&|_, y| if y < H / 3 { 210 } else { 60 });
        let other = paint(&|x, y| if y > H / 2 { 220 } else { (x * 4) as u8 });
        let seeing = |t: &mut Tracker, data: &[u8], i: u64| {
            let px = Pixels {
                data,
                layout,
                geometry: Geometry::STRETCH,
            };
            let x = 0.3 + i as f32 * 0.01;
            t.update_seeing(&[det(1, x)], Some(&px), at(100 * i))
                .iter()
                .map(|t| t.id)
                .collect::<Vec<_>>()
        };
        let mut t = Tracker::new(TrackPlan::default());
        let mut ids = Vec::new();
        for i in 0..4 {
            ids = seeing(&mut t, &street, i);
        }
        assert_eq!(ids.len(), 1, "the walker on the street is followed");
        // the same street: the walker keeps the track
        assert_eq!(seeing(&mut t, &street, 4), ids);
        // another place, a box where the walker was: not the walker
        assert!(seeing(&mut t, &other, 5).is_empty(), "no track survives the cut");
        assert!(t.tracks().iter().all(|k| !ids.contains(&k.id)));
        // followed again from there, under a new id
        let mut after = Vec::new();
        for i in 6..10 {
            after = seeing(&mut t, &other, i);
        }
        assert_eq!(after.len(), 1);
        assert_ne!(after, ids);
    }
}
