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

    /// An incident's evidence clip: its signed manifest (JSON) on
    /// `<topic>/manifest`, the MP4's parts on `<topic>/part/<i>/<n>`.
    pub fn clip(&self, camera: &str, incident_id: &str) -> String {
        format!("{}/{camera}/clips/{incident_id}", self.prefix)
    }

    /// The box's evidence public key (hex), retained.
    pub fn evidence_key(&self) -> String {
        format!("{}/evidence_key", self.prefix)
    }

    /// Operators' acknowledgements of a camera's incidents (JSON, not retained).
    pub fn acks(&self, camera: &str) -> String {
        format!("{}/{camera}/acks", self.prefix)
    }

    /// A camera's retained status (state, frame rate, health conditions).
    pub fn status(&self, camera: &str) -> String {
        format!("{}/{camera}/status", self.prefix)
    }

    pub fn stats(&self) -> String {
        format!("{}/stats", self.prefix)
    }

    /// Every snapshot of a camera, as a subscription filter.
    pub fn all_snapshots(&self, camera: &str) -> String {
        format!("{}/{camera}/snapshots/+", self.prefix)
    }

    /// `ON` while an incident of the rule is open, `OFF` otherwise; retained.
    pub fn active(&self, camera: &str, rule: &str) -> String {
        format!("{}/{camera}/{rule}/active", self.prefix)
    }

    /// A camera's armed state (`ON`/`OFF`, retained), or a rule's with `rule`.
    pub fn armed(&self, camera: &str, rule: Option<&str>) -> String {
        match rule {
            Some(rule) => format!("{}/{camera}/{rule}/armed", self.prefix),
            None => format!("{}/{camera}/armed", self.prefix),
        }
    }

    /// Where a camera (or, with `rule`, a rule) is armed and disarmed.
    pub fn armed_set(&self, camera: &str, rule: Option<&str>) -> String {
        format!("{}/set", self.armed(camera, rule))
    }

    /// The profile last selected, or `None` once a single switch changed; retained.
    pub fn profile(&self) -> String {
        format!("{}/profile", self.prefix)
    }

    /// Where a profile is selected.
    pub fn profile_set(&self) -> String {
        format!("{}/profile/set", self.prefix)
    }

    /// Where the security office sends this box its signed config bundles
    /// (QoS 1, never retained).
    pub fn bundle(&self) -> String {
        format!("{}/bundle", self.prefix)
    }

    /// What became of the last config bundle (JSON, retained).
    pub fn bundle_status(&self) -> String {
        format!("{}/bundle/status", self.prefix)
    }

    /// The subscription filters of the arming commands.
    pub fn command_filters(&self) -> Vec<String> {
        vec![
            format!("{}/+/armed/set", self.prefix),
            format!("{}/+/+/armed/set", self.prefix),
            self.profile_set(),
        ]
    }

    /// The command a topic carries, if it is one of this box's command
    /// topics: the camera and rule it names.
    pub fn command<'t>(&self, topic: &'t str) -> Option<Command<'t>> {
        let rest = topic.strip_prefix(self.prefix.as_str())?.strip_prefix('/')?;
        let parts: Vec<&str> = rest.split('/').collect();
        match parts[..] {
            ["profile", "set"] => Some(Command::Profile),
            [camera, "armed", "set"] => Some(Command::Armed { camera, rule: None }),
            [camera, rule, "armed", "set"] => Some(Command::Armed {
                camera,
                rule: Some(rule),
            }),
            _ => None,
        }
    }
}

/// A command topic, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'t> {
    Armed { camera: &'t str, rule: Option<&'t str> },
    Profile,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_topics_parse_back() {
        let t = Topics::new("watchpost/maple/gate-1");
        assert_eq!(
            t.command(&t.armed_set("lobby", Some("loiter"))),
            Some(Command::Armed {
                camera: "lobby",
                rule: Some("loiter")
            })
        );
        assert_eq!(
            t.command(&t.armed_set("lobby", None)),
            Some(Command::Armed {
                camera: "lobby",
                rule: None
            })
        );
        assert_eq!(t.command(&t.profile_set()), Some(Command::Profile));
        assert_eq!(t.command("watchpost/maple/gate-1/lobby/armed"), None);
        assert_eq!(t.command("watchpost/maple/gate-2/lobby/armed/set"), None);
        assert_eq!(t.command("watchpost/maple/gate-1x/lobby/armed/set"), None);
    }
}
