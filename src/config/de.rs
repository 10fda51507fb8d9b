//! Spanned deserialisation: turns pieces of a TOML document into typed config
//! structs one piece at a time, so one bad camera or rule does not hide the
//! problems in the next one, and every error keeps its line and column.

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diag::{Diagnostics, SourceFile};

/// A value of the parsed document, with its byte span.
pub type Node<'i> = Spanned<DeValue<'i>>;

/// Parses a whole document, reporting every syntax error it can recover from.
pub fn parse_document<'i>(file: &'i SourceFile, diags: &mut Diagnostics) -> Option<Spanned<DeTable<'i>>> {
    let (table, errors) = DeTable::parse_recoverable(&file.text);
    if errors.is_empty() {
        return Some(table);
    }
    for error in errors {
        diags.error(
            file,
            error.span(),
            format!("invalid TOML: {}", one_line(error.message())),
        );
    }
    None
}

/// Deserialises one node into `T`, recording a located error on failure.
pub fn from_node<T: DeserializeOwned>(file: &SourceFile, node: &Node<'_>, diags: &mut Diagnostics) -> Option<T> {
    let span = node.span();
    match T::deserialize(ValueDeserializer::from(node.clone())) {
        Ok(value) => Some(value),
        Err(error) => {
            let at = error.span().filter(|s| !s.is_empty()).unwrap_or(span);
            let message = match key_of_value(node, &at) {
                Some(key) => format!("`{key}`: {}", explain(error.message())),
                None => explain(error.message()),
            };
            diags.error(file, Some(at), message);
            None
        }
    }
}

/// Deserialises a table after removing `split_off` keys, which the caller
/// deserialises on its own. Returns the value and the removed nodes by key.
pub fn from_table_without<'i, T: DeserializeOwned>(
    file: &SourceFile,
    node: &Node<'i>,
    split_off: &[&str],
    diags: &mut Diagnostics,
) -> (Option<T>, Vec<(String, Node<'i>)>) {
    let Some(table) = node.get_ref().as_table() else {
        diags.error(
            file,
            Some(node.span()),
            format!("expected a table, found {}", node.get_ref().type_str()),
        );
        return (None, Vec::new());
    };
    let mut rest = table.clone();
    let mut removed = Vec::new();
    for key in split_off {
        if let Some((_, value)) = rest.remove_entry(*key) {
            removed.push(((*key).to_string(), value));
        }
    }
    let rest = Spanned::new(node.span(), DeValue::Table(rest));
    (from_node(file, &rest, diags), removed)
}

/// Splits a table into (the entries named in `keys`, all other entries), both
/// keeping their spans, so each part can be deserialised by its own type.
pub fn split_table<'i>(
    file: &SourceFile,
    node: &Node<'i>,
    keys: &[&str],
    diags: &mut Diagnostics,
) -> Option<(Node<'i>, Node<'i>)> {
    let Some(table) = node.get_ref().as_table() else {
        diags.error(
            file,
            Some(node.span()),
            format!("expected a table, found {}", node.get_ref().type_str()),
        );
        return None;
    };
    let mut picked = DeTable::default();
    let mut rest = DeTable::default();
    for (key, value) in table.iter() {
        let part = if keys.contains(&key.get_ref().as_ref()) {
            &mut picked
        } else {
            &mut rest
        };
        part.insert(key.clone(), value.clone());
    }
    let span = node.span();
    Some((
        Spanned::new(span.clone(), DeValue::Table(picked)),
        Spanned::new(span, DeValue::Table(rest)),
    ))
}

/// The elements of an array node, or an error if it is not an array.
pub fn array_items<'a, 'i>(
    file: &SourceFile,
    node: &'a Node<'i>,
    what: &str,
    diags: &mut Diagnostics,
) -> &'a [Node<'i>] {
    match node.get_ref().as_array() {
        Some(items) => items,
        None => {
            diags.error(
                file,
                Some(node.span()),
                format!(
                    "`{what}` must be an array of tables ([[{what}]]), found {}",
                    node.get_ref().type_str()
                ),
            );
            &[]
        }
    }
}

/// The dotted key whose value sits exactly at `span`, for messages about it.
fn key_of_value(node: &Node<'_>, span: &Range<usize>) -> Option<String> {
    match node.get_ref() {
        DeValue::Table(table) => table.iter().find_map(|(key, value)| {
            if value.span() == *span {
                Some(key.get_ref().to_string())
            } else {
                key_of_value(value, span).map(|inner| format!("{}.{inner}", key.get_ref()))
            }
        }),
        DeValue::Array(items) => items.iter().find_map(|item| key_of_value(item, span)),
        _ => None,
    }
}

/// serde's messages, made to say how to fix the problem.
fn explain(message: &str) -> String {
    let message = one_line(message);
    if let Some(rest) = message.strip_prefix("unknown field ") {
        // "unknown field `x`, expected one of `a`, `b`"
        return match rest.split_once(", expected ") {
            Some((field, expected)) => format!(
                "unknown key {field}; expected {}",
                expected.replace("one of ", "one of: ")
            ),
            None => format!("unknown key {rest}"),
        };
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("missing required key {field}; add it to this table");
    }
    // Rust type names mean nothing to an operator.
    [
        ("expected u16", "expected a whole number"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected usize", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
    ]
    .iter()
    .fold(message, |m, (from, to)| m.replace(from, to))
}

fn one_line(message: &str) -> String {
    message.trim().replace('\n', "; ")
}

/// Serde default for an optional spanned key: the type's default, no span.
pub fn unset<T: Default>() -> super::Spanned<T> {
    super::Spanned::new(0..0, T::default())
}
