//! The keys every rule table has, whatever its kind ([`RuleCommon`]: name,
//! kind, zone, labels, anchor, timing, schedule…), their names
//! ([`COMMON_KEYS`], to split a table into these and the kind's own) and
//! their defaults. Kinds read them in their `check`.

use crate::config::Spanned;
use crate::config::table::Secs;

use super::geometry::Anchor;
use super::incident::Severity;
use super::schedule::WindowConfig;

/// Keys every rule has, whatever its kind.
pub const COMMON_KEYS: &[&str] = RuleCommon::KEYS;

crate::config::table! {
    /// The common keys of `[[cameras.rules]]`.
    pub struct RuleCommon in "" => CommonKeys {
        /// Name shown in alerts, e.g. "walkway-intrusion".
        #[required]
        #[apart]
        pub name: Spanned<String>;
        /// The rule kind: one of the names in `rules::KINDS` (the registry in
        /// `rules/kinds/mod.rs`), e.g. "fire_lane".
        #[required]
        #[apart]
        pub kind: Spanned<String>;
        /// The zone (or, for line_crossing, the line) it watches, e.g. "walkway".
        #[required]
        #[apart]
        pub zone: Spanned<String>;
        /// Labels that count, as the model names them, e.g. ["person"]. Required
        /// except where the kind has defaults (fire_lane) or watches pixels
        /// (thrown_object).
        #[apart]
        pub labels: Spanned<Vec<String>>;
        /// Point of the box the rule follows: "bottom_centre" (default, where a
        /// person stands), "centre" or "top_centre", e.g. "centre".
        pub anchor: Anchor;
        /// "low", "medium" (default), "high" or "critical".
        pub severity: Severity;
        /// Tracks scoring below this are ignored by the rule, e.g. 0.5.
        pub min_confidence: Spanned<f32> = 0.5, range 0.0..=1.0;
        /// Seconds the condition must hold before the incident starts, e.g. 1.0.
        pub min_secs: Spanned<f64>, range 0.0..=86_400.0;
        /// Seconds the condition must be gone before the incident ends, e.g. 3.0.
        pub end_after_secs: Spanned<f64> = 3.0, range 0.0..=86_400.0;
        /// Publish a redacted snapshot after the incident's start (default false).
        pub snapshot: Spanned<bool>;
        /// Record a redacted, signed video clip of the incident: the seconds
        /// before its start from the camera's pre-roll and those after it, e.g.
        /// { pre_secs = 10, post_secs = 10 } (`{}` takes those defaults). Its
        /// size and frame rate are the camera's [cameras.evidence].
        pub evidence: Option<EvidenceConfig>;
        /// Least seconds between two events of one incident: while it lasts, an
        /// `update` is sent when the objects involved change, at most this
        /// often, e.g. 5.0.
        pub update_every_secs: Spanned<f64> = 5.0, range 0.0..=86_400.0;
        /// Seconds after an incident ends during which the rule raises nothing, e.g. 60.0.
        pub cooldown_secs: Spanned<f64>, range 0.0..=86_400.0;
        /// An object (a track) raises the rule at most once, e.g. true (the
        /// default). Does not apply to `crowd`, whose incidents are about a group.
        pub once_per_target: Spanned<bool> = true;
        /// When the rule is armed, in the box's local time; always when left
        /// out, e.g. [{ days = ["sat", "sun"], from = "22:00", to = "06:00" }].
        #[apart]
        pub schedule: Vec<WindowConfig>;
    }
}

crate::config::table! {
    /// A rule's `evidence`: which seconds around an incident's start its clip
    /// holds.
    pub struct EvidenceConfig in "evidence." => #[derive(Copy)] EvidenceWindow {
        /// Seconds before the start, from the pre-roll, e.g. 10 (the default). From 0 to 30.
        pub pre_secs: Spanned<Secs> = 10.0, range 0.0..=MAX_PRE_SECS;
        /// Seconds after the start, e.g. 10 (the default). From 1 to 60.
        pub post_secs: Spanned<Secs> = 10.0, range 1.0..=MAX_POST_SECS;
    }
}

/// The most seconds of pre-roll a rule may ask for: the camera keeps this
/// much in memory.
pub const MAX_PRE_SECS: f64 = 30.0;
/// The most seconds after the start a rule may ask for.
pub const MAX_POST_SECS: f64 = 60.0;
