//! Publish: incident alerts to the security office over MQTT.
//!
//! The contract, fixed from here on:
//! * `<prefix>/availability` — retained `online`/`offline`, also the last will;
//! * `<prefix>/<camera>/incidents` — one JSON [`Alert`] per event, QoS 1,
//!   versioned by docs/schema/incident.v1.json;
//! * `<prefix>/<camera>/snapshots/<incident_id>` — a redacted JPEG, QoS 1;
//! * `<prefix>/stats` — periodic health, JSON, QoS 0;
//!
//! where `<prefix>` is `watchpost/<site>/<box>` unless `mqtt.topic_prefix`
//! says otherwise. Every event is written to the durable [`outbox`] before it
//! counts as raised. Consumers de-duplicate by (`incident_id`, `seq`).

pub mod delivery;
pub mod mqtt;
pub mod outbox;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use delivery::{Publisher, PublisherStatus, StatsSource};
pub use mqtt::{MqttConfig, MqttPlan};
pub use outbox::{Outbox, OutboxConfig, OutboxPlan};

use crate::rules::{EventKind, Severity};

/// The incident payload, schema 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "watchpost incident event", extend("$id" = "https://watchpost.invalid/schema/incident.v1.json"))]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Payload schema version: 1.
    pub schema: u32,
    /// `start`, `update` or `end`.
    pub event: EventKind,
    /// Stable for the incident's life (a UUIDv7).
    pub incident_id: String,
    /// Per box, increasing with every event, across restarts.
    pub seq: u64,
    /// When the event was raised, ISO-8601 UTC, e.g. "2026-11-29T08:15:02.120Z".
    pub time: String,
    pub camera: String,
    pub rule: String,
    pub zone: String,
    /// Labels of the objects involved, sorted, e.g. ["person"].
    pub labels: Vec<String>,
    /// Their boxes, normalised to the frame: [x1, y1, x2, y2].
    pub boxes: Vec<[f32; 4]>,
    /// The highest detection score among them.
    pub confidence: f32,
    pub severity: Severity,
}

/// The topics of one box.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    pub fn availability(&self) -> String {
        format!("{}/availability", self.prefix)
    }

    pub fn incidents(&self, camera: &str) -> String {
        format!("{}/{camera}/incidents", self.prefix)
    }

    pub fn snapshots(&self, camera: &str, incident_id: &str) -> String {
        format!("{}/{camera}/snapshots/{incident_id}", self.prefix)
    }

    pub fn stats(&self) -> String {
        format!("{}/stats", self.prefix)
    }
}
