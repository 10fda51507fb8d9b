//! Rules: zones and lines on a camera's picture, and the rule kinds that turn
//! tracks in them into incidents with a start, updates and an end.
//!
//! A rule table holds the common keys ([`RuleCommon`]: zone, labels, anchor,
//! timing, schedule…) and the keys of its kind; [`load_rule`] and
//! [`check_rule`] turn it into a [`RulePlan`], and a camera's
//! [`RuleEngine`] runs its plans frame by frame. Rule kinds are a closed set,
//! listed once in the registry, [`kinds`] (their names: [`KINDS`]); each kind
//! is one file in `kinds/` holding its keys, its check, its per-frame logic
//! and its tests. Most kinds follow tracks; a kind that watches pixels is fed
//! grayscale frames through [`RuleEngine::step_motion`] instead, with the
//! motion analysis in [`blobs`]. Every kind shares the incident lifecycle in
//! [`incident`], the schedule in [`schedule`] and the switchboard in
//! [`arming`]: a rule raises only while it is armed and in its schedule.
//!
//! Adding a rule kind `name` (variant `Name`):
//!
//! 1. Write `src/rules/kinds/name.rs`. It opens with a `//!` paragraph on
//!    what the kind raises and holds:
//!    - `Config`, its keys beside the common ones, and `Plan`, those keys
//!      checked, declared together with `crate::config::table! { pub
//!      struct Config in "" => Plan { … } }` (each key a line: its `///`
//!      doc with an example, its type, its default or `#[required]`, its
//!      range; seconds as `Spanned<Secs>`, which the plan holds as a
//!      `Duration`; the config schema, the key reference and the console's
//!      rule form are built from it);
//!    - `impl KindConfig for Config { const KIND: Kind = Kind::area("…"); }`:
//!      what the kind is (an area or a line, the Home Assistant binary
//!      sensor class, and where it differs, how it uses `labels` and that
//!      `once_per_target` does not apply), and, when its keys depend on
//!      each other or on the common ones, its own `check`;
//!    - `State` (`#[derive(Debug, Default)]`) with `impl RuleState for State
//!      { type Plan = Plan; fn evaluate(…) }`: the targets for which the
//!      condition holds on one frame's tracks (`new` defaults to an empty
//!      state);
//!    - its unit tests (helpers in `rules::testing`).
//!
//!    It imports from `crate::rules::{kind, common, geometry, incident,
//!    zone, blobs}`, never from `crate::rules` itself nor from `kinds`.
//! 2. Add one line to the `rule_kinds!` invocation in `kinds/mod.rs`:
//!    `"name" => Name(name),`.
//! 3. Add a scenario using `kind = "name"` under `tests/scenarios/` (the test
//!    `every_rule_kind_has_a_scenario` asks for one) and describe the keys in
//!    `docs/rules.md`. Kind files are declared by the macro, which `cargo fmt`
//!    does not look into: format them with `rustfmt --edition 2024
//!    src/rules/kinds/*.rs` (`scripts/test` checks every Rust file so).
//!
//! A kind that watches pixels rather than tracks is added the same way, with
//! `.labels(Labels::Unused)` in its `Kind`; its `State` implements, instead
//! of `evaluate`, [`RuleState::pixel_watch`] (from its plan: the frames per second it
//! analyses and the width it wants them scaled to), [`RuleState::analyse`]
//! (one grayscale frame of its zone; false when the frame was not analysed)
//! and [`RuleState::follows`] (whether a target id it raised is still in
//! sight). The engine then skips it in [`RuleEngine::step`] and feeds it in
//! [`RuleEngine::step_motion`], and its camera gets a motion branch for it
//! ([`pixel_watch`], [`pixel_rules`]); nothing but its file and its registry
//! line names it.
//!
//! Camera health (covered, blurred, moved, too dark or bright, frozen,
//! signal lost) is not a rule kind but a camera's `[cameras.health]` table,
//! run by [`health`] on the same grayscale frames: the engine feeds it in
//! [`RuleEngine::step_motion`] beside the rules that watch pixels.
//!
//! The engine never reads a clock: stream time and wall-clock time come in
//! with each frame, and the time zone is set once, so replays and tests are
//! deterministic.
//!
//! This file is only the module map and the public paths: the items live in
//! the modules below, and no module imports from here.

pub mod arming;
pub mod blobs;
pub mod common;
pub mod engine;
pub mod geometry;
pub mod health;
pub mod incident;
pub mod kind;
pub mod kinds;
pub mod rule;
pub mod schedule;
pub mod zone;

#[cfg(test)]
pub(crate) mod testing;

pub use arming::{Arming, ArmingState, Profile, ProfileConfig, RuleSwitch};
pub use common::{COMMON_KEYS, CommonKeys, EvidenceConfig, EvidenceWindow, RuleCommon};
pub use engine::{RESUME_MARGIN, RuleEngine, pixel_rules, pixel_watch};
pub use geometry::Anchor;
pub use health::{HealthConfig, HealthPlan, HealthWatch};
pub use incident::{EventKind, EventSource, IncidentEvent, OpenIncident, Severity, Target, TrajectoryPoint};
pub use kind::{Labels, Needs, PixelWatch, RuleState, Scope};
pub use kinds::{KINDS, RuleKindConfig, RuleKindPlan, device_class, kind_schemas};
pub use rule::{RuleConfig, RulePlan, check_rule, load_rule};
pub use zone::{Zone, ZoneConfig};
