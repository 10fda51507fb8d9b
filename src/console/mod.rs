//! The operator console: one small web app the box serves itself
//! (`[console]`, on `127.0.0.1:8080` by default) to watch the cameras, draw
//! zones, lines and privacy masks on their picture, edit rules, follow
//! incidents live and see the box's health.
//!
//! It must never show an unredacted pixel: the only pictures it serves are
//! [`crate::anonymize::RedactedJpeg`]s, sent by [`picture`] alone — live
//! views made by its own [`crate::anonymize::Redactor`] and the snapshots
//! the snapshot worker published. It must never stall a camera either:
//! the detect threads leave their newest boxes in an [`Overlay`] (no wait,
//! no allocation once warm), incidents reach it through a broadcast channel
//! that drops what a slow browser has not read ([`feed`]), and live views are
//! made on demand, at most [`cameras::LIVE_FPS`] a camera.
//!
//! Writes change the config file only ([`save`]): edited with `toml_edit`
//! (comments and order kept, only changed keys touched — [`document`]),
//! checked as `check-config` checks, the previous file kept as a backup,
//! then applied through the same reload as SIGHUP. Before saving, an edit
//! can be tried on the camera's last minute of tracks ([`trial`], kept in
//! [`recent`]): what it would have raised, with nothing written. The app wires it
//! ([`Console::start`], in [`server`]): the check and the reload request
//! are handed in, so this layer sits below the plan it edits.

pub mod admission;
pub mod auth;
pub mod cameras;
pub mod config;
pub mod document;
pub mod feed;
pub mod health;
pub mod history;
pub mod login;
pub mod picture;
pub mod reauth;
pub mod recent;
pub mod review;
pub mod save;
pub mod server;
pub mod sessions;
pub mod tls;
pub mod trial;

pub use cameras::{ConsoleCamera, Overlay, OverlayData};
pub use config::{ConsoleConfig, ConsolePlan, check};
pub use feed::Feed;
pub use recent::Recent;
pub use save::{CheckFn, ReloadReport};
pub use server::{Console, Wiring};
pub use trial::{TrialEvent, TrialFn, TrialResult};
