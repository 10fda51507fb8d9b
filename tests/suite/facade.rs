//! Objects thrown from height, end to end on the synthetic façade clips that
//! `scripts/setup` makes (scripts/throw_clip.py, encoded by GStreamer): a
//! small object falling along a parabola, and the same object moving
//! sideways at constant speed.
//!
//! - `watchpost replay` with tests/replay/facade_throw.toml raises one
//!   thrown_object incident on the fall, following the object down, and
//!   nothing on the sideways clip;
//! - a running camera (the live path: the pipeline's motion branch and the
//!   camera's motion thread) raises the same incident over MQTT and follows
//!   it with a redacted snapshot strip of several frames with the path drawn.

use crate::common;

use common::config::{Camera, Config};

use std::path::Path;

use serde_json::Value;

const CONFIG: &str = "tests/replay/facade_throw.toml";

fn replay(clip: &str) -> (Vec<Value>, String) {
    let out = common::watchpost()
        .arg("replay")
        .arg("--config")
        .arg(common::root().join(CONFIG))
        .arg(common::media(clip))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "replay failed: {stderr}");
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event a line"))
        .collect();
    (events, stderr)
}

fn box_of(event: &Value) -> [f64; 4] {
    let b = &event["boxes"][0];
    [0, 1, 2, 3].map(|i| b[i].as_f64().expect("a box"))
}

#[test]
fn replay_raises_one_throw_and_follows_it_down() {
    let (events, stderr) = replay("throw_parabola_640x360_25fps.mp4");
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "end"], "one incident: {events:?}\n{stderr}");
    let (start, end) = (&events[0], &events[1]);
    assert_eq!(start["rule"], "thrown-from-height");
    assert_eq!(start["labels"], serde_json::json!(["thrown_object"]));
    assert_eq!(start["incident_id"], end["incident_id"]);
    // raised while it falls (in the upper half), last seen near the bottom
    let (s, e) = (box_of(start), box_of(end));
    assert!(s[1] < 0.5, "raised while falling: {s:?}");
    assert!(e[3] > 0.85, "followed to the bottom of the picture: {e:?}");
    assert!(e[0] > s[0], "drifting right as thrown: {s:?} → {e:?}");
}

#[test]
fn replay_stays_quiet_on_an_object_moving_sideways() {
    let (events, stderr) = replay("throw_sideways_640x360_25fps.mp4");
    assert!(events.is_empty(), "sideways motion raised {events:?}");
    // the clip was analysed: the replay reports its detect frames
    assert!(stderr.contains(": 30 frames"), "{stderr}");
}

#[test]
fn a_running_camera_publishes_the_throw_and_a_redacted_strip_of_its_path() {
    let broker = common::Broker::start();
    let subscriber = common::Subscriber::connect(broker.port);
    assert!(subscriber.wait_subscribed(common::SOON));
    let dir = tempfile::tempdir().unwrap();
    let config = live_config(broker.port, dir.path());
    let path = dir.path().join("watchpost.toml");
    std::fs::write(&path, config).unwrap();
    assert!(subscriber.run_until_snapshot(&path), "no snapshot arrived");

    let incidents = subscriber.incidents();
    let starts: Vec<&Value> = incidents.iter().filter(|i| i["event"] == "start").collect();
    assert_eq!(starts.len(), 1, "one throw: {incidents:?}");
    assert_eq!(starts[0]["labels"], serde_json::json!(["thrown_object"]));
    let id = starts[0]["incident_id"].as_str().unwrap();

    let images = subscriber.images.lock().unwrap().clone();
    assert_eq!(images.len(), 1);
    assert!(images[0].0.ends_with(&format!("/facade/snapshots/{id}")));
    let strip = image::load_from_memory_with_format(&images[0].1, image::ImageFormat::Jpeg)
        .expect("a JPEG")
        .to_rgb8();
    // several 640×360 frames side by side, not one picture
    assert!(
        strip.width() >= 3 * strip.height(),
        "a strip: {}×{}",
        strip.width(),
        strip.height()
    );
    // the path is drawn in red on the frames; the brick wall has no such red
    let red = strip.pixels().filter(|p| p[0] > 200 && p[1] < 90 && p[2] < 90).count();
    assert!(red > 200, "the trajectory is drawn ({red} red pixels)");
}

/// The camera of the replay config, live on the falling object, its rule
/// followed by a snapshot; faces found and hidden.
fn live_config(port: u16, state_dir: &Path) -> String {
    let replay: toml::Table = std::fs::read_to_string(common::root().join(CONFIG))
        .unwrap()
        .parse()
        .unwrap();
    let mut watched = replay["cameras"][0].as_table().unwrap().clone();
    watched.retain(|key, _| key == "zones" || key == "rules");
    let rules = watched.get_mut("rules").and_then(toml::Value::as_array_mut).unwrap();
    rules
        .last_mut()
        .unwrap()
        .as_table_mut()
        .unwrap()
        .insert("snapshot".into(), true.into());
    Config::new(state_dir)
        .mqtt(port)
        .coco()
        .faces()
        .camera(
            Camera::new("facade")
                .clip(&common::media("throw_parabola_640x360_25fps.mp4"))
                .detect("coco", 5)
                .extra(&toml::to_string(&watched).unwrap()),
        )
        .to_toml()
}
