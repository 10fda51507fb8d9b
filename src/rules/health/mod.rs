//! Camera health: tampering and faults raised as incidents — the picture
//! covered, blurred, moved, too dark or too bright, frozen, and the signal
//! lost. It watches the same small grayscale frames as the rule kinds that
//! watch pixels (the camera's motion branch: no second decode), judges them
//! against the camera's own learnt normal, and raises one incident per
//! condition, with the lifecycle every rule shares (start after `min_secs`,
//! end after `end_after_secs`), on the camera's incident topic.
//!
//! It is configured per camera in `[cameras.health]` rather than as a rule
//! kind: it is about the whole camera (no zone), it must raise `signal_lost`
//! when no frame comes at all, and its conditions feed the camera's status
//! topic. It never keeps or passes on pixels: only figures leave it.
//!
//! Files: [`condition`] (the conditions and their names), [`config`] (the
//! table and its check), [`measure`] (a frame's figures), [`baseline`] (the
//! camera's learnt normal) and [`watch`] (conditions into incidents).

pub mod baseline;
pub mod condition;
pub mod config;
pub mod measure;
pub mod watch;

pub use condition::{Condition, Conditions};
pub use config::{ConditionConfig, ConditionPlan, HealthConfig, HealthPlan, check};
pub use watch::HealthWatch;
