//! The console's "try on the last minute", as the app runs it: the edited
//! config checked as `check-config` checks it, then the edited camera's
//! rules run by a fresh [`RuleEngine`] over the tracks the camera kept
//! ([`crate::console::recent`]). Nothing is written, reloaded or
//! published; the running rules are not touched.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use crate::console::recent::TrackFrame;
use crate::console::{TrialEvent, TrialFn, TrialResult};
use crate::rules::{EventKind, RuleEngine};

/// A config's text checked as `check-config` checks the file (before its
/// models are verified): the plan, or every problem as `file:line:col: message`.
pub(super) fn checked(path: &Path, text: String) -> Result<crate::plan::Plan, Vec<String>> {
    let mut diags = crate::config::Diagnostics::default();
    match crate::plan::check_text(path, text, &mut diags) {
        Some(plan) if diags.is_empty() => Ok(plan),
        _ => Err(diags.into_sorted().iter().map(ToString::to_string).collect()),
    }
}

/// The trial the console hands each edit to.
pub(super) fn run_trial() -> TrialFn {
    Arc::new(|path: &Path, text: String, camera: &str, frames: &[TrackFrame]| {
        let plan = checked(path, text)?;
        let Some(camera) = plan.cameras.iter().find(|c| &*c.name == camera) else {
            return Err(vec![format!("the edited config has no camera `{camera}`")]);
        };
        Ok(try_rules(
            &camera.rules,
            camera.detect.model.manifest.labels.clone(),
            frames,
            SystemTime::now(),
        ))
    })
}

/// Runs `rules` over `frames`; events are dated against `now`.
fn try_rules(
    rules: &[Arc<crate::rules::RulePlan>],
    labels: Arc<crate::vocab::LabelMap>,
    frames: &[TrackFrame],
    now: SystemTime,
) -> TrialResult {
    let mut engine = RuleEngine::new(rules, labels);
    let mut raised = Vec::new();
    for frame in frames {
        engine.step(&frame.tracks, frame.pts, frame.wall, &mut raised);
    }
    let events = raised
        .iter()
        .map(|e| {
            let mut labels: Vec<String> = e.targets.iter().map(|t| t.label.to_string()).collect();
            labels.sort_unstable();
            labels.dedup();
            TrialEvent {
                event: match e.kind {
                    EventKind::Start => "start",
                    EventKind::Update => "update",
                    EventKind::End => "end",
                }
                .to_string(),
                rule: e.rule.to_string(),
                zone: e.zone.to_string(),
                labels,
                secs_ago: now.duration_since(e.time).unwrap_or_default().as_secs_f64(),
            }
        })
        .collect();
    let secs = match (frames.first(), frames.last()) {
        (Some(a), Some(b)) => b.pts.saturating_sub(a.pts).as_secs_f64(),
        _ => 0.0,
    };
    TrialResult {
        events,
        frames: frames.len(),
        secs,
        not_tried: rules
            .iter()
            .filter(|r| r.kind.watches_motion())
            .map(|r| r.name.to_string())
            .collect(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::track::Track;
    use crate::vocab::BBox;

    /// A one-camera file (camera `gate`, zones `door` and `sky`, a rule on
    /// each); other tests append tables of the camera to it.
    pub(crate) const CONFIG: &str = r#"
site = "t"
box_id = "t"

[models.coco]
manifest = "models/ssd_mobilenet_v2_coco.toml"

[[cameras]]
name = "gate"
[cameras.source]
url = "rtsp://127.0.0.1:8554/gate"
[cameras.detect]
model = "coco"

[[cameras.zones]]
name = "door"
polygon = [[0.4, 0.4], [0.6, 0.4], [0.6, 0.8], [0.4, 0.8]]

[[cameras.zones]]
name = "sky"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.1], [0.0, 0.1]]

[[cameras.rules]]
name = "at-the-door"
kind = "intrusion"
zone = "door"
labels = ["person"]

[[cameras.rules]]
name = "in-the-sky"
kind = "intrusion"
zone = "sky"
labels = ["person"]
"#;

    /// A person walking from the left edge to the door and standing there,
    /// one frame every 0.2 s for 20 s.
    fn walk(person: u32, t0: SystemTime) -> Vec<TrackFrame> {
        (0..100u64)
            .map(|i| {
                let x = (i as f32 * 0.01).min(0.45);
                let bbox = BBox {
                    x1: x,
                    y1: 0.5,
                    x2: x + 0.05,
                    y2: 0.7,
                };
                let pts = Duration::from_millis(i * 200);
                let track = Track {
                    id: 1,
                    label: person,
                    score: 0.9,
                    bbox,
                    hits: 10,
                    first_seen: Duration::ZERO,
                    first_bbox: bbox,
                    last_seen: pts,
                    moved: 0.01,
                    lost: false,
                    predicted: bbox,
                    stationary: false,
                    size: (0.0, 0.0),
                };
                TrackFrame {
                    pts,
                    wall: t0 + pts,
                    tracks: vec![track],
                }
            })
            .collect()
    }

    #[test]
    fn an_edit_is_tried_on_the_recent_tracks_and_only_its_own_rules_raise() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = root.join("watchpost.toml");
        let run = run_trial();
        let labels = crate::plan::check_text(&path, CONFIG.to_string(), &mut Default::default())
            .expect("the test config checks")
            .cameras[0]
            .detect
            .model
            .manifest
            .labels
            .clone();
        let person = labels.ids_of("person")[0];
        let t0 = SystemTime::now() - Duration::from_secs(30);
        let result = run(&path, CONFIG.to_string(), "gate", &walk(person, t0)).expect("a clean edit");
        assert_eq!(result.frames, 100);
        let starts: Vec<&TrialEvent> = result.events.iter().filter(|e| e.event == "start").collect();
        assert_eq!(starts.len(), 1, "{:?}", result.events);
        assert_eq!(
            (starts[0].rule.as_str(), starts[0].labels.clone()),
            ("at-the-door", vec!["person".to_string()])
        );
        // the person reaches the door (x 0.4) after about 8 s of the 20 s
        assert!((18.0..=25.0).contains(&starts[0].secs_ago), "{}", starts[0].secs_ago);
        assert!(result.not_tried.is_empty());

        let broken = CONFIG.replace("zone = \"sky\"", "zone = \"roof\"");
        let problems = run(&path, broken, "gate", &[]).expect_err("a rule on a missing zone");
        assert!(problems.iter().any(|p| p.contains("roof")), "{problems:?}");
        let missing = run(&path, CONFIG.to_string(), "lobby", &[]).expect_err("no such camera");
        assert!(missing[0].contains("lobby"));
    }
}
