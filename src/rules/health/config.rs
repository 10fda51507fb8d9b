//! `[cameras.health]` as written and as checked: the timing of the
//! camera's baseline (learn, adapt, relearn), `lost_secs`, and one table per
//! picture condition (`[cameras.health.covered]`, …) with the same four
//! keys: `enabled`, `min_secs`, `end_after_secs` and a `threshold` whose
//! meaning and range each condition gives ([`Condition::threshold`]).

use std::time::Duration;

use super::condition::{Condition, PICTURE};
use crate::config::Ctx;
use crate::config::Spanned;
use crate::config::table::{Checked, Secs, Unranged};
use crate::rules::incident::Severity;

crate::config::table! {
    /// `[cameras.health]`: the camera's picture and signal watched for
    /// tampering and faults. Present, it is on; every key has a default.
    pub struct HealthConfig in "health." => HealthPlan {
        /// Frames analysed per second, e.g. 5.0.
        pub analysis_fps: Spanned<f64> = 5.0, range 1.0..=30.0;
        /// Seconds of a steady picture before it becomes the camera's baseline
        /// (its brightness, sharpness and the reference view), e.g. 5.0.
        pub learn_secs: Spanned<Secs> = 5.0, range 1.0..=600.0;
        /// Time constant, in seconds, with which the baseline follows slow
        /// changes such as dusk and dawn while nothing is wrong, e.g. 300.0.
        pub adapt_secs: Spanned<f64> = 300.0, range 10.0..=86_400.0;
        /// Seconds after which a picture condition that still holds is taken as
        /// the camera's new normal: the baseline is learnt again and its
        /// incident ends, e.g. 1800.0.
        pub relearn_secs: Spanned<Secs> = 1800.0, range 10.0..=604_800.0;
        /// Seconds without a frame (a stalled stream, reconnecting, failed)
        /// before `signal_lost` starts, e.g. 20.0.
        pub lost_secs: Spanned<Secs> = 20.0, range 1.0..=3600.0;
        /// Severity of health incidents, e.g. "high".
        pub severity: Severity = Severity::High;
        /// The picture loses almost all structure (a cloth, paint, a hand).
        pub covered: ConditionConfig;
        /// Sharpness collapses against the learnt baseline (defocused, smeared).
        pub blurred: ConditionConfig;
        /// The view no longer matches the reference (turned, knocked).
        pub moved: ConditionConfig;
        /// Brightness drops far below the baseline (blinded, lights off).
        pub too_dark: ConditionConfig;
        /// Much of the picture is saturated (a torch, a laser pointer).
        pub too_bright: ConditionConfig;
        /// The stream delivers the same picture over and over.
        pub frozen: ConditionConfig;
    }
}

crate::config::table! {
    /// One condition's table, e.g. `[cameras.health.blurred]`.
    pub struct ConditionConfig in "health." {
        /// Whether the condition raises incidents, e.g. true.
        pub enabled: Spanned<bool> = true;
        /// Seconds the condition must hold before its incident starts, e.g. 3.0.
        pub min_secs: Option<Spanned<f64>>;
        /// Seconds the picture must be normal again before the incident ends, e.g. 2.0.
        pub end_after_secs: Option<Spanned<f64>>;
        /// The condition's threshold (its meaning: docs/rules.md), e.g. 0.5.
        pub threshold: Option<Spanned<f64>>;
    }
}

/// One condition, checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConditionPlan {
    pub enabled: bool,
    pub min: Duration,
    pub end_after: Duration,
    pub threshold: f64,
}

impl HealthPlan {
    /// The plan of picture condition `c` (never `SignalLost`).
    pub fn condition(&self, c: Condition) -> &ConditionPlan {
        match c {
            Condition::Covered | Condition::SignalLost => &self.covered,
            Condition::Blurred => &self.blurred,
            Condition::Moved => &self.moved,
            Condition::TooDark => &self.too_dark,
            Condition::TooBright => &self.too_bright,
            Condition::Frozen => &self.frozen,
        }
    }
}

/// A condition's `end_after_secs` when it is not written.
const END_AFTER_SECS: f64 = 2.0;

/// A value of `key`, or its default, in `range`; errors name the camera.
fn value(
    ctx: &mut Ctx<'_>,
    written: &Option<Spanned<f64>>,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
    key: &str,
) -> Option<f64> {
    match written {
        Some(v) => ctx.in_range(v, range, key),
        None => Some(default),
    }
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v)
}

/// A condition's table, checked with the defaults and the threshold's
/// range of the condition it is named after (`key`, e.g. `health.covered`).
impl Unranged for ConditionConfig {
    type Value = ConditionPlan;

    fn value(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<ConditionPlan> {
        let condition = PICTURE
            .into_iter()
            .find(|c| key.strip_prefix("health.") == Some(c.name()))
            .expect("[cameras.health] names each condition's table as the condition");
        let t = condition.threshold();
        let min = value(
            ctx,
            &self.min_secs,
            t.min_secs,
            0.0..=3600.0,
            &format!("{key}.min_secs"),
        );
        let end = value(
            ctx,
            &self.end_after_secs,
            END_AFTER_SECS,
            0.0..=3600.0,
            &format!("{key}.end_after_secs"),
        );
        let threshold = value(ctx, &self.threshold, t.default, t.range, &format!("{key}.threshold"));
        Some(ConditionPlan {
            enabled: *self.enabled.get_ref(),
            min: secs(min?),
            end_after: secs(end?),
            threshold: threshold?,
        })
    }
}

/// Checks `[cameras.health]` of camera `camera`; every problem goes to `ctx`.
pub fn check(camera: &str, config: &HealthConfig, ctx: &mut Ctx<'_>) -> Option<HealthPlan> {
    let plan = config.checked(ctx);
    // (the default is above every `learn_secs`: only a written one is below)
    let timing = |ctx: &mut Ctx<'_>| config.learn_secs(ctx).zip(config.relearn_secs(ctx));
    let odd = ctx.at_odds(timing, |learn, relearn| {
        let (learn_secs, relearn_secs) = (config.learn_secs.get_ref().0, config.relearn_secs.get_ref().0);
        let says = format!(
            "camera `{camera}`: `health.relearn_secs` ({relearn_secs}) must be above `health.learn_secs` ({learn_secs}), \
             or a condition could never be seen before it became the new normal"
        );
        (relearn <= learn).then(|| (config.relearn_secs.span(), says))
    });
    if odd { None } else { plan }
}
