//! The editor's view of the config file, read and written with `toml_edit`:
//! a camera's zones (normalised points, whatever units the file uses), its
//! privacy masks and its rules' main keys. Writing touches only what
//! changed: a moved zone gets a new `polygon` (or `line`) value and nothing
//! else, a new zone or rule is appended after its camera's others, a removed
//! one is taken out; comments, order and every other key stay as they were,
//! and a value's trailing comment stays beside its new value.
//!
//! Zones, rules and masks are found however the file writes them — arrays of
//! tables, inline arrays of inline tables, dotted keys, cameras as inline
//! tables — and a camera the editor cannot show whole is refused with the
//! reason, never rewritten from a partial view. An edit is bounded in size
//! ([`model`]) before anything else reads it.
//!
//! Nothing here checks the result: the caller runs the config check on it.

mod fields;
mod model;
mod nodes;
mod read;
mod rules;
mod secrets;
mod write;

pub use fields::{field_at, field_lines};
pub use model::{CameraEdit, EditError, RuleEdit, WindowEdit, ZoneEdit};
pub use read::read;
pub use secrets::{inline_secrets, secret_files};
pub use write::apply;

#[cfg(test)]
mod tests;
