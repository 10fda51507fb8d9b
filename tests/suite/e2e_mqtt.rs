//! End to end, with the real parts: vtest.avi decoded by GStreamer, the SSD
//! model run by ONNX Runtime, incidents published to a real Mosquitto that
//! the test starts on a free port, and read back by a real MQTT subscriber.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{Broker, Subscriber, camera_config, media, wait_for, watchpost};
use serde_json::Value;

const TOPIC_PREFIX: &str = "watchpost/test-site";

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let path = dir.path().join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits for a child with a generous guard; kills it if the guard passes.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let mut status = None;
    wait_for(limit, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("watchpost did not finish within {limit:?}");
    })
}

fn parse_time(v: &Value) -> SystemTime {
    let ts: jiff::Timestamp = v["time"]
        .as_str()
        .expect("time is a string")
        .parse()
        .expect("time is ISO-8601");
    SystemTime::from(ts)
}

fn assert_contract(incident: &Value) {
    // The payload is exactly the typed contract (unknown fields are refused).
    let typed: watchpost::publish::Alert =
        serde_json::from_value(incident.clone()).expect("payload matches the Alert type");
    assert_eq!(typed.schema(), 1);
    assert_eq!(incident["schema"], 1);
    assert_eq!(incident["camera"], "walkway");
    assert_eq!(incident["rule"], "lawn-intrusion");
    assert_eq!(incident["zone"], "lawn-corner");
    assert_eq!(incident["severity"], "high");
    assert!(uuid::Uuid::parse_str(incident["incident_id"].as_str().unwrap()).is_ok());
    assert!(incident["seq"].as_u64().is_some());
    let labels: Vec<&str> = incident["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(labels.contains(&"person"), "labels: {labels:?}");
    let confidence = incident["confidence"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&confidence), "confidence {confidence}");
    let boxes = boxes(incident);
    assert!(!boxes.is_empty());
    for b in boxes {
        assert_eq!(b.len(), 4);
        assert!(b.iter().all(|v| (0.0..=1.0).contains(v)), "box {b:?}");
        assert!(b[0] < b[2] && b[1] < b[3], "box {b:?}");
    }
}

fn boxes(incident: &Value) -> Vec<Vec<f64>> {
    let boxes = incident["boxes"].as_array().expect("boxes is an array");
    boxes
        .iter()
        .map(|b| {
            b.as_array()
                .expect("a box is an array")
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// The feet (bottom centre) of at least one box are inside the zone polygon.
fn someone_stands_in_the_zone(incident: &Value) -> bool {
    boxes(incident).iter().any(|b| {
        let (x, y) = ((b[0] + b[2]) / 2.0, b[3]);
        (0.70..=1.0).contains(&x) && (0.58..=0.80).contains(&y)
    })
}

#[test]
fn a_person_entering_the_zone_raises_one_incident_that_starts_and_ends() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port);
    assert!(sub.wait_subscribed(common::SOON), "subscriber could not subscribe");
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        &dir,
        &camera_config(broker.port, &media("vtest.avi"), false, dir.path()),
    );
    let started = SystemTime::now();

    let mut child = watchpost()
        .args(["run", "--config"])
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(300));
    assert!(status.success(), "watchpost exited with {status}");

    let availability = format!("{TOPIC_PREFIX}/box-{}/availability", broker.port);
    assert!(
        wait_for(common::SOON, || sub.on_topic(&availability).last().map(String::as_str)
            == Some("offline")),
        "no offline availability after a clean exit"
    );
    assert_eq!(sub.on_topic(&availability).first().map(String::as_str), Some("online"));

    let incidents = sub.incidents();
    assert!(!incidents.is_empty(), "no incident was published");
    let first = &incidents[0];
    assert_eq!(first["event"], "start");
    assert_contract(first);
    assert!(
        someone_stands_in_the_zone(first),
        "start boxes are not in the zone: {first}"
    );
    let t = parse_time(first);
    assert!(
        t >= started - Duration::from_secs(1) && t <= SystemTime::now(),
        "time {:?} is not now",
        first["time"]
    );

    // Each incident: exactly one start, any (throttled) updates, exactly one
    // end; seq always increases.
    let mut lifecycle: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut keys = BTreeSet::new();
    let mut last_seq = 0;
    for incident in &incidents {
        assert_contract(incident);
        let id = incident["incident_id"].as_str().unwrap().to_string();
        let seq = incident["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "seq went from {last_seq} to {seq}");
        last_seq = seq;
        assert!(keys.insert((id.clone(), seq)), "duplicate ({id}, {seq})");
        lifecycle
            .entry(id)
            .or_default()
            .push(incident["event"].as_str().unwrap().to_string());
    }
    for (id, events) in &lifecycle {
        let (first, last) = (events.first().map(String::as_str), events.last().map(String::as_str));
        let middle = &events[1..events.len().saturating_sub(1).max(1)];
        assert!(
            events.len() >= 2 && first == Some("start") && last == Some("end") && middle.iter().all(|e| e == "update"),
            "incident {id}: {events:?}"
        );
    }
}

#[test]
fn with_the_broker_down_at_start_incidents_wait_and_are_published_once_it_is_up() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port);
    assert!(sub.wait_subscribed(common::SOON));
    // watchpost talks to `port`, where nothing listens until the forwarder starts.
    let port = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, &camera_config(port, &media("vtest.avi"), true, dir.path()));

    let mut child = watchpost()
        .args(["run", "--config"])
        .arg(&config)
        .env("WATCHPOST_LOG", "info,ort=warn")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let log = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
    }
    let count = |needle: &str| log.lock().unwrap().iter().filter(|l| l.contains(needle)).count();

    // It keeps running, raises an incident while the broker is unreachable,
    // and retries several times (0.5 s, 1 s, 2 s backoff) without repeating itself.
    assert!(
        wait_for(common::GUARD, || count("incident raised") >= 1),
        "no incident raised: {:?}",
        log.lock().unwrap()
    );
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        child.try_wait().unwrap().is_none(),
        "watchpost exited while the broker was down"
    );
    let broker_up = SystemTime::now();
    common::forward(port, broker.port, Arc::default());

    assert!(
        wait_for(common::GUARD, || !sub.incidents().is_empty()),
        "nothing was published after the broker came up"
    );
    let first = &sub.incidents()[0];
    assert_contract(first);
    assert_eq!(first["event"], "start");
    assert!(
        parse_time(first) < broker_up,
        "the incident raised while the broker was down was not delivered: {first}"
    );
    let availability = format!("{TOPIC_PREFIX}/box-{port}/availability");
    assert!(wait_for(common::SOON, || sub
        .on_topic(&availability)
        .contains(&"online".to_string())));

    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = wait_exit(&mut child, common::SOON);
    assert!(status.success(), "watchpost exited with {status} after SIGTERM");
    assert!(wait_for(common::SOON, || sub
        .on_topic(&availability)
        .last()
        .map(String::as_str)
        == Some("offline")));

    assert_eq!(
        count("MQTT broker unreachable"),
        1,
        "the outage must be logged once: {:?}",
        log.lock().unwrap()
    );
    assert_eq!(count("connected to MQTT broker"), 1);
    assert_eq!(count("panicked"), 0);
}
