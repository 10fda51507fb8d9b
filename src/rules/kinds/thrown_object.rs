//! Rule kind `thrown_object`: an object thrown or dropped from height down a
//! façade. No detector knows such objects, so this kind watches motion, not
//! detections: its [`State`] asks for a motion branch ([`RuleState::pixel_watch`]),
//! the engine feeds it grayscale frames through `RuleEngine::step_motion` at
//! the camera's frame rate, and it analyses its zone at most `analysis_fps`
//! times a second with the blob tracker in [`crate::rules::blobs`].
//!
//! A path counts as a throw when it is a fall: a small blob (between
//! `min_blob_px` and `max_blob_px`) followed for at least `min_points`
//! frames, moving down without ever going back up, over at least
//! `min_drop_heights` of the frame, along a parabola y(t) = a t² + b t + c
//! whose downward acceleration 2a lies between `min_accel_heights_per_s2`
//! and `max_accel_heights_per_s2` (gravity as seen on this façade), with the
//! curvature clearly above the fit's noise, and a sideways motion that is a
//! straight line. How the look-alikes fail:
//!
//! - a bird flaps up and down and turns (points go up: not monotone; or the
//!   path is erratic: large residuals), or glides at a steady speed (no
//!   acceleration);
//! - rain and snow are many tiny streaks at once (more than `max_blobs`
//!   moving blobs: the frame is skipped) falling at a constant terminal
//!   speed (no acceleration);
//! - a light switched on in a window is a blob that appears and stays: it
//!   does not move, so it never drops (and a whole window is usually larger
//!   than `max_blob_px`).
//!
//! The incident's target carries the path (`trajectory`, normalised points);
//! the snapshot strip of that path is left to the integrator, through the
//! same redaction as every snapshot.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Checked, Ctx, Spanned};
use crate::rules::blobs::{self, BlobPath, GrayFrame, MotionAnalyser, MotionParams};
use crate::rules::common::RuleCommon;
use crate::rules::incident::{Target, TrajectoryPoint};
use crate::rules::kind::{Kind, KindConfig, Labels, PixelWatch, RuleState};
use crate::rules::zone::Zone;
use crate::vocab::BBox;

impl KindConfig for Config {
    const KIND: Kind = Kind::area("safety").labels(Labels::Unused);

    /// The most acceleration must be above the least, and the largest blob
    /// at least the smallest.
    fn check(&self, _common: &RuleCommon, owner: &str, ctx: &mut Ctx<'_>) -> Option<Plan> {
        let plan = self.checked(ctx);
        let accel = |ctx: &mut Ctx<'_>| {
            self.min_accel_heights_per_s2(ctx)
                .zip(self.max_accel_heights_per_s2(ctx))
        };
        let odd = ctx.at_odds(accel, |lo, hi| {
            let says =
                format!("{owner}: `max_accel_heights_per_s2` ({hi}) must be above `min_accel_heights_per_s2` ({lo})");
            (lo >= hi).then(|| (self.max_accel_heights_per_s2.span(), says))
        });
        let blob = |ctx: &mut Ctx<'_>| self.min_blob_px(ctx).zip(self.max_blob_px(ctx));
        let odd = odd
            || ctx.at_odds(blob, |lo, hi| {
                let says = format!("{owner}: `max_blob_px` ({hi}) must be at least `min_blob_px` ({lo})");
                (lo > hi).then(|| (self.max_blob_px.span(), says))
            });
        if odd { None } else { plan }
    }
}

/// Label of the targets this kind raises.
pub const LABEL: &str = "thrown_object";

/// Width of the grayscale frames the camera's motion branch delivers (the
/// height follows the source's shape); blob sizes are pixels of such a frame.
pub const ANALYSIS_WIDTH: u32 = 640;

/// Track ids of thrown objects, kept apart from the tracker's.
const ID_BASE: u64 = 1 << 62;

crate::config::table! {
    /// The keys of a `thrown_object` rule beside the common ones.
    pub struct Config in "" => Plan {
        /// Frames per second analysed in the zone; the camera's full rate is
        /// best (a fall lasts a second or two), e.g. 25.0.
        pub analysis_fps: Spanned<f64> = 25.0, range 1.0..=120.0;
        /// Least downward acceleration, in frame heights per second², e.g. 0.2.
        /// Gravity is 9.8 m/s²; on a façade whose visible height is H metres it
        /// is 9.8 / H frame heights per s² (30 m: 0.33), less air drag.
        pub min_accel_heights_per_s2: Spanned<f64> = 0.2, range 0.0..=100.0;
        /// Most downward acceleration, in frame heights per second², e.g. 3.0.
        pub max_accel_heights_per_s2: Spanned<f64> = 4.0, range 0.01..=100.0;
        /// Least area of a moving blob, in pixels of the analysed frame, e.g. 4.
        pub min_blob_px: Spanned<u32> = 4, range 1..=100_000;
        /// Most area of a moving blob, in pixels; larger ones are people, lit
        /// windows, curtains, e.g. 600.
        pub max_blob_px: Spanned<u32> = 600, range 1..=1_000_000;
        /// More moving blobs than this at once is rain, snow or a shaking
        /// camera, and the frame is skipped, e.g. 12.
        pub max_blobs: Spanned<u32> = 12, range 1..=64;
        /// Least change of brightness (0–255) against the background that is motion, e.g. 25.
        pub diff_threshold: Spanned<u8> = 25, range 1..=254;
        /// Least number of analysed frames a path must span, e.g. 6.
        pub min_points: Spanned<u32> = 6, range 4..=blobs::MAX_POINTS as u32;
        /// Least drop of a path, in frame heights, e.g. 0.1.
        pub min_drop_heights: Spanned<f64> = 0.1, range 0.0..=1.0;
    }
}

/// The motion analysis a plan asks for.
fn motion(plan: &Plan) -> MotionParams {
    MotionParams {
        diff_threshold: plan.diff_threshold,
        min_blob_px: plan.min_blob_px,
        max_blob_px: plan.max_blob_px,
        max_blobs: plan.max_blobs as usize,
        max_missed: 2,
    }
}

/// Why a path is not a throw (None: it is one), for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Throw,
    TooShort,
    GoesUp,
    TooLittleDrop,
    Erratic,
    NoAcceleration,
    WrongAcceleration,
}

/// Judges a blob's path against the plan, in a frame `height` pixels tall.
pub fn judge(plan: &Plan, path: &BlobPath, height: u32) -> Verdict {
    let points = &path.points;
    if points.len() < plan.min_points as usize {
        return Verdict::TooShort;
    }
    let h = f64::from(height.max(1));
    // jitter allowance: a blob's centre wobbles by about a pixel
    let jitter = 1.5f32;
    if points.windows(2).any(|w| w[1].blob.y < w[0].blob.y - jitter) {
        return Verdict::GoesUp;
    }
    let (first, last) = (&points[0], &points[points.len() - 1]);
    if f64::from(last.blob.y - first.blob.y) < plan.min_drop_heights * h {
        return Verdict::TooLittleDrop;
    }
    let Some(fit) = blobs::fit(points) else {
        return Verdict::TooShort;
    };
    let noise = (h * 0.01).max(1.5);
    if fit.y_rms > noise || fit.x_rms > noise {
        return Verdict::Erratic;
    }
    // how far the parabola bends away from a straight fall over the path
    let span = last.secs - first.secs;
    let bend = fit.a * span * span / 4.0;
    if bend < (3.0 * fit.y_rms).max(2.0) {
        return Verdict::NoAcceleration;
    }
    let accel = 2.0 * fit.a / h;
    if accel < plan.min_accel_heights_per_s2 || accel > plan.max_accel_heights_per_s2 {
        return Verdict::WrongAcceleration;
    }
    Verdict::Throw
}

/// A path judged a throw, while it lasts.
#[derive(Debug)]
struct Raised {
    id: u64,
    trajectory: Arc<[TrajectoryPoint]>,
}

#[derive(Debug, Default)]
pub struct State {
    analyser: Option<MotionAnalyser>,
    next_due: Option<Duration>,
    raised: Vec<Raised>,
}

/// This kind does nothing with tracks: it watches pixels, fed frames through
/// [`RuleState::analyse`].
impl RuleState for State {
    type Plan = Plan;

    /// Frames `ANALYSIS_WIDTH` wide, at `analysis_fps`.
    fn pixel_watch(plan: &Plan) -> Option<PixelWatch> {
        Some(PixelWatch {
            fps: plan.analysis_fps,
            width: ANALYSIS_WIDTH,
        })
    }

    /// Whether `track_id` is a thrown object still followed.
    fn follows(&self, track_id: u64) -> bool {
        self.raised.iter().any(|r| r.id == track_id)
    }

    /// Analyses one frame if it is due at `analysis_fps`; pushes the thrown
    /// objects in sight. Returns false when the frame was not analysed (not
    /// due, or unusable), so the incident lifecycle is not stepped.
    fn analyse(&mut self, plan: &Plan, zone: &Zone, frame: &GrayFrame<'_>, out: &mut Vec<Target>) -> bool {
        let Some(polygon) = zone.polygon() else {
            return false;
        };
        let now = frame.pts;
        // frames are analysed on a grid of 1 / analysis_fps, with a little
        // slack for timestamps rounded to the millisecond
        let period = Duration::from_secs_f64(1.0 / plan.analysis_fps);
        let slack = Duration::from_millis(2);
        match self.next_due {
            Some(due) if now + slack < due => return false,
            // a gap in the stream: start the grid again
            Some(due) if now < due + period => self.next_due = Some(due + period),
            _ => self.next_due = Some(now + period),
        }
        let analyser = self
            .analyser
            .get_or_insert_with(|| MotionAnalyser::new(motion(plan), polygon.clone()));
        if !analyser.analyse(frame) {
            self.raised.clear();
            return true;
        }
        let (width, height) = analyser.frame_size();
        self.raised.retain(|r| analyser.paths().any(|p| ID_BASE + p.id == r.id));
        for path in analyser.paths_mut() {
            if !path.flagged && path.missed == 0 && judge(plan, path, height) == Verdict::Throw {
                path.flagged = true;
                // built once per throw, not per frame
                let trajectory: Arc<[TrajectoryPoint]> = path
                    .points
                    .iter()
                    .map(|p| TrajectoryPoint {
                        secs: p.secs,
                        x: p.blob.x / width as f32,
                        y: p.blob.y / height as f32,
                    })
                    .collect();
                self.raised.push(Raised {
                    id: ID_BASE + path.id,
                    trajectory,
                });
            }
        }
        for r in &self.raised {
            let Some(path) = analyser.paths().find(|p| ID_BASE + p.id == r.id) else {
                continue;
            };
            let Some(last) = path.last() else {
                continue;
            };
            let b = last.blob;
            let (fw, fh) = (width as f32, height as f32);
            out.push(Target {
                track_id: r.id,
                label: LABEL.into(),
                score: 1.0,
                bbox: BBox {
                    x1: b.x0 as f32 / fw,
                    y1: b.y0 as f32 / fh,
                    x2: (b.x1 + 1) as f32 / fw,
                    y2: (b.y1 + 1) as f32 / fh,
                },
                trajectory: Some(r.trajectory.clone()),
            });
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::geometry::Polygon;
    use crate::rules::zone::Shape;

    const W: u32 = 160;
    const H: u32 = 240;
    const FPS: f64 = 25.0;

    /// The defaults (25 frames a second, as `FPS`).
    fn plan() -> Plan {
        Plan::default()
    }

    fn facade() -> Zone {
        Zone {
            name: "facade".into(),
            shape: Shape::Polygon(Polygon::new(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).unwrap()),
        }
    }

    /// A static façade: a brick-ish texture with dark windows.
    fn background(buf: &mut [u8]) {
        for y in 0..H {
            for x in 0..W {
                let window = (x % 40) > 10 && (x % 40) < 30 && (y % 60) > 15 && (y % 60) < 45;
                let v = if window { 30 } else { 90 + ((x * 7 + y * 13) % 17) as u8 };
                buf[(y * W + x) as usize] = v;
            }
        }
    }

    fn square(buf: &mut [u8], cx: f64, cy: f64, half: i64, value: u8) {
        for y in (cy as i64 - half)..=(cy as i64 + half) {
            for x in (cx as i64 - half)..=(cx as i64 + half) {
                if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
                    buf[(y as u32 * W + x as u32) as usize] = value;
                }
            }
        }
    }

    /// Runs `frames` frames drawn by `draw(frame index, secs, buffer)` through
    /// the kind; returns what it raised on each frame.
    fn raised(frames: usize, mut draw: impl FnMut(usize, f64, &mut [u8])) -> Vec<Vec<Target>> {
        let plan = plan();
        let zone = facade();
        let mut state = State::new(&plan);
        let mut buf = vec![0u8; (W * H) as usize];
        let mut raised = Vec::new();
        for i in 0..frames {
            let t = i as f64 / FPS;
            background(&mut buf);
            draw(i, t, &mut buf);
            let frame = GrayFrame {
                width: W,
                height: H,
                stride: W as usize,
                data: &buf,
                pts: Duration::from_secs_f64(t),
            };
            let mut out = Vec::new();
            state.analyse(&plan, &zone, &frame, &mut out);
            raised.push(out);
        }
        raised
    }

    /// The frame indices with a thrown object in sight.
    fn run(frames: usize, draw: impl FnMut(usize, f64, &mut [u8])) -> Vec<usize> {
        let raised = raised(frames, draw);
        (0..raised.len()).filter(|&i| !raised[i].is_empty()).collect()
    }

    /// From 0.4 s: dropped from (x0, 20) with sideways speed vx and
    /// downward acceleration `g` px/s².
    fn falling(x0: f64, vx: f64, g: f64) -> impl FnMut(usize, f64, &mut [u8]) {
        move |_, t, buf| {
            let t = t - 0.4;
            if t >= 0.0 {
                square(buf, x0 + vx * t, 20.0 + 0.5 * g * t * t, 2, 230);
            }
        }
    }

    #[test]
    fn an_object_falling_under_gravity_is_a_throw_with_its_trajectory() {
        // 240 px/s² on a 240 px frame: 1 frame height per s², a 10 m façade
        let raised = raised(40, falling(50.0, 20.0, 240.0));
        let target = raised.into_iter().flatten().next().expect("the throw was missed");
        assert_eq!(&*target.label, LABEL);
        let path = target.trajectory.unwrap();
        assert!(path.len() >= 6);
        assert!(path.windows(2).all(|w| w[1].y >= w[0].y), "it falls");
    }

    #[test]
    fn sideways_at_constant_speed_is_no_throw() {
        assert!(run(50, |_, t, buf| square(buf, 10.0 + 100.0 * t, 100.0, 2, 230)).is_empty());
    }

    #[test]
    fn a_bird_flapping_or_gliding_is_no_throw() {
        // flapping: a wavy path that goes up and down while crossing
        let flap = |_: usize, t: f64, buf: &mut [u8]| {
            square(buf, 10.0 + 90.0 * t, 80.0 + 40.0 * t + 12.0 * (t * 12.0).sin(), 2, 20);
        };
        assert!(run(50, flap).is_empty());
        // gliding down at a steady speed
        assert!(run(40, |_, t, buf| square(buf, 20.0 + 60.0 * t, 20.0 + 120.0 * t, 2, 20)).is_empty());
        // climbing away
        assert!(
            run(40, |_, t, buf| square(
                buf,
                20.0 + 60.0 * t,
                200.0 - 0.5 * 240.0 * t * t,
                2,
                20
            ))
            .is_empty()
        );
    }

    #[test]
    fn rain_is_no_throw() {
        // thirty streaks falling at a constant terminal speed, wrapping round
        let rain = |_: usize, t: f64, buf: &mut [u8]| {
            for k in 0..30 {
                let x = (k * 37 % W as usize) as f64 + 2.0;
                let y = ((k * 53) as f64 + 400.0 * t) % f64::from(H);
                square(buf, x, y, 1, 200);
            }
        };
        assert!(run(50, rain).is_empty());
        // even a single drop, steady speed, no acceleration
        assert!(run(30, |_, t, buf| square(buf, 80.0, 10.0 + 300.0 * t, 1, 200)).is_empty());
    }

    #[test]
    fn a_light_switching_on_in_a_window_is_no_throw() {
        let light = |i: usize, _: f64, buf: &mut [u8]| {
            if i >= 10 {
                // a small lamp (fits under max_blob_px) and a whole window lit up
                square(buf, 100.0, 100.0, 3, 250);
                for y in 76..104 {
                    for x in 51..69 {
                        buf[(y * W + x) as usize] = 240;
                    }
                }
            }
        };
        assert!(run(60, light).is_empty());
    }

    #[test]
    fn analysis_fps_thins_the_frames_analysed() {
        let mut plan = plan();
        plan.analysis_fps = 10.0;
        let zone = facade();
        let mut state = State::new(&plan);
        let buf = vec![50u8; (W * H) as usize];
        let mut analysed = 0;
        for i in 0..50 {
            let frame = GrayFrame {
                width: W,
                height: H,
                stride: W as usize,
                data: &buf,
                pts: Duration::from_secs_f64(i as f64 / FPS),
            };
            analysed += usize::from(state.analyse(&plan, &zone, &frame, &mut Vec::new()));
        }
        assert_eq!(analysed, 20, "2 s at 10 fps");
    }
}
