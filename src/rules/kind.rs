//! What a rule kind module sees of the rules around it, and what it promises
//! them: what it is ([`Kind`]: how it uses the common keys, [`Needs`],
//! [`Labels`]) and how its keys are checked ([`KindConfig`]), the view of its
//! rule on each frame ([`Scope`]), and the [`RuleState`] trait its `State`
//! implements — following tracks, or watching pixels ([`PixelWatch`]).
//! Kind modules import from here and from [`super::common`], never from the
//! registry or the engine, so no file imports one that imports it back.

use std::time::Duration;

use super::blobs::GrayFrame;
use super::common::RuleCommon;
use super::geometry::{Anchor, Line};
use super::incident::Target;
use super::zone::Zone;
use crate::config::{Checked, Ctx};
use crate::track::Track;
use crate::vocab::{LabelId, LabelMap};

/// How a kind uses the common `labels` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// The rule must list them.
    Required,
    /// Left out, these are used (those the model has).
    Default(&'static [&'static str]),
    /// The kind watches pixels, not detections: `labels` does not apply.
    Unused,
}

/// What a kind watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A zone with a `polygon`.
    Area,
    /// A zone with a `line`.
    Line,
}

/// What a kind is to the rules around it: what its zone must be, how it
/// uses the common `labels`, whether `once_per_target` applies, and what
/// "on" means for Home Assistant's binary sensor of such a rule. Built with
/// [`Kind::area`] or [`Kind::line`]: labels required, one incident a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub shape: Needs,
    pub labels: Labels,
    /// Whether `once_per_target` applies (not to an incident about a group).
    pub per_target: bool,
    pub device_class: &'static str,
}

impl Kind {
    /// A kind that watches an area (a zone with a `polygon`).
    pub const fn area(device_class: &'static str) -> Self {
        Self {
            shape: Needs::Area,
            labels: Labels::Required,
            per_target: true,
            device_class,
        }
    }

    /// A kind that watches a line (a zone with a `line`).
    pub const fn line(device_class: &'static str) -> Self {
        Self {
            shape: Needs::Line,
            ..Self::area(device_class)
        }
    }

    /// The kind uses `labels` this way rather than requiring them.
    pub const fn labels(self, labels: Labels) -> Self {
        Self { labels, ..self }
    }

    /// Its incident is about a group, so `once_per_target` does not apply.
    pub const fn per_group(self) -> Self {
        Self {
            per_target: false,
            ..self
        }
    }
}

/// A kind's own keys (its `Config`, declared with `config::table!` and its
/// checked `Plan`): what the kind is, and its check.
pub trait KindConfig: Checked {
    const KIND: Kind;

    /// Checks the kind's keys into its plan (`owner` names the rule in
    /// messages). By default each key against its range; a kind whose keys
    /// depend on each other, or on the common ones, checks that here too.
    fn check(&self, _common: &RuleCommon, _owner: &str, ctx: &mut Ctx<'_>) -> Option<Self::Plan> {
        self.checked(ctx)
    }
}

/// What a rule that watches pixels needs of its camera's motion branch (and,
/// folded over a camera's rules, what they all need).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PixelWatch {
    /// The most frames per second analysed.
    pub fps: f64,
    /// The width, in pixels, the grayscale frames are scaled to.
    pub width: u32,
}

/// The per-frame logic of a rule kind, implemented by its `State` and built
/// from its `Plan`. A kind follows tracks ([`Self::evaluate`]) unless
/// [`Self::pixel_watch`] says it watches pixels; then the engine feeds it
/// grayscale frames instead ([`Self::analyse`], [`Self::follows`]).
pub trait RuleState: Default {
    /// The kind's checked keys.
    type Plan;

    /// The state of a rule starting to run; by default an empty one.
    fn new(_plan: &Self::Plan) -> Self {
        Self::default()
    }

    /// Whether, and how, a rule of this kind watches grayscale frames rather
    /// than tracks; None (the default) for kinds that follow tracks.
    fn pixel_watch(_plan: &Self::Plan) -> Option<PixelWatch> {
        None
    }

    /// How long the kind's own condition takes to hold again for an object
    /// that is already there when the rule starts running (a dwell it
    /// measures itself, such as `loiter_secs`); zero by default. An incident
    /// taken up after a restart waits this much longer for its condition.
    fn warm_up(_plan: &Self::Plan) -> Duration {
        Duration::ZERO
    }

    /// Pushes the targets for which the kind's condition holds on one
    /// frame's tracks. The default does nothing (a kind that watches pixels).
    fn evaluate(&mut self, _plan: &Self::Plan, _scope: &Scope<'_>, _tracks: &[Track], _out: &mut Vec<Target>) {}

    /// Analyses one grayscale frame of the rule's `zone`; pushes the targets
    /// in sight. Returns false when the frame was not analysed (not due, or
    /// unusable), so the incident lifecycle is not stepped. The default, for
    /// kinds that follow tracks, analyses nothing.
    fn analyse(&mut self, _plan: &Self::Plan, _zone: &Zone, _frame: &GrayFrame<'_>, _out: &mut Vec<Target>) -> bool {
        false
    }

    /// Whether a target id raised by [`Self::analyse`] is still followed, so
    /// the incident lifecycle can forget the others. The default follows none.
    fn follows(&self, _target_id: u64) -> bool {
        false
    }
}

/// What a kind's per-frame logic sees of its rule.
pub struct Scope<'a> {
    pub zone: &'a Zone,
    pub anchor: Anchor,
    pub labels: &'a [LabelId],
    pub min_confidence: f32,
    pub names: &'a LabelMap,
    /// Stream time of this frame.
    pub now: Duration,
}

impl Scope<'_> {
    /// Whether the rule looks at this track at all (label and confidence).
    pub fn wants(&self, track: &Track) -> bool {
        track.score >= self.min_confidence && self.labels.contains(&track.label)
    }

    /// The tracks the rule looks at at all.
    pub fn wanted<'t>(&self, tracks: &'t [Track]) -> impl Iterator<Item = &'t Track> {
        tracks.iter().filter(|track| self.wants(track))
    }

    /// Whether the track's anchor point is inside the rule's area (false for lines).
    pub fn inside(&self, track: &Track) -> bool {
        self.zone
            .polygon()
            .is_some_and(|p| p.contains(self.anchor.of(&track.bbox)))
    }

    /// The track as an incident target.
    pub fn target(&self, track: &Track) -> Option<Target> {
        self.names
            .name(track.label)
            .map(|label| Target::new(track.id, label.clone(), track.score, track.bbox))
    }
}

/// Per-track state a kind keeps, dropped when the tracker forgets the track.
pub(crate) fn forget_gone<T>(states: &mut Vec<T>, id: impl Fn(&T) -> u64, tracks: &[Track]) {
    states.retain(|s| {
        let id = id(s);
        tracks.iter().any(|t| t.id == id)
    });
}

/// The `State` of a kind that follows tracks across its line: one record
/// `F` (the kind's own) per track it follows.
#[derive(Debug)]
pub struct Follows<F> {
    pub(crate) follows: Vec<F>,
}

impl<F> Default for Follows<F> {
    fn default() -> Self {
        Self { follows: Vec::new() }
    }
}

impl<F> Follows<F> {
    /// How a line kind's frame opens: the records of tracks that are gone
    /// are dropped, and the rule's line is read (none: nothing to watch).
    pub(crate) fn open<'s>(&mut self, id: impl Fn(&F) -> u64, scope: &Scope<'s>, tracks: &[Track]) -> Option<&'s Line> {
        forget_gone(&mut self.follows, id, tracks);
        scope.zone.line()
    }
}
