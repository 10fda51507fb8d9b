//! `watchpost replay` as an operator runs it, on the sample clips:
//! - vtest.avi with tests/replay/vtest.toml gives the committed golden list of
//!   incidents (tests/golden/replay_vtest.jsonl; regenerate with
//!   WATCHPOST_UPDATE_GOLDEN=1);
//! - the number of line crossings barely moves when the detect fps halves;
//! - `--out` writes annotated frames and a contact sheet per incident, every
//!   one a JPEG, and an independent face detector (BlazeFace) finds no face in
//!   them while it finds one in the same frames before redaction;
//! - bikes.mp4 with a restricted-objects zone (tests/replay/bikes_restricted.toml)
//!   raises for the bicycle and for the motorbike;
//! - a missing recording or an unknown camera is a clear error, not a panic;
//! - frames in flight on every session give exactly the events, frames and
//!   positions of one frame at a time (`--in-flight 1`), on vtest.avi and on
//!   bikes.mp4 with the motion gate on;
//! - the rules run on the recording's clock: a rule scheduled only in the
//!   recording's hour raises, and the same recording said to start at
//!   another hour raises nothing from it.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::config::{Camera, Config, Rule, WHOLE_FRAME};
use serde_json::Value;

const GOLDEN: &str = "tests/golden/replay_vtest.jsonl";
const CONFIG: &str = "tests/replay/vtest.toml";
/// Box coordinates may move this much (a fraction of the frame) between runs
/// or machines before the golden list is out of date.
const BOX_TOLERANCE: f64 = 0.01;
/// Line crossings at 5 fps may differ from those at 10 fps by at most this
/// share (measured: see docs/rules.md, "Tuning with replay").
const CROSSING_TOLERANCE: f64 = 0.25;

/// Runs `watchpost replay` and returns (exit code, incident events, stderr).
fn replay(args: &[&std::ffi::OsStr]) -> (i32, Vec<Value>, String) {
    let out = common::watchpost().arg("replay").args(args).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let events = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (out.status.code().unwrap_or(-1), events, stderr)
}

/// vtest.toml at `fps` in a temporary folder, its relative paths made absolute.
fn vtest_config(dir: &Path, fps: u32) -> PathBuf {
    // Text edits of the checked-in config, not a config of its own: no builder.
    let text = std::fs::read_to_string(common::root().join(CONFIG)).unwrap();
    let root = common::root().display().to_string();
    let text = text
        .replace("\"../../", &format!("\"{root}/"))
        .replace("fps = 10", &format!("fps = {fps}"));
    assert!(text.contains(&format!("fps = {fps}")));
    let path = dir.join(format!("vtest_{fps}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

/// The incident events of vtest.avi at `fps`, each run once per test binary.
fn vtest_events(fps: u32) -> &'static [Value] {
    static AT_10: OnceLock<Vec<Value>> = OnceLock::new();
    static AT_5: OnceLock<Vec<Value>> = OnceLock::new();
    let cell = if fps == 10 { &AT_10 } else { &AT_5 };
    cell.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let config = vtest_config(dir.path(), fps);
        let clip = common::media("vtest.avi");
        let (code, events, stderr) = replay(&["--config".as_ref(), config.as_os_str(), clip.as_os_str()]);
        assert_eq!(code, 0, "{stderr}");
        events
    })
}

/// What the golden list keeps of an event: no ids, sequence numbers or times.
fn essence(event: &Value) -> Value {
    serde_json::json!({
        "event": event["event"],
        "rule": event["rule"],
        "zone": event["zone"],
        "labels": event["labels"],
        "severity": event["severity"],
        "boxes": event["boxes"],
    })
}

fn boxes_close(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_array(), b.as_array()) else {
        return false;
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
            a.iter()
                .zip(b)
                .all(|(a, b)| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() <= BOX_TOLERANCE)
        })
}

#[test]
fn vtest_replays_to_the_golden_incidents() {
    let events = vtest_events(10);
    assert!(!events.is_empty(), "the replay raised no incident");
    // The payload contract, with a sequence local to the replay and every
    // incident started once and ended once.
    let mut open = BTreeSet::new();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["seq"].as_u64(), Some(i as u64 + 1));
        assert_eq!(event["camera"], "walkway");
        assert_eq!(event["schema"], 1);
        let id = event["incident_id"].as_str().unwrap().to_string();
        match event["event"].as_str().unwrap() {
            "start" => assert!(open.insert(id), "started twice"),
            "update" => assert!(open.contains(&id), "an update outside its incident"),
            "end" => assert!(open.remove(&id), "an end without a start"),
            other => panic!("unknown event {other}"),
        }
    }
    assert!(open.is_empty(), "incidents left open: {open:?}");
    let rules: BTreeSet<&str> = events.iter().map(|e| e["rule"].as_str().unwrap()).collect();
    assert!(rules.contains("walkway-crossing"), "{rules:?}");
    assert!(rules.contains("lawn-intrusion"), "{rules:?}");

    let got: Vec<Value> = events.iter().map(essence).collect();
    let golden_path = common::root().join(GOLDEN);
    if std::env::var_os("WATCHPOST_UPDATE_GOLDEN").is_some() {
        let text: String = got.iter().map(|e| format!("{e}\n")).collect();
        std::fs::write(&golden_path, text).unwrap();
        eprintln!("wrote {}", golden_path.display());
        return;
    }
    let golden: Vec<Value> = std::fs::read_to_string(&golden_path)
        .expect("the golden list (WATCHPOST_UPDATE_GOLDEN=1 writes it)")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let show = |v: &[Value]| v.iter().map(|e| format!("{e}\n")).collect::<String>();
    assert_eq!(
        got.len(),
        golden.len(),
        "replay:\n{}\ngolden:\n{}",
        show(&got),
        show(&golden)
    );
    for (i, (g, want)) in got.iter().zip(&golden).enumerate() {
        for key in ["event", "rule", "zone", "labels", "severity"] {
            assert_eq!(g[key], want[key], "event {i}: {key}\n got {g}\nwant {want}");
        }
        assert!(
            boxes_close(&g["boxes"], &want["boxes"]),
            "event {i}: boxes\n got {g}\nwant {want}"
        );
    }
}

/// Crossings counted by the counting rule: with `update_every_secs = 0` every
/// frame's new crossers are in a start or an update event.
fn crossings(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|e| e["rule"] == "walkway-crossing" && e["event"] != "end")
        .map(|e| e["boxes"].as_array().unwrap().len())
        .sum()
}

#[test]
fn line_crossings_barely_change_when_the_detect_fps_halves() {
    let at_10 = crossings(vtest_events(10));
    let at_5 = crossings(vtest_events(5));
    eprintln!("line crossings: {at_10} at 10 fps, {at_5} at 5 fps");
    assert!(at_10 >= 5, "the line sees enough people to compare: {at_10}");
    let drift = (at_10 as f64 - at_5 as f64).abs() / at_10 as f64;
    assert!(
        drift <= CROSSING_TOLERANCE,
        "{at_10} crossings at 10 fps, {at_5} at 5 fps: {:.0}% apart",
        drift * 100.0
    );
}

/// The frames of a clip as the detect branch picks them (the same rate
/// limiting), full size, tightly packed RGB.
fn frames_at(clip: &Path, fps: u32) -> Vec<(Vec<u8>, usize, usize)> {
    let tail = format!("videorate drop-only=true max-rate={fps} ! videoconvert ! video/x-raw,format=RGB");
    common::samples(clip, &tail, 1).iter().map(common::rgb).collect()
}

#[test]
fn out_writes_redacted_frames_and_a_contact_sheet_per_incident() {
    const FPS: u32 = 5;
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let clip = common::media("carphone_pristine.mp4");
    let config_path = Config::new(&dir.path().join("state"))
        .site("replay-test")
        .box_id("replay-box")
        .set("runtime", "intra_threads", 1)
        .mqtt(1883)
        .coco()
        .faces()
        .camera(
            Camera::new("car")
                .clip(&clip)
                .detect("coco", FPS.into())
                .zone("cabin", &WHOLE_FRAME)
                .rule(Rule::intrusion("occupied", "cabin").set("end_after_secs", 1.0)),
        )
        .write(&dir.path().join("car.toml"));
    let out = dir.path().join("out");
    let (code, events, stderr) = replay(&[
        "--config".as_ref(),
        config_path.as_os_str(),
        clip.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("face_model is set"),
        "the face model is used: {stderr}"
    );

    // A contact sheet per incident, and every written file a JPEG.
    let incidents: BTreeSet<String> = events
        .iter()
        .filter(|e| e["event"] == "start")
        .map(|e| e["incident_id"].as_str().unwrap().to_string())
        .collect();
    assert!(!incidents.is_empty(), "the person in the car raised an incident");
    let sheets: BTreeSet<String> = std::fs::read_dir(out.join("incidents"))
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".jpg")
                .to_string()
        })
        .collect();
    assert_eq!(sheets, incidents);
    for id in &incidents {
        let bytes = std::fs::read(out.join("incidents").join(format!("{id}.jpg"))).unwrap();
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg).expect("a contact sheet decodes");
    }
    let mut written: Vec<(u64, PathBuf)> = std::fs::read_dir(out.join("frames"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_stem().unwrap().to_str().unwrap().parse().unwrap(), p))
        .collect();
    written.sort();
    assert!(written.len() >= 10, "{} frames written", written.len());

    // BlazeFace on the same frames before (positive control) and after.
    let originals = frames_at(&clip, FPS);
    let check = tempfile::tempdir().unwrap();
    let mut meta = Vec::new();
    for (number, path) in &written {
        let picture = image::load_from_memory_with_format(&std::fs::read(path).unwrap(), image::ImageFormat::Jpeg)
            .expect("a written frame decodes")
            .to_rgb8();
        let (original, w, h) = &originals[*number as usize];
        assert_eq!((picture.width() as usize, picture.height() as usize), (*w, *h));
        if number % 3 != 0 {
            continue;
        }
        let name = format!("frame_{number}");
        std::fs::write(check.path().join(format!("{name}.orig.rgb")), original).unwrap();
        std::fs::write(check.path().join(format!("{name}.redacted.rgb")), picture.as_raw()).unwrap();
        meta.push(serde_json::json!({"name": name, "width": w, "height": h}));
    }
    std::fs::write(check.path().join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    let run = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/privacy/blazeface_check.py"))
        .arg(common::media("blazeface_back_256.onnx"))
        .arg(check.path())
        .output()
        .expect("the check runs (scripts/setup makes .venv and fetches BlazeFace)");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: Vec<Value> = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report.len(), meta.len());
    for image in &report {
        assert!(
            !image["faces"].as_array().unwrap().is_empty(),
            "positive control: BlazeFace finds the face in {} before redaction",
            image["name"]
        );
        let after = image["after"].as_array().unwrap();
        assert!(
            after.is_empty(),
            "a face survived in the written {}: {after:?}",
            image["name"]
        );
    }
}

#[test]
fn a_missing_or_undecodable_recording_is_a_clear_error() {
    let (code, events, stderr) = replay(&["--config".as_ref(), CONFIG.as_ref(), "/nonexistent/clip.mp4".as_ref()]);
    assert_ne!(code, 0);
    assert!(events.is_empty());
    assert!(stderr.contains("/nonexistent/clip.mp4: no such file"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // A file that is not a video fails in decoding, with GStreamer's reason.
    let (code, events, stderr) = replay(&["--config".as_ref(), CONFIG.as_ref(), "README.md".as_ref()]);
    assert_eq!(code, 1);
    assert!(events.is_empty());
    assert!(stderr.contains("README.md: cannot decode the recording"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unknown_camera_or_a_bad_config_exits_2() {
    let clip = common::media("vtest.avi");
    let (code, _, stderr) = replay(&[
        "--config".as_ref(),
        CONFIG.as_ref(),
        "--camera".as_ref(),
        "gate".as_ref(),
        clip.as_os_str(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no camera `gate`") && stderr.contains("walkway"),
        "{stderr}"
    );
    let (code, _, stderr) = replay(&[
        "--config".as_ref(),
        "tests/configs/invalid/misspelled_camera_key.toml".as_ref(),
        clip.as_os_str(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown key `fsp`"), "{stderr}");
}

#[test]
fn replay_help_names_its_options() {
    let out = common::watchpost().args(["replay", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for option in ["--config", "--camera", "--out", "<RECORDING>", "JSON"] {
        assert!(help.contains(option), "{option} in:\n{help}");
    }
}

#[test]
fn bikes_replay_raises_for_the_bicycle_and_the_motorbike() {
    let config = common::root().join("tests/replay/bikes_restricted.toml");
    let clip = common::media("bikes.mp4");
    let (code, events, stderr) = replay(&["--config".as_ref(), config.as_os_str(), clip.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    let seen = |label: &str| {
        events
            .iter()
            .filter(|e| e["rule"] == "no-bikes")
            .any(|e| e["labels"].as_array().is_some_and(|l| l.iter().any(|l| l == label)))
    };
    assert!(seen("bicycle"), "no bicycle incident: {events:?}");
    assert!(seen("motorcycle"), "no motorbike incident: {events:?}");
    // every incident that starts also ends when the object has left
    let starts = events.iter().filter(|e| e["event"] == "start").count();
    let ends = events.iter().filter(|e| e["event"] == "end").count();
    assert!(starts >= 1 && starts == ends, "{events:?}");
}

#[test]
fn replay_events_carry_the_recordings_time_frame_and_position() {
    // bikes.mp4: 25 fps; replayed at the config's detect fps from a given start
    let (code, events, stderr) = replay(&[
        "--config".as_ref(),
        "tests/replay/bikes_restricted.toml".as_ref(),
        common::media("bikes.mp4").as_os_str(),
        "--start".as_ref(),
        "2026-11-30T21:00:00Z".as_ref(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!events.is_empty(), "bikes.mp4 raised nothing");
    let start = "2026-11-30T21:00:00Z".parse::<jiff::Timestamp>().unwrap();
    for event in &events {
        let pts = event["pts_secs"].as_f64().expect("pts_secs");
        let frame = event["frame"].as_u64().expect("frame");
        let time: jiff::Timestamp = event["time"].as_str().unwrap().parse().unwrap();
        let offset = time.duration_since(start).as_secs_f64();
        assert!((offset - pts).abs() < 0.002, "time {time} is not start + {pts} s");
        // the recording's own frame index at 25 fps
        assert!((frame as f64 - pts * 25.0).abs() <= 0.5, "frame {frame} at {pts} s");
        assert!(pts <= 10.5, "bikes.mp4 lasts 10 s, not {pts}");
    }
    // a time that is not one is a clear error
    let (code, _, stderr) = replay(&[
        "--config".as_ref(),
        "tests/replay/bikes_restricted.toml".as_ref(),
        common::media("bikes.mp4").as_os_str(),
        "--start".as_ref(),
        "yesterday".as_ref(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("2026-11-30T21:00:00Z"), "{stderr}");
}

/// A van that parks in a fire lane for four minutes (the derived clip of
/// scripts/parked_clip.py: it stops at 16 s and drives off at 256 s) raises
/// exactly one incident: a start once it has stood `park_secs` (30 s), at
/// most a couple of updates, and an end after it has gone — never a flood,
/// with the motion gate skipping inference while nothing moves.
#[test]
fn a_van_parked_for_minutes_in_the_fire_lane_raises_one_incident() {
    let config = common::root().join("tests/replay/parked_car.toml");
    let clip = common::media("parked_van_640x360_5fps.mp4");
    let (code, events, stderr) = replay(&["--config".as_ref(), config.as_os_str(), clip.as_os_str()]);
    assert_eq!(code, 0, "{stderr}");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "start").count(), 1, "{events:#?}");
    assert_eq!(kinds.last(), Some(&"end"), "{events:#?}");
    assert!(kinds.len() <= 4, "a flood of updates: {kinds:?}");
    assert!(events.iter().all(|e| e["incident_id"] == events[0]["incident_id"]));
    let at = |e: &Value| e["pts_secs"].as_f64().unwrap();
    let (start, end) = (at(&events[0]), at(events.last().unwrap()));
    assert!(
        (44.0..=52.0).contains(&start),
        "raised at {start} s: 30 s after the van came to a stop at about 16 s"
    );
    assert!(
        (256.0..=266.0).contains(&end),
        "ended at {end} s: the van drives off at 256 s"
    );
    let labels = events[0]["labels"].as_array().unwrap();
    assert!(labels.iter().any(|l| l == "truck" || l == "car"), "{labels:?}");
}

/// Runs `watchpost replay` with a fixed start (and TZ=UTC for schedules);
/// returns the events and the summary line.
fn replay_at(config: &Path, clip: &Path, start: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let out = common::watchpost()
        .env("TZ", "UTC")
        .arg("replay")
        .args(["--config".as_ref(), config.as_os_str(), clip.as_os_str()])
        .args(["--start", start])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    let events = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("replayed "))
        .unwrap_or_else(|| panic!("no summary line: {stderr}"))
        .to_string();
    (events, summary)
}

/// An event without its random incident id.
fn without_id(event: &Value) -> Value {
    let mut event = event.clone();
    event.as_object_mut().unwrap().remove("incident_id");
    event
}

/// The same replay one frame at a time and with frames in flight.
fn same_in_flight_as_one_at_a_time(config: &Path, clip: &Path) -> usize {
    const START: &str = "2026-11-30T21:00:00Z";
    let (one, one_summary) = replay_at(config, clip, START, &["--in-flight", "1"]);
    let (many, many_summary) = replay_at(config, clip, START, &[]);
    assert!(!one.is_empty(), "{} raised nothing", clip.display());
    // frames analysed and events printed
    assert_eq!(one_summary, many_summary);
    let show = |v: &[Value]| v.iter().map(|e| format!("{e}\n")).collect::<String>();
    assert_eq!(
        one.len(),
        many.len(),
        "one at a time:\n{}\nin flight:\n{}",
        show(&one),
        show(&many)
    );
    for (i, (a, b)) in one.iter().zip(&many).enumerate() {
        // kind, rule, labels, boxes, time, seq, frame and pts: all of it
        assert_eq!(without_id(a), without_id(b), "event {i}");
    }
    one.len()
}

#[test]
fn frames_in_flight_give_what_one_frame_at_a_time_gives() {
    let dir = tempfile::tempdir().unwrap();
    let vtest = same_in_flight_as_one_at_a_time(&vtest_config(dir.path(), 10), &common::media("vtest.avi"));
    // bikes.mp4 with the motion gate on: frames whose verdict needs the
    // tracks wait for the frames in flight before them
    let bikes = common::root().join("tests/replay/bikes_restricted.toml");
    let text = std::fs::read_to_string(&bikes).unwrap();
    assert!(!text.contains("[cameras.motion]"), "the gate is on, as by default");
    let bikes = same_in_flight_as_one_at_a_time(&bikes, &common::media("bikes.mp4"));
    eprintln!("identical: {vtest} events on vtest.avi, {bikes} on bikes.mp4");
}

#[test]
fn a_rule_scheduled_in_the_recordings_hour_follows_the_recordings_clock() {
    // bikes.mp4's restricted-objects rule, armed only from 21:00 to 22:00 (UTC)
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(common::root().join("tests/replay/bikes_restricted.toml")).unwrap();
    let root = common::root().display().to_string();
    let text = text.replace("\"../../", &format!("\"{root}/")).replace(
        "once_per_target = true",
        "once_per_target = true\nschedule = [{ from = \"21:00\", to = \"22:00\" }]",
    );
    assert!(text.contains("schedule = "));
    let config = dir.path().join("scheduled.toml");
    std::fs::write(&config, text).unwrap();
    let clip = common::media("bikes.mp4");
    let raised = |events: &[Value]| events.iter().filter(|e| e["rule"] == "no-bikes").count();
    // recorded at 21:30: the rule is armed for the whole clip
    let (events, _) = replay_at(&config, &clip, "2026-11-30T21:30:00Z", &[]);
    assert!(raised(&events) >= 2, "armed in the recording's hour: {events:?}");
    for event in &events {
        let time: jiff::Timestamp = event["time"].as_str().unwrap().parse().unwrap();
        let start: jiff::Timestamp = "2026-11-30T21:30:00Z".parse().unwrap();
        assert!(
            time >= start && time.duration_since(start).as_secs_f64() < 11.0,
            "{time}"
        );
    }
    // the same recording made at 09:30: disarmed, whatever the time now
    let (events, _) = replay_at(&config, &clip, "2026-11-30T09:30:00Z", &[]);
    assert_eq!(raised(&events), 0, "disarmed outside its hours: {events:?}");
    // and one that runs into the window: only what comes after 21:00
    let (events, _) = replay_at(&config, &clip, "2026-11-30T20:59:55Z", &[]);
    let starts: Vec<&Value> = events.iter().filter(|e| e["event"] == "start").collect();
    assert!(!starts.is_empty(), "the bicycle comes after 21:00: {events:?}");
    for event in starts {
        let pts = event["pts_secs"].as_f64().unwrap();
        assert!(
            pts >= 5.0,
            "raised at {pts} s, before the window opened at 5 s: {event}"
        );
    }
}
