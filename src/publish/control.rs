//! The control task: the box's side of arming over MQTT and of Home
//! Assistant discovery. It owns the retained state messages — each rule's
//! `active` flag, the armed flags of cameras and rules, the profile — and
//! the discovery messages, and publishes them all again whenever a
//! connection comes up or Home Assistant announces `online`.
//!
//! Arming commands (`<prefix>/<camera>[/<rule>]/armed/set` with `ON` or
//! `OFF`, `<prefix>/profile/set` with a profile's name) change the shared
//! [`Arming`]; each change is logged, published and written to
//! `<state_dir>/arming.json` (atomically: a temporary file renamed over it)
//! so it survives restarts. A malformed command — another payload, an
//! unknown camera, rule or profile, an oversize payload — changes nothing
//! and is logged in one line. Who may publish commands is the broker's
//! ACL's business (docs/integrations.md), so commands are taken only over an
//! authenticated connection ([`super::mqtt::MqttPlan::arming_refused`]).
//!
//! A command must be a live one: a retained command (the PUBLISH's retain
//! flag, set by the broker on what it kept for new subscriptions) would be
//! applied again at every start and reconnect, undoing whatever came after
//! it. It is never applied; the task clears it on the broker (an empty
//! retained message on its topic) and logs that it did. A reload hands a
//! new [`Catalog`]: cameras and rules it removed lose their entities (an
//! empty retained config) and their retained states. Home Assistant's
//! `online` is coalesced: discovery goes out again at most once per
//! [`REPUBLISH_EVERY`], however many announcements arrive.
//!
//! On an office-managed box the task also carries signed config bundles
//! ([`BundleLink`]): whatever arrives on the bundle topics is handed to the
//! app, which judges it (a retained one is cleared on the broker here, and
//! refused there); the app's verdict comes back as a retained status
//! ([`ControlEvent::BundleStatus`]), published again on every connection.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::catalog::Catalog;
use super::homeassistant::{Discovery, HomeAssistantPlan};
use super::link::{ControlLink, Inbound, Outbound};
use super::topics::{Command, Topics};
use crate::rules::{Arming, ArmingState};

/// The arming state's file in the state directory.
pub const STATE_FILE: &str = "arming.json";

/// The longest command payload taken (`OFF`, or a profile's name).
pub const MAX_COMMAND: usize = 64;

/// Discovery and every state go out again at most this often when Home
/// Assistant announces `online` (a flood of announcements costs one).
pub const REPUBLISH_EVERY: Duration = Duration::from_secs(5);

/// What the rest of the box tells the control task.
#[derive(Debug, Clone)]
pub enum ControlEvent {
    /// An incident of `rule` started (`open`) or ended.
    Incident {
        camera: Arc<str>,
        rule: Arc<str>,
        open: bool,
    },
    /// The config was reloaded.
    Catalog(Catalog),
    /// What became of the last config bundle (JSON): published retained
    /// now and again on every connection.
    BundleStatus(Vec<u8>),
}

/// A signed config bundle that arrived on one of the box's bundle topics;
/// the app judges it (the control task only carries it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Kept by the broker: never applied (a bundle must be a live message).
    pub retained: bool,
}

/// Where config bundles arrive and their results go, when the office
/// manages the box's config.
#[derive(Debug, Clone)]
pub struct BundleLink {
    /// The box's own bundle topic and its groups' topics.
    pub topics: Vec<String>,
    /// Every bundle that arrives is handed on here.
    pub to_app: mpsc::UnboundedSender<BundleMessage>,
}

/// How the control task runs.
#[derive(Debug, Clone)]
pub struct ControlPlan {
    pub topics: Topics,
    /// Home Assistant discovery, when on.
    pub home_assistant: Option<HomeAssistantPlan>,
    /// Whether arming commands are taken.
    pub commands: bool,
    /// Where the arming state is kept.
    pub state_file: PathBuf,
    /// Config bundles, when the office manages the box's config.
    pub bundles: Option<BundleLink>,
}

impl ControlPlan {
    /// The topic filters the connection subscribes to for this task.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut filters = if self.commands {
            self.topics.command_filters()
        } else {
            Vec::new()
        };
        if let Some(ha) = &self.home_assistant {
            filters.push(ha.status_topic.clone());
        }
        if let Some(bundles) = &self.bundles {
            filters.extend(bundles.topics.iter().cloned());
        }
        filters
    }
}

/// Reads the kept arming state; None (logged) when there is none or it
/// cannot be read, and then everything is armed.
pub fn load_state(path: &Path) -> Option<ArmingState> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "cannot read the arming state; every rule starts armed");
            return None;
        }
    };
    match serde_json::from_slice::<ArmingState>(&text) {
        Ok(state) if state.version == 1 => Some(state),
        Ok(state) => {
            tracing::error!(file = %path.display(), version = state.version, "unknown arming state version; every rule starts armed");
            None
        }
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "the arming state is damaged; every rule starts armed");
            None
        }
    }
}

/// Writes the arming state: a temporary file, synced, renamed over the old one.
fn save_state(path: &Path, state: &ArmingState) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn on_off(on: bool) -> &'static str {
    if on { "ON" } else { "OFF" }
}

/// The running task's state.
struct Control {
    plan: ControlPlan,
    catalog: Catalog,
    arming: Arc<Arming>,
    out: mpsc::UnboundedSender<Outbound>,
    /// Open incidents per (camera, rule).
    open: BTreeMap<(String, String), u32>,
    /// When everything was last published because Home Assistant said
    /// `online`, and whether another announcement waits for its turn.
    republished: Option<Instant>,
    republish_due: bool,
    /// The latest bundle status, published again on every connection.
    bundle_status: Option<Vec<u8>>,
}

/// Runs the control task until `cancel` fires or the connection ends.
pub async fn run(
    plan: ControlPlan,
    catalog: Catalog,
    arming: Arc<Arming>,
    link: ControlLink,
    mut events: mpsc::UnboundedReceiver<ControlEvent>,
    cancel: CancellationToken,
) {
    let ControlLink { mut inbound, outbound } = link;
    let mut control = Control {
        plan,
        catalog,
        arming,
        out: outbound,
        open: BTreeMap::new(),
        republished: None,
        republish_due: false,
        bundle_status: None,
    };
    loop {
        let republish_at = control
            .republished
            .filter(|_| control.republish_due)
            .map(|at| at + REPUBLISH_EVERY);
        tokio::select! {
            message = inbound.recv() => match message {
                Some(Inbound::Connected) => {
                    control.publish_all();
                    control.publish_bundle_status();
                }
                Some(Inbound::Message { topic, payload, retained }) => control.on_message(&topic, &payload, retained),
                None => return,
            },
            _ = tokio::time::sleep_until(republish_at.unwrap_or_else(Instant::now)), if republish_at.is_some() => {
                control.republish();
            }
            Some(event) = events.recv() => match event {
                ControlEvent::Incident { camera, rule, open } => control.on_incident(&camera, &rule, open),
                ControlEvent::Catalog(catalog) => control.on_reload(catalog),
                ControlEvent::BundleStatus(status) => {
                    control.bundle_status = Some(status);
                    control.publish_bundle_status();
                }
            },
            _ = cancel.cancelled() => return,
        }
    }
}

impl Control {
    fn send(&self, topic: String, payload: impl Into<Vec<u8>>) {
        let _ = self.out.send(Outbound {
            topic,
            payload: payload.into(),
            retain: true,
        });
    }

    fn discovery(&self, catalog: &Catalog) -> Vec<(String, serde_json::Value)> {
        match &self.plan.home_assistant {
            Some(ha) => Discovery {
                plan: ha,
                topics: &self.plan.topics,
                commands: self.plan.commands,
            }
            .messages(catalog),
            None => Vec::new(),
        }
    }

    /// Discovery, then every state.
    fn publish_all(&self) {
        let discovery = self.discovery(&self.catalog);
        let count = discovery.len();
        for (topic, config) in discovery {
            self.send(topic, config.to_string());
        }
        if self.plan.home_assistant.is_some() {
            tracing::info!(entities = count, "Home Assistant discovery published");
            for camera in &self.catalog.cameras {
                for rule in &camera.rules {
                    let open = self
                        .open
                        .get(&(camera.name.clone(), rule.name.clone()))
                        .is_some_and(|n| *n > 0);
                    self.send(self.plan.topics.active(&camera.name, &rule.name), on_off(open));
                }
            }
        }
        self.publish_arming();
    }

    fn publish_bundle_status(&self) {
        if let Some(status) = &self.bundle_status {
            self.send(self.plan.topics.bundle_status(), status.clone());
        }
    }

    fn publish_arming(&self) {
        if !self.plan.commands {
            return;
        }
        let topics = &self.plan.topics;
        for camera in &self.catalog.cameras {
            let c = camera.name.as_str();
            self.send(topics.armed(c, None), on_off(self.arming.camera_armed(c)));
            for rule in &camera.rules {
                self.send(
                    topics.armed(c, Some(&rule.name)),
                    on_off(self.arming.rule_armed(c, &rule.name)),
                );
            }
        }
        let profile = self.arming.profile().unwrap_or_else(|| "None".into());
        self.send(topics.profile(), profile);
    }

    fn on_incident(&mut self, camera: &str, rule: &str, open: bool) {
        let count = self.open.entry((camera.to_string(), rule.to_string())).or_default();
        let was = *count > 0;
        *count = if open { *count + 1 } else { count.saturating_sub(1) };
        let now = *count > 0;
        if was != now && self.plan.home_assistant.is_some() {
            self.send(self.plan.topics.active(camera, rule), on_off(now));
        }
    }

    fn on_reload(&mut self, catalog: Catalog) {
        let kept: BTreeSet<String> = self.discovery(&catalog).into_iter().map(|(t, _)| t).collect();
        let mut removed = 0;
        for (topic, _) in self.discovery(&self.catalog) {
            if !kept.contains(&topic) {
                self.send(topic, Vec::new());
                removed += 1;
            }
        }
        let topics = &self.plan.topics;
        for camera in &self.catalog.cameras {
            let c = camera.name.as_str();
            let gone = catalog.camera(c).is_none();
            if gone {
                self.send(topics.armed(c, None), Vec::new());
            }
            for rule in camera.rules.iter().filter(|r| gone || !catalog.has_rule(c, &r.name)) {
                self.send(topics.armed(c, Some(&rule.name)), Vec::new());
                self.send(topics.active(c, &rule.name), Vec::new());
            }
        }
        if removed > 0 {
            tracing::info!(
                entities = removed,
                "Home Assistant entities of removed cameras and rules withdrawn"
            );
        }
        let names = catalog.names();
        self.open
            .retain(|(c, r), _| names.iter().any(|(name, rules)| name == c && rules.contains(r)));
        self.arming.retain(&names);
        self.catalog = catalog;
        self.save();
        self.publish_all();
    }

    fn save(&self) {
        if !self.plan.commands {
            return;
        }
        if let Err(e) = save_state(&self.plan.state_file, &self.arming.state()) {
            tracing::error!(file = %self.plan.state_file.display(), error = %e, "cannot keep the arming state; it is lost at the next restart");
        }
    }

    /// Home Assistant said `online`: everything again, now or, when it was
    /// done less than [`REPUBLISH_EVERY`] ago, once that much time has passed.
    fn on_online(&mut self) {
        if self.republished.is_some_and(|at| at.elapsed() < REPUBLISH_EVERY) {
            self.republish_due = true;
        } else {
            self.republish();
        }
    }

    fn republish(&mut self) {
        tracing::info!("Home Assistant is online; publishing discovery again");
        self.republished = Some(Instant::now());
        self.republish_due = false;
        self.publish_all();
    }

    fn on_message(&mut self, topic: &str, payload: &[u8], retained: bool) {
        if let Some(ha) = &self.plan.home_assistant
            && topic == ha.status_topic
        {
            if payload == b"online" {
                self.on_online();
            }
            return;
        }
        if let Some(bundles) = &self.plan.bundles
            && bundles.topics.iter().any(|t| t == topic)
        {
            if payload.is_empty() {
                return;
            }
            if retained {
                // Cleared so that no later subscriber is handed it again.
                let _ = self.out.send(Outbound {
                    topic: topic.to_string(),
                    payload: Vec::new(),
                    retain: true,
                });
            }
            let _ = bundles.to_app.send(BundleMessage {
                topic: topic.to_string(),
                payload: payload.to_vec(),
                retained,
            });
            return;
        }
        let Some(command) = self.plan.topics.command(topic).filter(|_| self.plan.commands) else {
            return;
        };
        // An empty payload is no command: it clears a retained one (ours, echoed back, or an operator's).
        if payload.is_empty() {
            return;
        }
        if retained {
            tracing::warn!(topic = %topic, payload = %String::from_utf8_lossy(&payload[..payload.len().min(MAX_COMMAND)]).escape_debug(),
                "a retained arming command was ignored and cleared on the broker: only live commands arm or disarm (publish them without the retain flag)");
            let _ = self.out.send(Outbound {
                topic: topic.to_string(),
                payload: Vec::new(),
                retain: true,
            });
            return;
        }
        let ignore = |reason: String| tracing::warn!(topic = %topic, reason = %reason, "arming command ignored");
        if payload.len() > MAX_COMMAND {
            return ignore(format!(
                "the payload has {} bytes; commands have at most {MAX_COMMAND}",
                payload.len()
            ));
        }
        let Ok(text) = std::str::from_utf8(payload) else {
            return ignore("the payload is not text".into());
        };
        let text = text.trim();
        match command {
            Command::Armed { camera, rule } => {
                let armed = match text {
                    "ON" => true,
                    "OFF" => false,
                    _ => return ignore(format!("the payload is `{}`; send ON or OFF", text.escape_debug())),
                };
                if self.catalog.camera(camera).is_none() {
                    return ignore(format!("there is no camera `{camera}`"));
                }
                if let Some(rule) = rule
                    && !self.catalog.has_rule(camera, rule)
                {
                    return ignore(format!("camera `{camera}` has no rule `{rule}`"));
                }
                let changed = match rule {
                    Some(rule) => self.arming.set_rule(camera, rule, armed),
                    None => self.arming.set_camera(camera, armed),
                };
                if changed {
                    tracing::info!(camera = %camera, rule = rule.unwrap_or("*"), armed, source = "mqtt", "arming changed");
                    self.save();
                }
                self.publish_arming();
            }
            Command::Profile => {
                let Some(profile) = self.catalog.profile(text).cloned() else {
                    return ignore(format!(
                        "there is no profile `{}`; known: {}",
                        text.escape_debug(),
                        crate::config::listed(self.catalog.profiles.iter().map(|p| p.name.as_str()))
                    ));
                };
                for (camera, rule, armed) in self.arming.apply(&profile, &self.catalog.names()) {
                    tracing::info!(camera = %camera, rule = rule.as_deref().unwrap_or("*"), armed, source = "profile", "arming changed");
                }
                tracing::info!(profile = %profile.name, "arming profile selected");
                self.save();
                self.publish_arming();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(dir: &Path) -> (Control, mpsc::UnboundedReceiver<Outbound>) {
        let (out, rx) = mpsc::unbounded_channel();
        let catalog = Catalog {
            cameras: vec![super::super::catalog::CatalogCamera {
                name: "gate".into(),
                rules: vec![super::super::catalog::CatalogRule {
                    name: "loiter".into(),
                    kind: "loitering",
                    snapshot: false,
                }],
            }],
            ..Catalog::default()
        };
        let plan = ControlPlan {
            topics: Topics::new("wp/site/box"),
            home_assistant: Some(HomeAssistantPlan {
                discovery_prefix: "homeassistant".into(),
                status_topic: "homeassistant/status".into(),
                keys: Default::default(),
            }),
            commands: true,
            state_file: dir.join(STATE_FILE),
            bundles: None,
        };
        let control = Control {
            plan,
            catalog,
            arming: Arc::new(Arming::default()),
            out,
            open: BTreeMap::new(),
            republished: None,
            republish_due: false,
            bundle_status: None,
        };
        (control, rx)
    }

    fn drain(rx: &mut mpsc::UnboundedReceiver<Outbound>) -> Vec<Outbound> {
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }

    #[tokio::test]
    async fn a_retained_command_is_never_applied_and_is_cleared_a_live_one_is() {
        let dir = tempfile::tempdir().unwrap();
        let (mut control, mut rx) = control(dir.path());
        let set = "wp/site/box/gate/armed/set";
        control.on_message(set, b"OFF", true);
        assert!(
            control.arming.camera_armed("gate"),
            "a retained OFF disarmed the camera"
        );
        assert_eq!(
            drain(&mut rx),
            vec![Outbound {
                topic: set.into(),
                payload: Vec::new(),
                retain: true
            }],
            "the retained command is cleared on the broker"
        );
        // The clearing comes back to us as an empty message: nothing happens.
        control.on_message(set, b"", false);
        assert!(drain(&mut rx).is_empty());
        control.on_message(set, b"OFF", false);
        assert!(!control.arming.camera_armed("gate"), "a live OFF disarms");
        assert!(
            drain(&mut rx)
                .iter()
                .any(|m| m.topic == "wp/site/box/gate/armed" && m.payload == b"OFF")
        );
    }

    #[tokio::test]
    async fn a_flood_of_online_announcements_publishes_discovery_once_now_and_once_later() {
        let dir = tempfile::tempdir().unwrap();
        let (mut control, mut rx) = control(dir.path());
        control.on_message("homeassistant/status", b"online", false);
        let once = drain(&mut rx).len();
        assert!(once > 0);
        for _ in 0..10_000 {
            control.on_message("homeassistant/status", b"online", false);
        }
        assert!(drain(&mut rx).is_empty(), "announcements within the interval wait");
        assert!(control.republish_due, "…and one republish is due");
    }

    #[test]
    fn the_state_file_is_replaced_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(STATE_FILE);
        assert_eq!(load_state(&path), None);
        let arming = Arming::default();
        arming.set_rule("lobby", "loiter", false);
        save_state(&path, &arming.state()).unwrap();
        assert_eq!(load_state(&path), Some(arming.state()));
        assert!(!path.with_extension("json.tmp").exists());
        std::fs::write(&path, b"{not json").unwrap();
        assert_eq!(load_state(&path), None, "a damaged file arms everything");
    }
}
