//! [`Ctx`]: where a component's check is (the file, its folder) and where
//! it reports, with the checks every table shares (a number in its range, a
//! name fit for a topic, a path relative to the config file).

use std::fmt;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};

use super::diag::{Diagnostics, SourceFile};
use super::spanned::Spanned;

/// What a component's check needs: where it is, and where to report.
pub struct Ctx<'a> {
    pub file: &'a SourceFile,
    pub base_dir: &'a Path,
    pub diags: &'a mut Diagnostics,
}

impl Ctx<'_> {
    pub fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.diags.error(self.file, Some(span), message);
    }

    /// A path from the config, relative to the config file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        join_clean(self.base_dir, path)
    }

    /// The value if it lies in `range`, else a located error.
    pub fn in_range<T: PartialOrd + Copy + fmt::Display>(
        &mut self,
        value: &Spanned<T>,
        range: RangeInclusive<T>,
        key: &str,
    ) -> Option<T> {
        let v = *value.get_ref();
        if range.contains(&v) {
            Some(v)
        } else {
            self.error(
                value.span(),
                format!(
                    "`{key}` is {v}, out of range; use a value from {} to {}",
                    range.start(),
                    range.end()
                ),
            );
            None
        }
    }

    /// `check` with its problems left unsaid: for a check across keys that
    /// needs their values in range, when the range errors are reported by
    /// the table's own check.
    pub fn quiet<T>(&self, check: impl FnOnce(&mut Ctx<'_>) -> T) -> T {
        let mut unsaid = Diagnostics::default();
        check(&mut Ctx {
            file: self.file,
            base_dir: self.base_dir,
            diags: &mut unsaid,
        })
    }

    /// Two keys that depend on each other: `pair` reads both, each checked
    /// against its own range without a word (each key's own check says
    /// that); when both are in range and `fault` finds them at odds, its
    /// span and message are reported. Whether they were.
    pub fn at_odds<A, B>(
        &mut self,
        pair: impl FnOnce(&mut Ctx<'_>) -> Option<(A, B)>,
        fault: impl FnOnce(A, B) -> Option<(Range<usize>, String)>,
    ) -> bool {
        let Some((span, message)) = self.quiet(pair).and_then(|(a, b)| fault(a, b)) else {
            return false;
        };
        self.error(span, message);
        true
    }

    /// A name that is safe inside an MQTT topic and a log line.
    pub fn identifier(&mut self, value: &Spanned<String>, what: &str) -> Option<String> {
        let v = value.get_ref();
        let ok = !v.is_empty()
            && v.len() <= 64
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Some(v.clone())
        } else {
            self.error(
                value.span(),
                format!("{what} `{v}` must be 1 to 64 characters of letters, digits, '-', '_' or '.' (it becomes part of MQTT topics)"),
            );
            None
        }
    }
}

/// `base` joined with `path` (kept as is when absolute), with `a/../`
/// folded away so messages show the path an operator would type.
pub fn join_clean(base: &Path, path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in base.join(path).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}
