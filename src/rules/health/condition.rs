//! The health conditions a camera can be in, their names (the incident's
//! label and the status topic's words) and what each one's `threshold`
//! means; [`Conditions`] is a set of them, small enough to share through an
//! atomic.

use std::ops::RangeInclusive;

/// One thing wrong with a camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Condition {
    /// No frame for `lost_secs`.
    SignalLost = 0,
    Covered = 1,
    Blurred = 2,
    Moved = 3,
    TooDark = 4,
    TooBright = 5,
    Frozen = 6,
}

/// Every condition, signal first.
pub const ALL: [Condition; 7] = [
    Condition::SignalLost,
    Condition::Covered,
    Condition::Blurred,
    Condition::Moved,
    Condition::TooDark,
    Condition::TooBright,
    Condition::Frozen,
];

/// The conditions judged on the picture, in the order of their plans: all
/// but the signal.
pub const PICTURE: [Condition; ALL.len() - 1] = {
    let mut picture = [Condition::Frozen; ALL.len() - 1];
    let mut i = 0;
    while i < picture.len() {
        picture[i] = ALL[i + 1];
        i += 1;
    }
    picture
};

/// What a picture condition's `threshold` is, its default and its range.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub default: f64,
    pub range: RangeInclusive<f64>,
    /// Default of `min_secs`.
    pub min_secs: f64,
}

impl Condition {
    /// The condition's name: the incident's label, the status topic's word
    /// and the key of its table in `[cameras.health]`.
    pub fn name(self) -> &'static str {
        match self {
            Self::SignalLost => "signal_lost",
            Self::Covered => "covered",
            Self::Blurred => "blurred",
            Self::Moved => "moved",
            Self::TooDark => "too_dark",
            Self::TooBright => "too_bright",
            Self::Frozen => "frozen",
        }
    }

    /// Its position in [`PICTURE`]; None for `SignalLost`.
    pub fn picture_index(self) -> Option<usize> {
        (self as usize).checked_sub(1)
    }

    /// What its `threshold` key holds (documented in docs/rules.md):
    /// - covered: least share of the picture without structure;
    /// - blurred: sharpness below this share of the baseline's;
    /// - moved: similarity to the reference view below this;
    /// - too_dark: brightness below this share of the baseline's;
    /// - too_bright: least share of saturated pixels;
    /// - frozen: most mean change between analysed frames, in grey levels.
    pub fn threshold(self) -> Threshold {
        let (default, range, min_secs) = match self {
            Self::Covered => (0.85, 0.3..=1.0, 2.0),
            Self::Blurred => (0.5, 0.05..=0.95, 3.0),
            Self::Moved => (0.7, 0.0..=0.99, 3.0),
            Self::TooDark => (0.4, 0.05..=0.95, 3.0),
            Self::TooBright => (0.5, 0.05..=1.0, 3.0),
            Self::Frozen => (0.05, 0.0..=10.0, 3.0),
            Self::SignalLost => (0.0, 0.0..=0.0, 0.0),
        };
        Threshold {
            default,
            range,
            min_secs,
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of conditions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions(u8);

impl Conditions {
    pub const NONE: Self = Self(0);

    pub fn from_bits(bits: u8) -> Self {
        Self(bits & 0x7f)
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn contains(self, c: Condition) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn set(&mut self, c: Condition, on: bool) {
        if on {
            self.0 |= c.bit();
        } else {
            self.0 &= !c.bit();
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the conditions in the set, in [`ALL`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ALL.into_iter().filter(move |c| self.contains(*c)).map(Condition::name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_keeps_its_conditions_and_names_them_in_order() {
        let mut set = Conditions::NONE;
        set.set(Condition::Frozen, true);
        set.set(Condition::SignalLost, true);
        set.set(Condition::Covered, true);
        set.set(Condition::Covered, false);
        assert_eq!(set.names().collect::<Vec<_>>(), ["signal_lost", "frozen"]);
        assert_eq!(Conditions::from_bits(set.bits()), set);
        assert!(PICTURE.iter().enumerate().all(|(i, c)| c.picture_index() == Some(i)));
        assert_eq!(Condition::SignalLost.picture_index(), None);
    }

    #[test]
    fn every_default_threshold_lies_in_its_range() {
        for c in PICTURE {
            let t = c.threshold();
            assert!(t.range.contains(&t.default), "{}", c.name());
        }
    }
}
