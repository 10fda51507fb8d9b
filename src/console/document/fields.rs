//! Where each field the editor shows sits in a config's text, so a check
//! problem (`file:line:col`) is shown next to the zone or rule it is about.

use std::ops::Range;

use toml_edit::{Item, TableLike, Value};

use super::nodes::name_of;

/// The tables of a list with their spans, `[[…]]` tables or inline alike.
fn spanned(item: Option<&Item>) -> Vec<(&dyn TableLike, Option<Range<usize>>)> {
    match item {
        Some(Item::ArrayOfTables(a)) => a.iter().map(|t| (t as &dyn TableLike, t.span())).collect(),
        Some(Item::Value(Value::Array(a))) => a
            .iter()
            .filter_map(|v| v.as_inline_table().map(|t| (t as &dyn TableLike, v.span())))
            .collect(),
        _ => Vec::new(),
    }
}

/// Where each field the editor shows sits in `text`: (first line, last
/// line, field id). Field ids: `zone:<name>`, `rule:<name>:<key>`,
/// `rule:<name>`, `masks`. Lines are 1-based.
pub fn field_lines(text: &str, camera: &str) -> Vec<(usize, usize, String)> {
    let Ok(doc) = toml_edit::Document::parse(text) else {
        return Vec::new();
    };
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let span_lines = |span: Option<std::ops::Range<usize>>| {
        span.map(|s| (line(s.start), line(s.end.saturating_sub(1).max(s.start))))
    };
    let mut fields = Vec::new();
    let cameras = spanned(doc.get("cameras"));
    let Some((table, _)) = cameras.into_iter().find(|(c, _)| name_of(*c) == camera) else {
        return fields;
    };
    for (tables, kind) in [("zones", "zone"), ("rules", "rule")] {
        for (entry, span) in spanned(table.get(tables)) {
            let name = name_of(entry);
            if let Some((a, b)) = span_lines(span) {
                fields.push((a, b, format!("{kind}:{name}")));
            }
            for (key, item) in entry.iter() {
                if let Some((a, b)) = span_lines(item.span()) {
                    fields.push((a, b, format!("{kind}:{name}:{key}")));
                }
            }
        }
    }
    if let Some(masks) = table
        .get("privacy")
        .and_then(Item::as_table_like)
        .and_then(|p| p.get("masks"))
        && let Some((a, b)) = span_lines(masks.span())
    {
        fields.push((a, b, "masks".to_string()));
    }
    fields
}

/// The narrowest field holding `line`.
pub fn field_at(fields: &[(usize, usize, String)], line: usize) -> Option<&str> {
    fields
        .iter()
        .filter(|(a, b, _)| (*a..=*b).contains(&line))
        .min_by_key(|(a, b, _)| b - a)
        .map(|(_, _, f)| f.as_str())
}
