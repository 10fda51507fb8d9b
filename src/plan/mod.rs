//! The plan: one operator's file checked into everything the box will run,
//! in two steps as ripgrep turns flags into arguments — each table is read by
//! the component it configures (beside that component's logic), then this
//! layer, which sits above every stage, checks them against each other and
//! assembles the [`Plan`]. It also owns the JSON Schema of the whole file
//! ([`schema`], derived from the tables), what spans stages: the `[[cameras]]`
//! schema ([`camera`]), the pipeline a camera asks of decode
//! ([`camera::CameraPlan::stream_spec`]) and the effective-config printer;
//! and what the security office may change of it: `[fleet]` ([`fleet`]) and
//! the signed config bundles the box takes ([`bundle`]).

pub mod bundle;
pub mod camera;
pub mod check;
pub mod effective;
pub mod fleet;
pub mod schema;

pub use crate::config::ConfigError;
pub use camera::{CameraConfig, CameraPlan};
pub use check::{Plan, check_text, load};
pub use schema::{DEFAULT_STATE_DIR, TOP_LEVEL_KEYS};
