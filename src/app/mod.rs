//! The app: wires one checked [`Plan`] into running parts — ONNX Runtime and
//! the models, the MQTT publisher, the metrics endpoint, and one
//! [`camera::Camera`] per camera — keeps them in step with the config file
//! on reload, and stops them in order: cameras first (their last incidents
//! are queued), then the publisher (which delivers the queue and marks the
//! box offline).
//!
//! A reload ([`Control::reload`], SIGHUP in `main`) applies only what
//! changed ([`reload`]); a signed config bundle from the office is judged,
//! applied through the same reload and rolled back when the box turns
//! unhealthy ([`managed`]); [`office`] is the office's side of it. [`replay`] runs one camera's analysis on a
//! recording instead, for tuning, and [`eval`] scores that replay against
//! moments a person labelled.
//!
//! This layer is wiring only — threads, reload, lifecycle: what a stage
//! does lives in that stage, and what a config means lives in `crate::plan`.

mod alerts;
pub mod analysis;
pub mod camera;
pub mod eval;
mod managed;
mod models;
mod motion_watch;
pub mod office;
mod pending;
mod reload;
pub mod replay;
mod run;
mod shared;
pub mod snapshot;
mod trial;

pub use run::{CameraSummary, Control, run, run_with};
