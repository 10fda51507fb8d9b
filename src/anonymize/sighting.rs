//! Sightings: where the people and vehicles were on the frame the detector
//! analysed last, and the only thing a camera's pictures are covered with.
//!
//! A camera's detect thread records one [`Sighting`] per analysed frame
//! ([`Sightings::record`]): every person the detector found at the privacy
//! threshold or above (more sensitive than the rules'), every track the
//! tracker follows — lost ones too, their last box grown by how far they
//! may have moved since; seen ones whose box lost the head, at their usual
//! height too — and the vehicles. A frame the motion gate let
//! pass without inference keeps the previous boxes: nothing moved. A
//! picture ([`Sightings::picture`]) is then made of *that* frame, held at
//! full resolution by the decoder ([`crate::decode::held`]), never of a
//! newer one; before the first analysis, after a failed one, or when the
//! last is older than allowed, there is no picture at all ([`Withheld`],
//! counted): pictures fail closed. A picture is also given a closer look
//! ([`Closer`], the camera's detector on tiles of it) before it is handed
//! out, and the persons found there cover it too.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;

use super::closer::{self, Closer};
use super::redact::RedactLabels;
use crate::decode::convert;
use crate::decode::held::Held;
use crate::infer::Detector;
use crate::infer::preprocess::ImageView;
use crate::track::{EDGE, Track};
use crate::vocab::{BBox, Detection, Geometry};

/// What a covered box holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Person,
    Vehicle,
}

/// One box a picture may be covered over, normalised to the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    pub what: What,
    /// Where it may be.
    pub bbox: BBox,
    /// Its box as last seen: its shape (standing, squat, a group) when
    /// `bbox` is grown around a lost track's expected way.
    pub shape: BBox,
}

impl Seen {
    /// A box seen on the picture itself.
    pub fn at(what: What, bbox: BBox) -> Self {
        Seen {
            what,
            bbox,
            shape: bbox,
        }
    }
}

/// A lost track's last box is grown by this share of its size on each
/// side, besides the way it was moving: a person hidden from the detector
/// for a moment (behind a pole, in a group) is still somewhere near.
const LOST_GROW: f32 = 0.25;
/// How many of its last steps a lost track may have walked on, at most
/// (and never further than its own size: docs/privacy.md).
const LOST_STEPS: f32 = 5.0;
/// Share of a lost track's possible walk it is grown by every way around
/// the way it was walking.
const TURN: f32 = 0.5;

/// A seen track's box this many times shorter than its usual height may
/// have lost the head above it ([`head_hidden`]); boxes of one person
/// vary by a few percent from frame to frame.
const SHORT: f32 = 1.2;

/// The least [`Sightings::max_age`].
const MIN_MAX_AGE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
struct Sighting {
    /// The analysed frame, by its stream time.
    pts: Duration,
    at: Instant,
    seen: Vec<Seen>,
    /// The analysis of the frame failed: nothing may be covered from it.
    failed: bool,
}

/// Why a camera has no picture now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Withheld {
    #[error("the detector has not analysed a frame yet")]
    NotYet,
    #[error("the detector's last analysis failed")]
    Failed,
    #[error("the detector's last analysis is {0:.1?} old")]
    Stale(Duration),
    #[error("the analysed frame is no longer held")]
    Gone,
    #[error("{0}")]
    Closer(String),
}

/// A camera's last sighting, and the pictures withheld for want of one.
#[derive(Debug)]
pub struct Sightings {
    last: Mutex<Option<Sighting>>,
    labels: Mutex<RedactLabels>,
    /// Detect rate: how far apart a lost track's steps were.
    fps: f32,
    /// Pictures not made because no fresh sighting could cover them.
    pub withheld: AtomicU64,
    /// The camera's detector, for a closer look at each picture.
    closer: Mutex<Option<Closer>>,
}

impl Sightings {
    /// A camera detected `fps` times a second, whose detector's person and
    /// vehicle labels are `labels`.
    pub fn new(labels: RedactLabels, fps: u32) -> Self {
        Self {
            last: Mutex::new(None),
            labels: Mutex::new(labels),
            fps: fps.max(1) as f32,
            withheld: AtomicU64::new(0),
            closer: Mutex::new(None),
        }
    }

    /// Gives every picture a closer look with `closer` before it is handed
    /// out ([`Self::picture`]).
    pub fn with_closer(mut self, closer: Closer) -> Self {
        self.closer = Mutex::new(Some(closer));
        self
    }

    /// Follows a reloaded camera's labels.
    pub fn set_labels(&self, labels: RedactLabels) {
        *self.labels.lock().unwrap_or_else(|p| p.into_inner()) = labels;
    }

    /// Records what the frame at `pts` holds: the detections that may be
    /// covered (`detections`: the privacy threshold's, above the rules') and
    /// the tracker's tracks after it. Reuses the last sighting's memory.
    pub fn record(&self, pts: Duration, detections: &[Detection], tracks: &[Track]) {
        let labels = self.labels.lock().unwrap_or_else(|p| p.into_inner());
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let sighting = last.get_or_insert_with(|| Sighting {
            pts,
            at: Instant::now(),
            seen: Vec::with_capacity(64),
            failed: false,
        });
        sighting.pts = pts;
        sighting.at = Instant::now();
        sighting.failed = false;
        sighting.seen.clear();
        collect(&labels, self.fps, pts, (detections, tracks), &mut sighting.seen);
    }

    /// The frame at `pts` was let through without inference (nothing
    /// moved): the last boxes still hold for it.
    pub fn carry(&self, pts: Duration) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sighting) = last.as_mut().filter(|s| !s.failed) {
            sighting.pts = pts;
            sighting.at = Instant::now();
        }
    }

    /// The analysis failed: no picture until one succeeds.
    pub fn fail(&self) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sighting) = last.as_mut() {
            sighting.failed = true;
        }
    }

    /// How old the last analysis may be for a picture to be made of its
    /// frame: three detect intervals, and at least [`MIN_MAX_AGE`] (the
    /// detect thread may wait a moment for a busy model).
    pub fn max_age(&self) -> Duration {
        Duration::from_secs_f32(3.0 / self.fps).max(MIN_MAX_AGE)
    }

    /// The stream time of the last frame analysed (for the decoder to let
    /// go of older ones).
    pub fn last_pts(&self) -> Option<Duration> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| s.pts)
    }

    /// The last analysed frame as RGB no wider than `max_width`, with what
    /// covers it, a closer look's persons included — or why there is none
    /// (counted): no analysis yet, a failed one, one older than
    /// [`Self::max_age`], its frame no longer held, or a failed closer look.
    pub fn picture(&self, held: &Held, max_width: u32) -> Result<Picture, Withheld> {
        let found = self.find(held, max_width, self.max_age()).and_then(|mut picture| {
            let mut closer = self.closer.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(closer) = closer.as_mut() {
                picture.look_closer(closer).map_err(Withheld::Closer)?;
            }
            Ok(picture)
        });
        if found.is_err() {
            self.withheld.fetch_add(1, Ordering::Relaxed);
        }
        found
    }

    /// The last analysed frame as decoded (a reference to the decoder's
    /// buffer, not converted) with what covers it, for an evidence clip,
    /// which scales it elsewhere; or why there is none (not counted as a
    /// withheld picture: the clip counts its own dropped frames).
    pub fn frame(&self, held: &Held) -> Result<Picture, Withheld> {
        let (pts, seen) = self.fresh(self.max_age())?;
        let sample = held.sample(pts).ok_or(Withheld::Gone)?;
        Ok(Picture { sample, seen, pts })
    }

    /// The last sighting's frame time and boxes, when it may cover a picture.
    fn fresh(&self, max_age: Duration) -> Result<(Duration, Vec<Seen>), Withheld> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let sighting = last.as_ref().ok_or(Withheld::NotYet)?;
        if sighting.failed {
            return Err(Withheld::Failed);
        }
        let age = sighting.at.elapsed();
        if age > max_age {
            return Err(Withheld::Stale(age));
        }
        Ok((sighting.pts, sighting.seen.clone()))
    }

    fn find(&self, held: &Held, max_width: u32, max_age: Duration) -> Result<Picture, Withheld> {
        let (pts, seen) = self.fresh(max_age)?;
        let sample = held.picture(pts, max_width).ok_or(Withheld::Gone)?;
        Ok(Picture { sample, seen, pts })
    }
}

/// Appends to `out` the persons and vehicles (by `labels`) among the
/// detections and tracks of the frame at `pts`, detected `fps` times a
/// second: a lost track's last box grown by how far it may have walked.
fn collect(
    labels: &RedactLabels,
    fps: f32,
    pts: Duration,
    (detections, tracks): (&[Detection], &[Track]),
    out: &mut Vec<Seen>,
) {
    let what = |label| {
        if labels.persons.contains(&label) {
            Some(What::Person)
        } else if labels.vehicles.contains(&label) {
            Some(What::Vehicle)
        } else {
            None
        }
    };
    out.extend(
        detections
            .iter()
            .filter_map(|d| what(d.label).map(|what| Seen::at(what, d.bbox))),
    );
    for t in tracks {
        let Some(what) = what(t.label) else { continue };
        let bbox = if t.lost {
            // from where it was last seen to where the tracker expects it,
            // grown by the steps it may have walked since: at most its own
            // size (the last step of a track matched across a gap can be
            // long, and grown by five such steps it covered half a picture)
            let steps = (pts.saturating_sub(t.last_seen).as_secs_f32() * fps).clamp(1.0, LOST_STEPS);
            let (w, h) = (t.bbox.width(), t.bbox.height());
            // the expected box follows the way it was walking; around that
            // way, half the steps it may have walked cover a turn or a stop
            let walk = (t.moved * steps).min(w.max(h)) * TURN;
            let (p, b) = (&t.predicted, &t.bbox);
            BBox {
                x1: b.x1.min(p.x1) - w * LOST_GROW - walk,
                y1: b.y1.min(p.y1) - h * LOST_GROW - walk,
                x2: b.x2.max(p.x2) + w * LOST_GROW + walk,
                y2: b.y2.max(p.y2) + h * LOST_GROW + walk,
            }
        } else {
            t.bbox
        };
        out.push(Seen {
            what,
            bbox,
            shape: t.bbox,
        });
        if let Some(standing) = head_hidden(t) {
            out.push(Seen::at(what, standing));
        }
    }
}

/// A seen track's box much shorter than its boxes usually are, and not cut
/// by the picture's top, may have lost the head above it (the detector
/// boxed someone from the shoulders down, or a sign hides the head): the
/// box of its usual height standing where this one stands, for the head to
/// be covered where it would be. The box as seen is covered too, in case
/// it was the legs that were hidden.
fn head_hidden(t: &Track) -> Option<BBox> {
    let b = &t.bbox;
    let height = t.size.1;
    let short = !t.lost && height > b.height() * SHORT && b.y1 > EDGE;
    short.then_some(BBox {
        y1: b.y2 - height,
        ..*b
    })
}

/// A picture and the boxes found on it: the only thing [`super::Redactor`]
/// covers. It comes from a detector's pass over that very picture — a
/// camera's [`Sightings`], replay's analysis, or [`Picture::detect`].
#[derive(Debug, Clone)]
pub struct Picture {
    sample: gst::Sample,
    seen: Vec<Seen>,
    pts: Duration,
}

impl Picture {
    /// Runs `detector` over `sample` (letterboxed to its input) and keeps
    /// the persons and vehicles it finds: a picture that is not a camera's
    /// analysed frame gets its own detector pass.
    pub fn detect(sample: gst::Sample, detector: &mut Detector) -> Result<Self, String> {
        let labels = RedactLabels::of(detector.plan().labels());
        let input = &detector.plan().manifest.input;
        let (width, height) = (input.width, input.height);
        let source = convert::info_of(&sample)?;
        let scaled = convert::letterboxed_rgb(&sample, width, height)?;
        let (info, map) = convert::mapped(&scaled)?;
        let image = ImageView {
            data: map.as_slice(),
            width: info.width() as usize,
            height: info.height() as usize,
            stride: info.stride()[0].max(0) as usize,
        };
        let par = source.par();
        let geometry = Geometry::letterbox(
            source.width(),
            source.height(),
            (par.numer(), par.denom()),
            width,
            height,
        );
        let found = detector
            .detect(&image, &geometry)
            .map_err(|e| format!("the detector failed: {e}"))?;
        let mut seen = Vec::new();
        collect(&labels, 1.0, Duration::ZERO, (found, &[]), &mut seen);
        Ok(Self {
            sample,
            seen,
            pts: Duration::ZERO,
        })
    }

    /// The frame of a recording at `pts`, detected `fps` times a second,
    /// and what replay's analysis found on it.
    pub(crate) fn analysed(
        sample: gst::Sample,
        labels: &RedactLabels,
        fps: u32,
        pts: Duration,
        (detections, tracks): (&[Detection], &[Track]),
    ) -> Self {
        let mut seen = Vec::new();
        collect(labels, fps.max(1) as f32, pts, (detections, tracks), &mut seen);
        Self { sample, seen, pts }
    }

    pub fn sample(&self) -> &gst::Sample {
        &self.sample
    }

    /// Covers also the persons a closer look ([`Closer`]: the detector on
    /// tiles of the picture) finds, besides those already seen. The picture
    /// must be RGB.
    pub fn look_closer(&mut self, closer: &mut Closer) -> Result<(), String> {
        let mut found = Vec::new();
        closer.look(&self.sample, &mut found)?;
        for bbox in found {
            let again = self
                .seen
                .iter()
                .any(|s| s.what == What::Person && closer::iou(&s.bbox, &bbox) > closer::SAME);
            if !again {
                self.seen.push(Seen::at(What::Person, bbox));
            }
        }
        Ok(())
    }

    pub fn seen(&self) -> &[Seen] {
        &self.seen
    }

    /// The stream time of the frame it was made of.
    pub fn pts(&self) -> Duration {
        self.pts
    }

    /// The same frame letterboxed (by GStreamer) into exactly `width` ×
    /// `height` square pixels, its boxes moved with it: what an evidence
    /// clip is made of.
    pub fn letterboxed(&self, width: u32, height: u32) -> Result<Picture, String> {
        let info = convert::info_of(&self.sample)?;
        let par = info.par();
        let geometry = Geometry::letterbox(info.width(), info.height(), (par.numer(), par.denom()), width, height);
        let sample = convert::letterboxed_rgb(&self.sample, width, height)?;
        let seen = self
            .seen
            .iter()
            .map(|s| Seen {
                what: s.what,
                bbox: geometry.to_input(&s.bbox),
                shape: geometry.to_input(&s.shape),
            })
            .collect();
        Ok(Picture {
            sample,
            seen,
            pts: self.pts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::LabelId;

    const PERSON: LabelId = 1;

    fn walker(bbox: BBox, height: f32, lost: bool) -> Track {
        Track {
            id: 7,
            label: PERSON,
            score: 0.8,
            bbox,
            hits: 9,
            first_seen: Duration::ZERO,
            first_bbox: bbox,
            last_seen: Duration::from_secs(1),
            moved: 0.0,
            lost,
            predicted: bbox,
            stationary: false,
            size: (0.0, height),
        }
    }

    fn seen(tracks: &[Track]) -> Vec<Seen> {
        let labels = RedactLabels {
            persons: vec![PERSON],
            vehicles: vec![],
        };
        let mut out = Vec::new();
        collect(&labels, 5.0, Duration::from_secs(1), (&[], tracks), &mut out);
        out
    }

    #[test]
    fn a_box_that_lost_its_head_is_covered_at_its_usual_height_too() {
        // boxed from the shoulders down on this frame: 0.08 high where
        // the person's boxes were 0.11
        let cut = BBox {
            x1: 0.21,
            y1: 0.29,
            x2: 0.25,
            y2: 0.37,
        };
        let out = seen(&[walker(cut, 0.11, false)]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].bbox, cut, "the box as seen (the legs may be what was hidden)");
        let standing = out[1].bbox;
        assert!(
            (standing.y1 - (0.37 - 0.11)).abs() < 1e-6 && standing.y2 == cut.y2,
            "{standing:?}"
        );
        assert_eq!((standing.x1, standing.x2), (cut.x1, cut.x2));
        // a box of its usual height, one cut by the picture's top, and a
        // lost track (grown anyway) get no second box
        let whole = BBox { y1: 0.26, ..cut };
        assert_eq!(seen(&[walker(whole, 0.11, false)]).len(), 1);
        let at_top = BBox { y1: 0.0, ..cut };
        assert_eq!(seen(&[walker(at_top, 0.5, false)]).len(), 1);
        assert_eq!(seen(&[walker(cut, 0.11, true)]).len(), 1);
        // a new track has no usual height yet
        assert_eq!(seen(&[walker(cut, 0.0, false)]).len(), 1);
    }
}
