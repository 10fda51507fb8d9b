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
use std::time::Duration;

use schemars::JsonSchema;

use super::ctx::Ctx;
use super::diag::{Diagnostics, SourceFile};
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

// Seconds as written in the file (a number, e.g. `2.5`), checked into a
// `Duration`: a key `Spanned<Secs>` with a range in seconds gives a
// `Duration` from its checked method. It reads, and shows in the JSON
// Schema, as the bare number. (A plain comment: schemars would put a doc
// comment in the schema of every such key.)
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, serde::Serialize, JsonSchema)]
#[serde(transparent)]
pub struct Secs(pub f64);

impl Fallback<f64> for Spanned<Secs> {
    fn fallback(value: f64) -> Self {
        Spanned::new(0..0, Secs(value))
    }
}

impl InRange for Spanned<Secs> {
    type Bound = f64;
    type Checked = Duration;
    fn in_range(&self, ctx: &mut Ctx<'_>, range: RangeInclusive<f64>, key: &str) -> Option<Duration> {
        let secs = Spanned::new(self.span(), self.get_ref().0);
        ctx.in_range(&secs, range, key).map(Duration::from_secs_f64)
    }
}

/// Whole units of time as written in the file (`168` hours, `7` days, `30`
/// seconds), checked into a `Duration` as [`Secs`] is. Each reads, and
/// shows in the JSON Schema, exactly as its bare integer does.
macro_rules! whole_units {
    ($($(#[$meta:meta])* $name:ident($int:ty) = $secs:literal;)*) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub $int);

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                <$int>::inline_schema()
            }

            fn schema_name() -> std::borrow::Cow<'static, str> {
                <$int>::schema_name()
            }

            fn schema_id() -> std::borrow::Cow<'static, str> {
                <$int>::schema_id()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <$int>::json_schema(generator)
            }
        }

        impl Fallback<$int> for Spanned<$name> {
            fn fallback(value: $int) -> Self {
                Spanned::new(0..0, $name(value))
            }
        }

        impl InRange for Spanned<$name> {
            type Bound = $int;
            type Checked = Duration;
            #[allow(clippy::useless_conversion)]
            fn in_range(&self, ctx: &mut Ctx<'_>, range: RangeInclusive<$int>, key: &str) -> Option<Duration> {
                let whole = Spanned::new(self.span(), self.get_ref().0);
                ctx.in_range(&whole, range, key)
                    .map(|n| Duration::from_secs(u64::from(n).saturating_mul($secs)))
            }
        }
    )*};
}

whole_units! {
    /// Whole seconds (`keep_alive_secs = 30`).
    WholeSecs(u64) = 1;
    /// Whole hours (`max_age_hours = 168`).
    Hours(u64) = 3600;
    /// Whole days (`retention_days = 7`).
    Days(u32) = 86_400;
}

/// A key without a range, as its table's checked struct holds it: the value
/// without where it was written, or a table of its own checked. `key` is
/// the key's name in messages (`"health.covered"`).
pub trait Unranged {
    type Value;
    fn value(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<Self::Value>;
}

impl<T: Clone> Unranged for Spanned<T> {
    type Value = T;
    fn value(&self, _: &mut Ctx<'_>, _: &str) -> Option<T> {
        Some(self.get_ref().clone())
    }
}

impl<T: Clone> Unranged for Option<Spanned<T>> {
    type Value = Option<T>;
    fn value(&self, _: &mut Ctx<'_>, _: &str) -> Option<Option<T>> {
        Some(self.as_ref().map(|v| v.get_ref().clone()))
    }
}

/// A key read as its bare value (a `bool`, an enum such as `Severity`), not
/// `Spanned`: held in a checked struct as it is.
pub trait Bare: Copy {}

impl Bare for bool {}

impl<T: Bare> Unranged for T {
    type Value = T;
    fn value(&self, _: &mut Ctx<'_>, _: &str) -> Option<T> {
        Some(*self)
    }
}

/// A table declared with a checked struct (`struct Config in "" => Plan`):
/// every key checked (each error reported), into that struct.
pub trait Checked {
    type Plan;
    fn checked(&self, ctx: &mut Ctx<'_>) -> Option<Self::Plan>;
}

/// `check` on a context of its own, whose reports go nowhere: for values
/// that are known to pass, such as a table's defaults.
pub fn quietly<T>(check: impl FnOnce(&mut Ctx<'_>) -> Option<T>) -> Option<T> {
    let file = SourceFile::new("(defaults)", String::new());
    let mut diags = Diagnostics::default();
    check(&mut Ctx {
        file: &file,
        base_dir: std::path::Path::new("."),
        diags: &mut diags,
    })
}

/// Declares a config table (module doc).
///
/// `$prefix` is what the key's name follows in messages (`"track."`, or
/// `""` for a rule's own keys). A key without `= default` defaults to its
/// type's `Default` (`None`, `false`, empty), unless marked `#[required]`.
///
/// Written `struct Config in "" => Plan`, it also declares `Plan`: the same
/// keys, each checked (a ranged key as its method gives it, any other as
/// [`Unranged`] gives it: a `Spanned` value without its span, a bare value,
/// a table of its own checked), and implements [`Checked`] for the table.
/// A key marked `#[apart]` stays out of `Plan`: the table's own check reads
/// it, because it feeds something worked out (an address, a zone looked
/// up). Attributes before `Plan` go on it (`=> #[derive(Copy)] Plan`). When
/// every key it holds has a default, `Plan` has a `Default`: those
/// defaults, checked.
#[macro_export]
macro_rules! config_table {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident in $prefix:literal $(=> $(#[$pmeta:meta])* $plan:ident)? {
            $(
                $(#[$fmeta:meta])*
                $fvis:vis $field:ident : $ty:ty $(= $default:expr)? $(, range $range:expr)? ;
            )*
        }
    ) => {
        #[$crate::config::table::table_keys $(($(#[$pmeta])* $plan, $prefix))?]
        $(#[$meta])*
        #[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields)]
        $vis struct $name {
            $(
                $(#[$fmeta])*
                #[key_default $(($crate::config::table::Fallback::fallback($default)))?]
                $(#[key_range($range)])?
                $fvis $field: $ty,
            )*
        }

        #[allow(dead_code)]
        impl $name {
            /// What its keys' names follow in messages (`"track."`).
            pub const PREFIX: &'static str = $prefix;

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

    crate::config_table! {
        /// A table with its checked struct.
        pub struct Timed in "timed." => TimedPlan {
            /// Seconds, checked into a duration.
            pub wait_secs: Spanned<Secs> = 1.5, range 0.5..=10.0;
            /// A value without a range.
            pub label: Spanned<String> = "gate";
        }
    }

    /// `check` run on a context over `text` (file `t.toml`): its result,
    /// and the messages it reported.
    fn checking<T>(text: &str, check: impl FnOnce(&mut Ctx<'_>) -> T) -> (T, Vec<String>) {
        let file = SourceFile::new("t.toml", text.into());
        let mut diags = Diagnostics::default();
        let out = check(&mut Ctx {
            file: &file,
            base_dir: std::path::Path::new("."),
            diags: &mut diags,
        });
        (out, diags.into_sorted().iter().map(ToString::to_string).collect())
    }

    #[test]
    fn a_checked_struct_holds_each_key_checked_and_seconds_as_durations() {
        let plan = TimedPlan::default();
        assert_eq!(plan.wait_secs, std::time::Duration::from_millis(1500));
        assert_eq!(plan.label, "gate");
        let text = "wait_secs = 20\n";
        let parsed: Timed = toml::from_str(text).unwrap();
        let (checked, messages) = checking(text, |ctx| {
            let quiet = ctx.quiet(|ctx| parsed.wait_secs(ctx));
            (parsed.checked(ctx), quiet)
        });
        assert_eq!(checked, (None, None));
        assert_eq!(
            messages,
            ["t.toml:1:13: `timed.wait_secs` is 20, out of range; use a value from 0.5 to 10"],
            "one error, said once"
        );
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
        let (checked, messages) = checking(text, |ctx| (parsed.limit(ctx), d.limit(ctx), parsed.ratio(ctx)));
        assert_eq!(checked, (Some(Some(15)), Some(None), None));
        assert_eq!(
            messages,
            ["t.toml:1:9: `sample.ratio` is 2, out of range; use a value from 0 to 1"]
        );
    }
}
