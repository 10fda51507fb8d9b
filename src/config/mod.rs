//! The config toolkit, the ground floor every component's config stands on:
//! [`Ctx`] (where a check is and where it reports), TOML nodes with their
//! spans ([`de`]), located diagnostics ([`diag`]) and [`table!`], which
//! declares a table's keys, defaults and ranges once. It knows no component
//! and imports nothing else of watchpost; the assembled plan of a whole
//! file lives above the stages, in the plan layer (src/plan).
//!
//! Every problem is reported at once, one line each:
//! `file:line:col: what is wrong and how to fix it`.

pub mod ctx;
pub mod de;
pub mod diag;
pub mod secret;
pub mod spanned;
pub mod table;

use std::fmt;

pub use ctx::{Ctx, join_clean};
pub use diag::{Diagnostic, Diagnostics, SourceFile};
pub use secret::{Secret, SecretSource, SecretUrl, UrlError};
pub use spanned::Spanned;
pub use table::{Checked, Days, Hours, Secs, WholeSecs, table};

/// A config that failed its check, with every problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.diagnostics.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

/// Names for a message, comma-separated, or "none" when there are none.
pub fn listed<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> String {
    let names: Vec<S> = names.into_iter().collect();
    if names.is_empty() {
        return "none".into();
    }
    names.iter().map(AsRef::as_ref).collect::<Vec<&str>>().join(", ")
}

/// The candidate within two edits of `word`, if there is exactly one best.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let above = row[j + 1];
                row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
                diagonal = above;
            }
        }
        row[b.len()]
    };
    let mut scored: Vec<(usize, &str)> = candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .collect();
    scored.sort();
    match scored.as_slice() {
        [(d, best), rest @ ..] if rest.first().is_none_or(|(d2, _)| d2 > d) => Some(best),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{closest, join_clean};

    #[test]
    fn joined_paths_fold_parent_folders() {
        let clean = |b: &str, p: &str| join_clean(Path::new(b), Path::new(p));
        assert_eq!(
            clean("tests/configs/invalid", "../../../models/m.toml"),
            PathBuf::from("models/m.toml")
        );
        assert_eq!(clean("configs", "/abs/x.avi"), PathBuf::from("/abs/x.avi"));
        assert_eq!(clean(".", "../media/v.avi"), PathBuf::from("../media/v.avi"));
        assert_eq!(clean("a", ".."), PathBuf::from("."));
    }

    #[test]
    fn a_near_miss_gets_a_suggestion_and_a_far_one_does_not() {
        let labels = ["person", "bicycle", "car", "cat"];
        assert_eq!(closest("persn", &labels), Some("person"));
        assert_eq!(closest("bicycel", &labels), Some("bicycle"));
        assert_eq!(closest("ebike", &labels), None);
        // "caz" is one edit from both car and cat: no single best guess
        assert_eq!(closest("caz", &labels), None);
    }
}
