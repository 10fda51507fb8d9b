//! Publish: incident alerts to the security office over MQTT.
//!
//! The contract, fixed from here on:
//! * `<prefix>/availability` — retained `online`/`offline`, also the last will;
//! * `<prefix>/<camera>/incidents` — one JSON [`Alert`] per event (built only by `crate::anonymize`), QoS 1,
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

pub use delivery::{Publisher, PublisherStatus, StatsSource};
pub use mqtt::{MqttConfig, MqttPlan};
pub use outbox::{Outbox, OutboxConfig, OutboxPlan};

pub use crate::anonymize::Alert;

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
