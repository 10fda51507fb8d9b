//! The topics of one box, under its prefix (`watchpost/<site>/<box>` unless
//! `mqtt.topic_prefix` says otherwise): the contract consumers subscribe to.

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

    /// A camera's retained status (state, frame rate, health conditions).
    pub fn status(&self, camera: &str) -> String {
        format!("{}/{camera}/status", self.prefix)
    }

    pub fn stats(&self) -> String {
        format!("{}/stats", self.prefix)
    }
}
