//! Arming: whether people want a rule to raise at all, beside its
//! `schedule`. A rule raises only while its camera is armed, the rule itself
//! is armed and its schedule is open; a disarmed rule's targets are dropped
//! exactly as outside its schedule, so its open incidents end the usual way.
//!
//! [`Arming`] is the box's switchboard, shared by every camera's engine
//! (which reads one atomic flag per rule and frame, never a lock) and by
//! whoever changes it: arming commands over MQTT and named profiles
//! (`[profiles.<name>]`, checked here; the plan checks their camera and rule
//! names against the cameras). Everything is armed until someone says
//! otherwise. This module never reads a file or a clock; keeping the state
//! across restarts is the publisher's job.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::config::Ctx;
use crate::config::Spanned;

crate::config::table! {
    /// `[profiles.<name>]`: a named set of armed rules, e.g. `night` or `drill`.
    pub struct ProfileConfig in "" {
        /// What is armed while the profile is selected; everything else is
        /// disarmed. A camera name arms all its rules, `camera/rule` one rule,
        /// e.g. ["lobby", "north-gate/after-hours"]; [] disarms everything (a
        /// fire drill).
        #[required]
        pub armed: Spanned<Vec<Spanned<String>>>;
    }
}

/// One entry of a profile's `armed`: a whole camera or one of its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEntry {
    pub camera: String,
    pub rule: Option<String>,
    /// Where it is written, for the plan's check of its names.
    pub span: Range<usize>,
}

/// A checked profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    pub armed: Vec<ProfileEntry>,
}

impl Profile {
    /// Whether the profile arms `rule` of `camera`.
    pub fn arms(&self, camera: &str, rule: &str) -> bool {
        self.armed
            .iter()
            .any(|e| e.camera == camera && e.rule.as_deref().is_none_or(|r| r == rule))
    }
}

/// Checks one profile's names (the plan checks that they exist): the
/// profile with its well-formed entries, and whether all were.
pub fn check_profile(name: &Spanned<String>, config: &ProfileConfig, ctx: &mut Ctx<'_>) -> (Profile, bool) {
    let valid = ctx.identifier(name, "profile name");
    let mut armed = Vec::new();
    let mut ok = true;
    for entry in config.armed.get_ref() {
        let text = entry.get_ref();
        let (camera, rule) = match text.split_once('/') {
            Some((c, r)) => (c, Some(r)),
            None => (text.as_str(), None),
        };
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !part_ok(camera) || !rule.is_none_or(part_ok) {
            ok = false;
            ctx.error(
                entry.span(),
                format!(
                    "profile `{}`: `{text}` is neither a camera name nor camera/rule; write e.g. \"lobby\" or \"lobby/after-hours\"",
                    name.get_ref()
                ),
            );
            continue;
        }
        armed.push(ProfileEntry {
            camera: camera.to_string(),
            rule: rule.map(str::to_string),
            span: entry.span(),
        });
    }
    let profile = Profile {
        name: name.get_ref().clone(),
        armed,
    };
    (profile, ok && valid.is_some())
}

/// One rule's view of the switchboard: its camera's flag and its own.
#[derive(Debug, Clone)]
pub struct RuleSwitch {
    camera: Arc<AtomicBool>,
    rule: Arc<AtomicBool>,
}

impl RuleSwitch {
    /// Whether the rule may raise (its schedule aside).
    pub fn is_armed(&self) -> bool {
        self.camera.load(Ordering::Relaxed) && self.rule.load(Ordering::Relaxed)
    }
}

/// The box's arming state, as kept across restarts: what is disarmed, and
/// the profile last selected (None once a single switch changed since).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmingState {
    /// Format version: 1.
    pub version: u32,
    pub profile: Option<String>,
    /// Cameras and their armed flags.
    pub cameras: BTreeMap<String, bool>,
    /// `camera/rule` and its armed flag.
    pub rules: BTreeMap<String, bool>,
}

/// The switchboard: one flag per camera and per rule, armed by default.
#[derive(Debug, Default)]
pub struct Arming {
    inner: Mutex<Board>,
}

#[derive(Debug, Default)]
struct Board {
    cameras: BTreeMap<String, Arc<AtomicBool>>,
    rules: BTreeMap<(String, String), Arc<AtomicBool>>,
    profile: Option<String>,
}

fn flag<K: Ord>(map: &mut BTreeMap<K, Arc<AtomicBool>>, key: K) -> Arc<AtomicBool> {
    map.entry(key)
        .or_insert_with(|| Arc::new(AtomicBool::new(true)))
        .clone()
}

impl Arming {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The switch of `rule` on `camera` (created armed if new).
    pub fn switch(&self, camera: &str, rule: &str) -> RuleSwitch {
        let mut board = self.board();
        RuleSwitch {
            camera: flag(&mut board.cameras, camera.to_string()),
            rule: flag(&mut board.rules, (camera.to_string(), rule.to_string())),
        }
    }

    pub fn camera_armed(&self, camera: &str) -> bool {
        self.board()
            .cameras
            .get(camera)
            .is_none_or(|f| f.load(Ordering::Relaxed))
    }

    pub fn rule_armed(&self, camera: &str, rule: &str) -> bool {
        self.board()
            .rules
            .get(&(camera.to_string(), rule.to_string()))
            .is_none_or(|f| f.load(Ordering::Relaxed))
    }

    /// Sets a camera's flag; true if it changed. A single change leaves
    /// whatever profile was selected.
    pub fn set_camera(&self, camera: &str, armed: bool) -> bool {
        let mut board = self.board();
        let changed = flag(&mut board.cameras, camera.to_string()).swap(armed, Ordering::Relaxed) != armed;
        if changed {
            board.profile = None;
        }
        changed
    }

    /// Sets a rule's flag; true if it changed.
    pub fn set_rule(&self, camera: &str, rule: &str, armed: bool) -> bool {
        let mut board = self.board();
        let key = (camera.to_string(), rule.to_string());
        let changed = flag(&mut board.rules, key).swap(armed, Ordering::Relaxed) != armed;
        if changed {
            board.profile = None;
        }
        changed
    }

    /// Selects `profile` for `cameras` (each with its rules): every camera
    /// armed, each rule armed when the profile lists it. Returns the rules
    /// whose flag changed, as (camera, rule, armed).
    pub fn apply(&self, profile: &Profile, cameras: &[(String, Vec<String>)]) -> Vec<(String, Option<String>, bool)> {
        let mut board = self.board();
        let mut changed = Vec::new();
        for (camera, rules) in cameras {
            if !flag(&mut board.cameras, camera.clone()).swap(true, Ordering::Relaxed) {
                changed.push((camera.clone(), None, true));
            }
            for rule in rules {
                let armed = profile.arms(camera, rule);
                let key = (camera.clone(), rule.clone());
                if flag(&mut board.rules, key).swap(armed, Ordering::Relaxed) != armed {
                    changed.push((camera.clone(), Some(rule.clone()), armed));
                }
            }
        }
        board.profile = Some(profile.name.clone());
        changed
    }

    /// The profile selected last, unless a single switch changed since.
    pub fn profile(&self) -> Option<String> {
        self.board().profile.clone()
    }

    /// Forgets cameras and rules that are not in `cameras` any more (a
    /// reload removed them): added back later, they start armed.
    pub fn retain(&self, cameras: &[(String, Vec<String>)]) {
        let mut board = self.board();
        board.cameras.retain(|c, _| cameras.iter().any(|(name, _)| name == c));
        board
            .rules
            .retain(|(c, r), _| cameras.iter().any(|(name, rules)| name == c && rules.contains(r)));
    }

    /// The state to keep across restarts.
    pub fn state(&self) -> ArmingState {
        let board = self.board();
        ArmingState {
            version: 1,
            profile: board.profile.clone(),
            cameras: board
                .cameras
                .iter()
                .map(|(c, f)| (c.clone(), f.load(Ordering::Relaxed)))
                .collect(),
            rules: board
                .rules
                .iter()
                .map(|((c, r), f)| (format!("{c}/{r}"), f.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// Takes a kept state back (at start, before any camera runs).
    pub fn restore(&self, state: &ArmingState) {
        let mut board = self.board();
        for (camera, armed) in &state.cameras {
            flag(&mut board.cameras, camera.clone()).store(*armed, Ordering::Relaxed);
        }
        for (key, armed) in &state.rules {
            if let Some((camera, rule)) = key.split_once('/') {
                flag(&mut board.rules, (camera.to_string(), rule.to_string())).store(*armed, Ordering::Relaxed);
            }
        }
        board.profile = state.profile.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str, armed: &[&str]) -> Profile {
        Profile {
            name: name.into(),
            armed: armed
                .iter()
                .map(|e| {
                    let (camera, rule) = e.split_once('/').map_or((*e, None), |(c, r)| (c, Some(r.to_string())));
                    ProfileEntry {
                        camera: camera.into(),
                        rule,
                        span: 0..0,
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn a_rule_is_armed_only_while_its_camera_and_itself_are() {
        let arming = Arming::default();
        let switch = arming.switch("lobby", "loiter");
        assert!(switch.is_armed());
        assert!(arming.set_rule("lobby", "loiter", false));
        assert!(!arming.set_rule("lobby", "loiter", false), "no change the second time");
        assert!(!switch.is_armed());
        arming.set_rule("lobby", "loiter", true);
        arming.set_camera("lobby", false);
        assert!(!switch.is_armed());
        assert!(
            !arming.switch("lobby", "other").is_armed(),
            "a disarmed camera disarms every rule"
        );
        arming.set_camera("lobby", true);
        assert!(switch.is_armed());
    }

    #[test]
    fn profiles_arm_what_they_list_and_a_single_change_leaves_the_profile() {
        let arming = Arming::default();
        let cameras = vec![
            ("lobby".to_string(), vec!["loiter".to_string(), "door".to_string()]),
            ("gate".to_string(), vec!["climb".to_string()]),
        ];
        let changed = arming.apply(&profile("night", &["lobby/door", "gate"]), &cameras);
        assert_eq!(changed, vec![("lobby".to_string(), Some("loiter".to_string()), false)]);
        assert!(arming.rule_armed("lobby", "door") && arming.rule_armed("gate", "climb"));
        assert_eq!(arming.profile().as_deref(), Some("night"));
        let drill = arming.apply(&profile("drill", &[]), &cameras);
        assert_eq!(drill.len(), 2);
        assert!(!arming.switch("gate", "climb").is_armed());
        arming.set_rule("gate", "climb", true);
        assert_eq!(arming.profile(), None);
    }

    #[test]
    fn the_state_round_trips_and_removed_rules_are_forgotten() {
        let arming = Arming::default();
        arming.set_rule("lobby", "loiter", false);
        arming.set_camera("gate", false);
        let state = arming.state();
        let restored = Arming::default();
        restored.restore(&state);
        assert_eq!(restored.state(), state);
        assert!(!restored.switch("lobby", "loiter").is_armed());
        restored.retain(&[("lobby".to_string(), vec![])]);
        assert!(
            restored.rule_armed("lobby", "loiter"),
            "a removed rule comes back armed"
        );
        assert!(restored.camera_armed("gate"));
    }
}
