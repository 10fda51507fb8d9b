//! Publish: incident alerts to the security office over MQTT.
//!
//! The contract, fixed from here on:
//! * `<prefix>/availability` — retained `online`/`offline`, also the last will;
//! * `<prefix>/<camera>/incidents` — one JSON [`Alert`] per event (built only by `crate::anonymize`), QoS 1,
//!   versioned by docs/schema/incident.v1.json;
//! * `<prefix>/<camera>/snapshots/<incident_id>` — a redacted JPEG, QoS 1;
//! * `<prefix>/stats` — periodic health, JSON, QoS 0;
//! * with Home Assistant discovery on, `<prefix>/<camera>/<rule>/active` —
//!   retained `ON` while an incident of the rule is open, else `OFF`;
//! * with arming commands on (`mqtt.arming_commands`), taken:
//!   `<prefix>/<camera>/armed/set`, `<prefix>/<camera>/<rule>/armed/set`
//!   (`ON`/`OFF`) and `<prefix>/profile/set` (a profile's name); published,
//!   retained: `<prefix>/<camera>/armed`, `<prefix>/<camera>/<rule>/armed`
//!   and `<prefix>/profile` (see [`control`]);
//! * `<prefix>/<camera>/status` — the camera's status, JSON, QoS 1, retained; empty once the camera is removed;
//!
//! where `<prefix>` is `watchpost/<site>/<box>` unless `mqtt.topic_prefix`
//! says otherwise. Every event is written to the durable [`outbox`] before it
//! counts as raised. Consumers de-duplicate by (`incident_id`, `seq`).

pub mod backoff;
pub mod catalog;
pub mod connection;
pub mod control;
pub mod delivery;
pub mod homeassistant;
pub mod link;
pub mod mqtt;
pub mod options;
pub mod outbox;
pub mod publisher;
pub mod refusal;
pub mod status;
pub mod topics;

pub use catalog::{Catalog, CatalogCamera, CatalogRule};
pub use control::{BundleLink, BundleMessage, ControlEvent, ControlPlan};
pub use delivery::{PublisherStatus, StatsSource};
pub use homeassistant::{HomeAssistantPlan, IntegrationsConfig};
pub use mqtt::{MqttConfig, MqttKeys, MqttPlan};
pub use outbox::{LockError, Outbox, OutboxConfig, OutboxError, OutboxKeys, OutboxPlan};
pub use publisher::Publisher;
pub use status::{CameraStatus, StatusSource};
pub use topics::Topics;

pub use crate::anonymize::Alert;
