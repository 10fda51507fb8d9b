//! [`table!`]: a config table said once. Each key is declared with its
//! `///` doc (with an example), its type, its default (or `#[required]`)
//! and, for a number, the range it must lie in; from that one description
//! the macro derives the struct (serde, `deny_unknown_fields`), its
//! defaults (the same values serde fills in for a missing key, and that the
//! JSON Schema shows, through `schemars`), the list of its keys (`KEYS`),
//! and for each ranged key a method of the same name that returns the
//! checked value or reports
//! ``file:line:col: `key` is v, out of range; use a value from lo to hi``.
//!
//! A table whose keys all have defaults gets serde's whole-table default and
//! a `Default`. A table with a `#[required]` key gets one default per
//! optional key and no `Default`, so a missing required key is serde's own
//! located "missing field" error. serde takes a per-key default as a
//! function's path in a string, which `macro_rules!` cannot write; the
//! attribute [`table_keys`] (crate `watchpost-macros`) writes those.
//!
//! ```ignore
//! crate::config::table! {
//!     /// `[cameras.detect]`.
//!     pub struct DetectConfig in "detect." {
//!         /// Name of a model under `[models]`, e.g. "coco".
//!         #[required]
//!         pub model: Spanned<String>;
//!         /// Frames per second sent to the detector, e.g. 5.
//!         pub fps: Spanned<u32> = 5, range 1..=60;
//!     }
//! }
//! // in the check: `let fps = config.fps(ctx);` (an `Option<u32>`)
//! ```

use std::fmt;
use std::ops::RangeInclusive;

use super::ctx::Ctx;
use super::spanned::Spanned;

/// A key's default as written in its table: `0.5` for a `Spanned<f32>`
/// (at span `0..0`, which says "not written"), `true` for a `bool`, any
/// value for a key of its own type.
pub trait Fallback<V> {
    fn fallback(value: V) -> Self;
}

impl<T> Fallback<T> for Spanned<T> {
    fn fallback(value: T) -> Self {
        Spanned::new(0..0, value)
    }
}

impl Fallback<&str> for Spanned<String> {
    fn fallback(value: &str) -> Self {
        Spanned::new(0..0, value.to_string())
    }
}

impl<T> Fallback<T> for T {
    fn fallback(value: T) -> Self {
        value
    }
}

/// A key that can be checked against a range: a value, or an optional one
/// (checked when written, `Some(None)` when not).
pub trait InRange {
    type Bound: PartialOrd + Copy + fmt::Display;
    type Checked;
    fn in_range(&self, ctx: &mut Ctx<'_>, range: RangeInclusive<Self::Bound>, key: &str) -> Option<Self::Checked>;
}

impl<T: PartialOrd + Copy + fmt::Display> InRange for Spanned<T> {
    type Bound = T;
    type Checked = T;
    fn in_range(&self, ctx: &mut Ctx<'_>, range: RangeInclusive<T>, key: &str) -> Option<T> {
        ctx.in_range(self, range, key)
    }
}

impl<T: PartialOrd + Copy + fmt::Display> InRange for Option<Spanned<T>> {
    type Bound = T;
    type Checked = Option<T>;
    fn in_range(&self, ctx: &mut Ctx<'_>, range: RangeInclusive<T>, key: &str) -> Option<Option<T>> {
        match self {
            Some(value) => ctx.in_range(value, range, key).map(Some),
            None => Some(None),
        }
    }
}

/// Declares a config table (module doc).
///
/// `$prefix` is what the key's name follows in messages (`"track."`, or
/// `""` for a rule's own keys). A key without `= default` defaults to its
/// type's `Default` (`None`, `false`, empty), unless marked `#[required]`.
#[macro_export]
macro_rules! config_table {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $prefix:literal {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $ty:ty $(= $default:expr)? $(, range $range:expr)? ;
            )*
        }
    ) => {
        #[$crate::config::table::table_keys]
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            $(
                $(#[$fmeta])*
                #[key_default $(($crate::config::table::Fallback::fallback($default)))?]
                $fvis $field: $ty,
            )*
        }

        #[allow(dead_code)]
        impl $name {
            $($(
                #[doc = concat!("`", $prefix, stringify!($field), "` checked against its range (an error reported where it is not).")]
                $fvis fn $field(
                    &self,
                    ctx: &mut $crate::config::Ctx<'_>,
                ) -> Option<<$ty as $crate::config::table::InRange>::Checked> {
                    $crate::config::table::InRange::in_range(
                        &self.$field,
                        ctx,
                        $range,
                        concat!($prefix, stringify!($field)),
                    )
                }
            )?)*
        }
    };
}

pub use crate::config_table as table;
pub use watchpost_macros::table_keys;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Diagnostics, SourceFile};

    crate::config_table! {
        /// A table for the test.
        pub struct Sample in "sample." {
            /// A ranged number.
            pub ratio: Spanned<f32> = 0.5, range 0.0..=1.0;
            /// An optional ranged number.
            pub limit: Option<Spanned<u64>>, range 10..=20;
            /// A flag.
            pub on: bool = true;
            /// A text.
            pub name: Spanned<String> = "gate";
        }
    }

    crate::config_table! {
        /// A table with a required key.
        pub struct Strict in "strict." {
            /// Required.
            #[required]
            pub model: Spanned<String>;
            /// Renamed, with the type's default.
            #[serde(rename = "loop")]
            pub looping: bool;
            /// A ranged number.
            pub fps: Spanned<u32> = 5, range 1..=60;
        }
    }

    #[test]
    fn a_required_key_stays_required_and_the_others_take_their_defaults() {
        assert_eq!(Strict::KEYS, ["model", "loop", "fps"]);
        assert_eq!(Sample::KEYS, ["ratio", "limit", "on", "name"]);
        let parsed: Strict = toml::from_str("model = \"coco\"\n").unwrap();
        assert_eq!((parsed.model.get_ref().as_str(), parsed.looping), ("coco", false));
        assert_eq!((*parsed.fps.get_ref(), parsed.fps.span()), (5, 0..0));
        let error = toml::from_str::<Strict>("fps = 10\n").unwrap_err();
        assert!(error.message().contains("missing field `model`"), "{error}");
    }

    #[test]
    fn defaults_fill_missing_keys_and_ranges_are_checked_with_their_key() {
        let d = Sample::default();
        assert_eq!((*d.ratio.get_ref(), d.ratio.span()), (0.5, 0..0));
        assert!(d.on && d.limit.is_none() && d.name.get_ref() == "gate");
        let text = "ratio = 2.0\nlimit = 15\n";
        let parsed: Sample = toml::from_str(text).unwrap();
        assert!(parsed.on, "a missing key takes the table's default");
        let file = SourceFile::new("t.toml", text.into());
        let mut diags = Diagnostics::default();
        let mut ctx = Ctx {
            file: &file,
            base_dir: std::path::Path::new("."),
            diags: &mut diags,
        };
        assert_eq!(parsed.limit(&mut ctx), Some(Some(15)));
        assert_eq!(d.limit(&mut ctx), Some(None));
        assert_eq!(parsed.ratio(&mut ctx), None);
        let message: Vec<String> = diags.into_sorted().iter().map(ToString::to_string).collect();
        let message = message.join("\n");
        assert!(
            message.contains("t.toml:1:9: `sample.ratio` is 2, out of range; use a value from 0 to 1"),
            "{message}"
        );
    }
}
