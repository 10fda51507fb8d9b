//! Diagnostics: every problem found in a config (or a model manifest it points
//! to), each rendered as `file:line:col: what is wrong and how to fix it`.
//!
//! Validation never stops at the first problem: it pushes here and carries on,
//! so an operator fixes a file in one pass.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// A text file being checked, kept so byte spans can become line and column.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: String) -> Self {
        Self {
            path: path.into(),
            text,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = self.text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// `file:line:col` for a span, or `file` alone when the span is unknown.
    pub fn locate(&self, span: Option<Range<usize>>) -> String {
        match span {
            Some(span) => {
                let (line, col) = self.line_col(span.start);
                format!("{}:{line}:{col}", self.path.display())
            }
            None => self.path.display().to_string(),
        }
    }
}

/// One problem, already located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `file:line:col`, or `file` when there is no position.
    pub location: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// The problems collected while checking one config.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Records a problem at a span of a file.
    pub fn error(&mut self, file: &SourceFile, span: Option<Range<usize>>, message: impl Into<String>) {
        self.items.push(Diagnostic {
            location: file.locate(span),
            message: message.into(),
        });
    }

    /// Records a problem about a whole file (it is missing, unreadable…).
    pub fn file_error(&mut self, path: &Path, message: impl Into<String>) {
        self.items.push(Diagnostic {
            location: path.display().to_string(),
            message: message.into(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The problems in file order (by location, then as found).
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by_cached_key(|d| location_key(&d.location));
        self.items.dedup();
        self.items
    }
}

/// Sort key so `f:10:1` comes after `f:9:3`.
fn location_key(location: &str) -> (String, usize, usize) {
    let mut parts = location.rsplitn(3, ':');
    let col = parts.next().and_then(|c| c.parse().ok());
    let line = parts.next().and_then(|l| l.parse().ok());
    match (line, col, parts.next()) {
        (Some(line), Some(col), Some(file)) => (file.to_string(), line, col),
        _ => (location.to_string(), 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let file = SourceFile::new("c.toml", "a = 1\nbé = 2\n".to_string());
        assert_eq!(file.line_col(0), (1, 1));
        assert_eq!(file.line_col(6), (2, 1));
        let eq = file.text.find('=').unwrap();
        assert_eq!(file.line_col(eq), (1, 3));
        let second_eq = file.text.rfind('=').unwrap();
        assert_eq!(file.line_col(second_eq), (2, 4));
    }

    #[test]
    fn diagnostics_sort_by_line_number_not_text() {
        let file = SourceFile::new("c.toml", "x\n".repeat(12));
        let mut d = Diagnostics::default();
        d.error(&file, Some(20..21), "late");
        d.error(&file, Some(2..3), "early");
        let lines: Vec<_> = d.into_sorted().iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["c.toml:2:1: early", "c.toml:11:1: late"]);
    }
}
