//! The camera's own normal: what its picture looks like when nothing is
//! wrong. It is learnt from a steady picture (`learn_secs` of frames that
//! all look like one view), then follows slow changes — dusk, dawn, the
//! seasons — with the time constant `adapt_secs`, but only while no
//! condition holds, so a tamper is never learnt as normal (until
//! `relearn_secs` says it is the new normal and the watch starts over).

use std::time::Duration;

use super::measure::{Measures, THUMB, similarity};

/// Two frames this similar (or more) show one view, for learning.
const STEADY: f64 = 0.85;
/// Weight of each new frame in the view being learnt.
const LEARN_BLEND: f32 = 0.2;

/// The learnt figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    pub mean: f64,
    pub saturated: f64,
    pub flat: f64,
    pub sharpness: f64,
    /// Share of analysed frames that differ from the one before by more
    /// than the frozen threshold (near 1 for a real camera's noise).
    pub changing: f64,
}

#[derive(Debug)]
pub struct Baseline {
    learnt: bool,
    steady_for: Duration,
    /// The view being learnt, then the reference view.
    view: [f32; THUMB],
    figures: Figures,
    /// Frames summed while learning, and how many had a change.
    frames: f64,
    changes: f64,
}

impl Default for Baseline {
    fn default() -> Self {
        Self {
            learnt: false,
            steady_for: Duration::ZERO,
            view: [0.0; THUMB],
            figures: Figures::default(),
            frames: 0.0,
            changes: 0.0,
        }
    }
}

impl Baseline {
    /// The learnt figures and reference view; None while learning.
    pub fn learnt(&self) -> Option<(&Figures, &[f32; THUMB])> {
        self.learnt.then_some((&self.figures, &self.view))
    }

    /// Forgets everything; learning starts again with the next frame.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Learns from one frame (`dt` after the previous one); `changed` says
    /// whether it differs from the previous frame by more than the frozen
    /// threshold (None for the first frame).
    pub fn learn(&mut self, m: &Measures, changed: Option<bool>, dt: Duration, learn_for: Duration) {
        if self.learnt {
            return;
        }
        let steady = self.frames > 0.0 && similarity(&m.thumb, &self.view) >= STEADY;
        if !steady {
            // a new view (or the first frame): start learning it
            *self = Self::default();
            self.view = m.thumb;
        } else {
            self.steady_for += dt;
            for (v, &t) in self.view.iter_mut().zip(&m.thumb) {
                *v += (t - *v) * LEARN_BLEND;
            }
        }
        self.frames += 1.0;
        let f = &mut self.figures;
        let w = 1.0 / self.frames;
        f.mean += (m.mean - f.mean) * w;
        f.saturated += (m.saturated - f.saturated) * w;
        f.flat += (m.flat - f.flat) * w;
        f.sharpness += (m.sharpness - f.sharpness) * w;
        if let Some(changed) = changed {
            self.changes += 1.0;
            f.changing += (f64::from(u8::from(changed)) - f.changing) / self.changes;
        }
        self.learnt = self.steady_for >= learn_for && self.changes > 0.0;
    }

    /// Follows a normal frame, `dt` after the previous one, with time constant `tau_secs`.
    pub fn adapt(&mut self, m: &Measures, changed: Option<bool>, dt: Duration, tau_secs: f64) {
        if !self.learnt {
            return;
        }
        let a = (dt.as_secs_f64() / tau_secs).min(1.0);
        let f = &mut self.figures;
        f.mean += (m.mean - f.mean) * a;
        f.saturated += (m.saturated - f.saturated) * a;
        f.flat += (m.flat - f.flat) * a;
        f.sharpness += (m.sharpness - f.sharpness) * a;
        if let Some(changed) = changed {
            f.changing += (f64::from(u8::from(changed)) - f.changing) * a;
        }
        let a = a as f32;
        for (v, &t) in self.view.iter_mut().zip(&m.thumb) {
            *v += (t - *v) * a;
        }
    }
}
