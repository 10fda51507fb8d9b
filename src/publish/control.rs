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
//! ACL's business (docs/integrations.md). A reload hands a new [`Catalog`]:
//! cameras and rules it removed lose their entities (an empty retained
//! config) and their retained states.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;
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
    };
    loop {
        tokio::select! {
            message = inbound.recv() => match message {
                Some(Inbound::Connected) => control.publish_all(),
                Some(Inbound::Message { topic, payload }) => control.on_message(&topic, &payload),
                None => return,
            },
            Some(event) = events.recv() => match event {
                ControlEvent::Incident { camera, rule, open } => control.on_incident(&camera, &rule, open),
                ControlEvent::Catalog(catalog) => control.on_reload(catalog),
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

    fn on_message(&mut self, topic: &str, payload: &[u8]) {
        if let Some(ha) = &self.plan.home_assistant
            && topic == ha.status_topic
        {
            if payload == b"online" {
                tracing::info!("Home Assistant is online; publishing discovery again");
                self.publish_all();
            }
            return;
        }
        let Some(command) = self.plan.topics.command(topic).filter(|_| self.plan.commands) else {
            return;
        };
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
                    let known: Vec<&str> = self.catalog.profiles.iter().map(|p| p.name.as_str()).collect();
                    return ignore(format!(
                        "there is no profile `{}`; known: {}",
                        text.escape_debug(),
                        if known.is_empty() {
                            "none".into()
                        } else {
                            known.join(", ")
                        }
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
