//! Home Assistant MQTT discovery (`[integrations.home_assistant]`, off by
//! default): the retained `config` messages that make one Home Assistant
//! device of the box, with per camera a `binary_sensor` per rule (on while
//! one of its incidents is open), an `event` entity carrying each
//! incident's start and end, an `image` entity showing its redacted
//! snapshots (only for a camera with a rule that takes them) and a status
//! `sensor`; with arming commands on, a `switch` per camera and per rule and
//! a `select` of the profiles. Every entity follows the box's availability
//! topic.
//!
//! The entities only point at topics the box already publishes; they carry
//! nothing that identifies a person (an incident's event keeps its rule,
//! zone, severity, labels and id, never its boxes). Keys use the
//! abbreviations Home Assistant documents.

use serde_json::{Value, json};

use super::catalog::{Catalog, CatalogCamera, CatalogRule};
use super::topics::Topics;
use crate::config::{Checked, Ctx, Spanned};

crate::config::table! {
    /// `[integrations]`: how the box announces itself to other systems.
    pub struct IntegrationsConfig in "integrations." {
        /// Home Assistant MQTT discovery.
        pub home_assistant: Option<HomeAssistantConfig>;
    }
}

crate::config::table! {
    /// `[integrations.home_assistant]`.
    pub struct HomeAssistantConfig in "integrations.home_assistant." => #[derive(Eq)] HomeAssistantKeys {
        /// Publish discovery messages, e.g. true (default false).
        #[apart]
        pub enabled: Spanned<bool>;
        /// Home Assistant's discovery prefix, e.g. "homeassistant" (the default).
        #[apart]
        pub discovery_prefix: Spanned<String> = "homeassistant";
        /// Where Home Assistant announces `online` when it starts, e.g.
        /// "homeassistant/status" (the default); discovery is published again then.
        #[apart]
        pub status_topic: Spanned<String> = "homeassistant/status";
    }
}

/// Checked Home Assistant settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomeAssistantPlan {
    pub discovery_prefix: String,
    pub status_topic: String,
    /// Every key but those worked out above (all of them today), checked.
    pub keys: HomeAssistantKeys,
}

/// Checks `[integrations]`; `Some(None)` when discovery is off.
pub fn check(config: &IntegrationsConfig, ctx: &mut Ctx<'_>) -> Option<Option<HomeAssistantPlan>> {
    let Some(ha) = &config.home_assistant else {
        return Some(None);
    };
    let mut topic = |value: &Spanned<String>, key: &str, example: &str| {
        let text = value.get_ref().trim_end_matches('/');
        if text.is_empty() || text.contains(['+', '#']) || text.starts_with('/') {
            ctx.error(
                value.span(),
                format!("integrations.home_assistant.{key} must be a non-empty topic without wildcards (+, #) or a leading /, e.g. \"{example}\""),
            );
            None
        } else {
            Some(text.to_string())
        }
    };
    let discovery_prefix = topic(&ha.discovery_prefix, "discovery_prefix", "homeassistant");
    let status_topic = topic(&ha.status_topic, "status_topic", "homeassistant/status");
    let keys = ha.checked(ctx);
    let plan = HomeAssistantPlan {
        discovery_prefix: discovery_prefix?,
        status_topic: status_topic?,
        keys: keys?,
    };
    Some(ha.enabled.get_ref().then_some(plan))
}

/// The camera states the status sensor can show (the stream's states).
const CAMERA_STATES: [&str; 5] = ["connecting", "streaming", "backoff", "failed", "stopped"];

/// A name usable in a discovery topic (`[a-zA-Z0-9_-]`): box, camera and
/// rule names may also hold dots.
fn object_id(parts: &[&str]) -> String {
    parts.join("_").replace('.', "-2e-")
}

/// Builds the discovery messages of one box.
pub struct Discovery<'a> {
    pub plan: &'a HomeAssistantPlan,
    pub topics: &'a Topics,
    /// Whether arming commands are accepted (then switches and a select appear).
    pub commands: bool,
}

impl Discovery<'_> {
    /// Every discovery message of `catalog`: (config topic, payload).
    pub fn messages(&self, catalog: &Catalog) -> Vec<(String, Value)> {
        let node = object_id(&["watchpost", &catalog.site, &catalog.box_id]);
        let device = json!({
            "ids": [node],
            "name": format!("watchpost {} {}", catalog.site, catalog.box_id),
            "mf": "watchpost",
            "mdl": "watchpost box",
            "sw": env!("CARGO_PKG_VERSION"),
        });
        let base = |name: String, unique: &[&str]| {
            json!({
                "name": name,
                "uniq_id": object_id(&[&node, &object_id(unique)]),
                "avty_t": self.topics.availability(),
                "dev": device,
                "o": { "name": "watchpost", "sw": env!("CARGO_PKG_VERSION") },
            })
        };
        let topic = |component: &str, object: &[&str]| {
            format!(
                "{}/{component}/{node}/{}/config",
                self.plan.discovery_prefix,
                object_id(object)
            )
        };
        let mut out = Vec::new();
        for camera in &catalog.cameras {
            let c = camera.name.as_str();
            for rule in &camera.rules {
                out.push((
                    topic("binary_sensor", &[c, &rule.name]),
                    self.rule_sensor(camera, rule, &base),
                ));
                if self.commands {
                    let mut switch = base(format!("{c} {} armed", rule.name), &[c, &rule.name, "armed"]);
                    self.switch(&mut switch, c, Some(&rule.name));
                    out.push((topic("switch", &[c, &rule.name, "armed"]), switch));
                }
            }
            let mut event = base(format!("{c} incidents"), &[c, "incidents"]);
            merge(
                &mut event,
                json!({
                    "stat_t": self.topics.incidents(c),
                    "evt_typ": ["start", "end"],
                    "val_tpl": EVENT_TEMPLATE,
                    "ic": "mdi:cctv",
                }),
            );
            out.push((topic("event", &[c, "incidents"]), event));
            if camera.rules.iter().any(|r| r.snapshot) {
                let mut image = base(format!("{c} snapshot"), &[c, "snapshot"]);
                merge(
                    &mut image,
                    json!({ "img_t": self.topics.all_snapshots(c), "cont_type": "image/jpeg" }),
                );
                out.push((topic("image", &[c, "snapshot"]), image));
            }
            let mut status = base(format!("{c} status"), &[c, "status"]);
            merge(
                &mut status,
                json!({
                    "stat_t": self.topics.stats(),
                    "val_tpl": format!(
                        "{{{{ value_json.cameras['{c}'].state if '{c}' in value_json.cameras else 'stopped' }}}}"
                    ),
                    "dev_cla": "enum",
                    "ops": CAMERA_STATES,
                    "ent_cat": "diagnostic",
                }),
            );
            out.push((topic("sensor", &[c, "status"]), status));
            if self.commands {
                let mut switch = base(format!("{c} armed"), &[c, "armed"]);
                self.switch(&mut switch, c, None);
                out.push((topic("switch", &[c, "armed"]), switch));
            }
        }
        if self.commands && !catalog.profiles.is_empty() {
            let mut select = base("arming profile".into(), &["profile"]);
            let names: Vec<&str> = catalog.profiles.iter().map(|p| p.name.as_str()).collect();
            merge(
                &mut select,
                json!({
                    "cmd_t": self.topics.profile_set(),
                    "stat_t": self.topics.profile(),
                    "ops": names,
                    "ic": "mdi:shield-home",
                }),
            );
            out.push((topic("select", &["profile"]), select));
        }
        out
    }

    fn rule_sensor(
        &self,
        camera: &CatalogCamera,
        rule: &CatalogRule,
        base: &impl Fn(String, &[&str]) -> Value,
    ) -> Value {
        let c = camera.name.as_str();
        let mut sensor = base(format!("{c} {}", rule.name), &[c, &rule.name]);
        merge(
            &mut sensor,
            json!({
                "stat_t": self.topics.active(c, &rule.name),
                "pl_on": "ON",
                "pl_off": "OFF",
                "dev_cla": crate::rules::device_class(rule.kind),
            }),
        );
        sensor
    }

    fn switch(&self, entity: &mut Value, camera: &str, rule: Option<&str>) {
        merge(
            entity,
            json!({
                "cmd_t": self.topics.armed_set(camera, rule),
                "stat_t": self.topics.armed(camera, rule),
                "pl_on": "ON",
                "pl_off": "OFF",
                "ic": "mdi:shield-check",
                "ent_cat": "config",
            }),
        );
    }
}

/// The event entity's template: an incident's start or end, with what it
/// is about (never its boxes); updates are left out.
const EVENT_TEMPLATE: &str = "{% if value_json.event in ['start', 'end'] %}{{ {'event_type': value_json.event, \
'rule': value_json.rule, 'zone': value_json.zone, 'severity': value_json.severity, 'labels': value_json.labels, \
'incident_id': value_json.incident_id} | tojson }}{% endif %}";

fn merge(into: &mut Value, more: Value) {
    if let (Some(into), Value::Object(more)) = (into.as_object_mut(), more) {
        into.extend(more);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog {
            site: "maple".into(),
            box_id: "gate.1".into(),
            cameras: vec![CatalogCamera {
                name: "lobby".into(),
                rules: vec![
                    CatalogRule {
                        name: "after-hours".into(),
                        kind: "intrusion",
                        snapshot: true,
                    },
                    CatalogRule {
                        name: "climb".into(),
                        kind: "perimeter_climb",
                        snapshot: false,
                    },
                ],
            }],
            profiles: Vec::new(),
        }
    }

    #[test]
    fn one_device_and_entities_per_camera_and_rule() {
        let plan = HomeAssistantPlan {
            discovery_prefix: "homeassistant".into(),
            status_topic: "homeassistant/status".into(),
            keys: Default::default(),
        };
        let topics = Topics::new("watchpost/maple/gate.1");
        let messages = Discovery {
            plan: &plan,
            topics: &topics,
            commands: true,
        }
        .messages(&catalog());
        let names: Vec<&str> = messages.iter().map(|(t, _)| t.as_str()).collect();
        assert!(names.contains(&"homeassistant/binary_sensor/watchpost_maple_gate-2e-1/lobby_climb/config"));
        assert!(names.contains(&"homeassistant/image/watchpost_maple_gate-2e-1/lobby_snapshot/config"));
        assert_eq!(names.iter().filter(|t| t.contains("/switch/")).count(), 3);
        let devices: std::collections::BTreeSet<String> =
            messages.iter().map(|(_, m)| m["dev"]["ids"][0].to_string()).collect();
        assert_eq!(devices.len(), 1, "one device per box");
        let climb = &messages.iter().find(|(t, _)| t.contains("lobby_climb/")).unwrap().1;
        assert_eq!(climb["dev_cla"], "tamper");
        assert_eq!(climb["stat_t"], "watchpost/maple/gate.1/lobby/climb/active");
    }
}
