//! `[cameras.track]`: the tracker's settings as written ([`TrackConfig`]),
//! checked into the [`TrackPlan`] the tracker runs with.

use std::time::Duration;

use serde::Deserialize;

use crate::config::Ctx;
use crate::config::Spanned;

/// `[cameras.track]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    /// Detections scoring at least this are matched first and may start a
    /// track, e.g. 0.5. Set the model's `confidence` lower than this to let
    /// weaker boxes keep partly hidden objects on their tracks.
    #[serde(default = "default_high_score")]
    pub high_score: Spanned<f32>,
    /// Weaker detections down to this only continue existing tracks, e.g. 0.1.
    #[serde(default = "default_low_score")]
    pub low_score: Spanned<f32>,
    /// Least overlap (IoU) between a strong detection and a track's predicted
    /// box for them to match, e.g. 0.3.
    #[serde(default = "default_iou")]
    pub iou: Spanned<f32>,
    /// Least overlap for a weak detection, stricter because it is less sure, e.g. 0.5.
    #[serde(default = "default_low_iou")]
    pub low_iou: Spanned<f32>,
    /// Consecutive matches before a track counts, e.g. 2 (filters one-frame flickers).
    #[serde(default = "default_min_hits")]
    pub min_hits: Spanned<u32>,
    /// Seconds a confirmed track is kept unseen (occlusion), e.g. 1.5.
    #[serde(default = "default_max_lost")]
    pub max_lost_secs: Spanned<f64>,
    /// How far the box centre may wander, as a fraction of the frame, and the
    /// object still count as standing still, e.g. 0.02.
    #[serde(default = "default_stationary_move")]
    pub stationary_move: Spanned<f32>,
    /// Seconds an object must stay within `stationary_move` to be stationary, e.g. 10.0.
    #[serde(default = "default_stationary_secs")]
    pub stationary_secs: Spanned<f64>,
    /// Seconds a stationary track is kept unseen, e.g. 60.0: a parked car or
    /// a bicycle left standing that something passes in front of is still
    /// there, and keeping its track keeps its incident one incident.
    #[serde(default = "default_stationary_lost")]
    pub stationary_lost_secs: Spanned<f64>,
    /// Whether what a box looks like (a coarse colour histogram of its upper
    /// and lower half, read from the frame and kept only while its track
    /// lives) helps decide which track takes which box where boxes meet,
    /// e.g. true: two people passing each other on a counting line keep
    /// their own tracks. It never leaves the tracker.
    #[serde(default = "default_appearance")]
    pub appearance: Spanned<bool>,
    /// How much more alike (0 to 1, per track) boxes must look to tracks
    /// than the boxes the tracks' positions gave them for the tracker to
    /// hand them over, e.g. 0.1.
    #[serde(default = "default_appearance_margin")]
    pub appearance_margin: Spanned<f32>,
}

fn default_high_score() -> Spanned<f32> {
    Spanned::new(0..0, 0.5)
}
fn default_low_score() -> Spanned<f32> {
    Spanned::new(0..0, 0.1)
}
fn default_iou() -> Spanned<f32> {
    Spanned::new(0..0, 0.3)
}
fn default_low_iou() -> Spanned<f32> {
    Spanned::new(0..0, 0.5)
}
fn default_min_hits() -> Spanned<u32> {
    Spanned::new(0..0, 2)
}
fn default_max_lost() -> Spanned<f64> {
    Spanned::new(0..0, 1.5)
}
fn default_stationary_move() -> Spanned<f32> {
    Spanned::new(0..0, 0.02)
}
fn default_stationary_secs() -> Spanned<f64> {
    Spanned::new(0..0, 10.0)
}
fn default_stationary_lost() -> Spanned<f64> {
    Spanned::new(0..0, 60.0)
}
fn default_appearance() -> Spanned<bool> {
    Spanned::new(0..0, true)
}
fn default_appearance_margin() -> Spanned<f32> {
    Spanned::new(0..0, 0.1)
}

impl Default for TrackConfig {
    fn default() -> Self {
        Self {
            high_score: default_high_score(),
            low_score: default_low_score(),
            iou: default_iou(),
            low_iou: default_low_iou(),
            min_hits: default_min_hits(),
            max_lost_secs: default_max_lost(),
            stationary_move: default_stationary_move(),
            stationary_secs: default_stationary_secs(),
            stationary_lost_secs: default_stationary_lost(),
            appearance: default_appearance(),
            appearance_margin: default_appearance_margin(),
        }
    }
}

/// Checked tracker settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackPlan {
    pub high_score: f32,
    pub low_score: f32,
    pub iou: f32,
    pub low_iou: f32,
    pub min_hits: u32,
    pub max_lost: Duration,
    pub stationary_move: f32,
    pub stationary_after: Duration,
    pub stationary_lost: Duration,
    pub appearance: bool,
    pub appearance_margin: f32,
}

impl Default for TrackPlan {
    fn default() -> Self {
        let c = TrackConfig::default();
        Self {
            high_score: *c.high_score.get_ref(),
            low_score: *c.low_score.get_ref(),
            iou: *c.iou.get_ref(),
            low_iou: *c.low_iou.get_ref(),
            min_hits: *c.min_hits.get_ref(),
            max_lost: Duration::from_secs_f64(*c.max_lost_secs.get_ref()),
            stationary_move: *c.stationary_move.get_ref(),
            stationary_after: Duration::from_secs_f64(*c.stationary_secs.get_ref()),
            stationary_lost: Duration::from_secs_f64(*c.stationary_lost_secs.get_ref()),
            appearance: *c.appearance.get_ref(),
            appearance_margin: *c.appearance_margin.get_ref(),
        }
    }
}

pub fn check(config: &TrackConfig, ctx: &mut Ctx<'_>) -> Option<TrackPlan> {
    let high_score = ctx.in_range(&config.high_score, 0.0..=1.0, "track.high_score");
    let low_score = ctx.in_range(&config.low_score, 0.0..=1.0, "track.low_score");
    if let (Some(high), Some(low)) = (high_score, low_score)
        && low > high
    {
        ctx.error(
            config.low_score.span(),
            format!("`track.low_score` ({low}) is above `track.high_score` ({high}); it must be at most that"),
        );
        return None;
    }
    let iou = ctx.in_range(&config.iou, 0.01..=1.0, "track.iou");
    let low_iou = ctx.in_range(&config.low_iou, 0.01..=1.0, "track.low_iou");
    let min_hits = ctx.in_range(&config.min_hits, 1..=100, "track.min_hits");
    let max_lost = ctx.in_range(&config.max_lost_secs, 0.0..=600.0, "track.max_lost_secs");
    let stationary_move = ctx.in_range(&config.stationary_move, 0.0..=1.0, "track.stationary_move");
    let stationary_secs = ctx.in_range(&config.stationary_secs, 0.1..=86_400.0, "track.stationary_secs");
    let stationary_lost = ctx.in_range(
        &config.stationary_lost_secs,
        0.0..=3_600.0,
        "track.stationary_lost_secs",
    );
    let appearance_margin = ctx.in_range(&config.appearance_margin, 0.0..=1.0, "track.appearance_margin");
    Some(TrackPlan {
        high_score: high_score?,
        low_score: low_score?,
        iou: iou?,
        low_iou: low_iou?,
        min_hits: min_hits?,
        max_lost: Duration::from_secs_f64(max_lost?),
        stationary_move: stationary_move?,
        stationary_after: Duration::from_secs_f64(stationary_secs?),
        stationary_lost: Duration::from_secs_f64(stationary_lost?),
        appearance: *config.appearance.get_ref(),
        appearance_margin: appearance_margin?,
    })
}
