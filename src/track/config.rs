//! `[cameras.track]`: the tracker's settings as written ([`TrackConfig`]),
//! checked into the [`TrackPlan`] the tracker runs with.

use crate::config::{Checked, Ctx, Secs, Spanned};

crate::config::table! {
    /// `[cameras.track]`.
    pub struct TrackConfig in "track." => #[derive(Copy)] TrackPlan {
        /// Detections scoring at least this are matched first and may start a
        /// track, e.g. 0.5. Set the model's `confidence` lower than this to let
        /// weaker boxes keep partly hidden objects on their tracks.
        pub high_score: Spanned<f32> = 0.5, range 0.0..=1.0;
        /// Weaker detections down to this only continue existing tracks, e.g. 0.1.
        pub low_score: Spanned<f32> = 0.1, range 0.0..=1.0;
        /// Least overlap (IoU) between a strong detection and a track's predicted
        /// box for them to match, e.g. 0.3.
        pub iou: Spanned<f32> = 0.3, range 0.01..=1.0;
        /// Least overlap for a weak detection, stricter because it is less sure, e.g. 0.5.
        pub low_iou: Spanned<f32> = 0.5, range 0.01..=1.0;
        /// Consecutive matches before a track counts, e.g. 2 (filters one-frame flickers).
        pub min_hits: Spanned<u32> = 2, range 1..=100;
        /// Seconds a confirmed track is kept unseen (occlusion), e.g. 1.5.
        pub max_lost_secs: Spanned<Secs> = 1.5, range 0.0..=600.0;
        /// How far the box centre may wander, as a fraction of the frame, and the
        /// object still count as standing still, e.g. 0.02.
        pub stationary_move: Spanned<f32> = 0.02, range 0.0..=1.0;
        /// Seconds an object must stay within `stationary_move` to be stationary, e.g. 10.0.
        pub stationary_secs: Spanned<Secs> = 10.0, range 0.1..=86_400.0;
        /// Seconds a stationary track is kept unseen, e.g. 60.0: a parked car or
        /// a bicycle left standing that something passes in front of is still
        /// there, and keeping its track keeps its incident one incident.
        pub stationary_lost_secs: Spanned<Secs> = 60.0, range 0.0..=3_600.0;
        /// Whether what a box looks like (a coarse colour histogram of its upper
        /// and lower half, read from the frame and kept only while its track
        /// lives) helps decide which track takes which box where boxes meet,
        /// e.g. true: two people passing each other on a counting line keep
        /// their own tracks. It never leaves the tracker.
        pub appearance: Spanned<bool> = true;
        /// How much more alike (0 to 1, per track) boxes must look to tracks
        /// than the boxes the tracks' positions gave them for the tracker to
        /// hand them over, e.g. 0.1.
        pub appearance_margin: Spanned<f32> = 0.1, range 0.0..=1.0;
    }
}

/// Checks `[cameras.track]`: `low_score` at most `high_score` (and if not,
/// nothing else), then each key in its range.
pub fn check(config: &TrackConfig, ctx: &mut Ctx<'_>) -> Option<TrackPlan> {
    let scores = ctx.quiet(|ctx| config.high_score(ctx).zip(config.low_score(ctx)));
    if let Some((high, low)) = scores
        && low > high
    {
        ctx.error(
            config.low_score.span(),
            format!("`track.low_score` ({low}) is above `track.high_score` ({high}); it must be at most that"),
        );
        return None;
    }
    config.checked(ctx)
}
