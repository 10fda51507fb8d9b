//! `watchpost run` as systemd runs it, without systemd: the test owns the
//! `$NOTIFY_SOCKET` (a unix datagram socket) and reads READY, STATUS and
//! WATCHDOG messages; it sends SIGHUP and SIGTERM as `systemctl reload` and
//! `systemctl stop` would; and it reads the box's counters by scraping the
//! metrics endpoint. Every assertion is on messages, counters and states;
//! deadlines are only guards.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::config::{Camera, Config, LAWN, Rule, WHOLE_FRAME};
use common::{Broker, Subscriber, free_port, media, wait_for, watchpost};

use common::GUARD;

/// One camera: a looping, real-time sample clip and one rule.
fn camera(name: &str, zone: &str, polygon: &[[f64; 2]], rule: &str, min_secs: f64) -> Camera {
    Camera::new(name)
        .clip(&media("vtest.avi"))
        .looped(true)
        .realtime(true)
        .detect("coco", 5)
        .zone(zone, polygon)
        .rule(
            Rule::intrusion(rule, zone)
                .set("min_secs", min_secs)
                .set("end_after_secs", 1.0),
        )
}

fn header(mqtt_port: u16, metrics_port: u16, state: &Path) -> Config {
    Config::new(state).mqtt(mqtt_port).metrics(metrics_port).coco()
}

/// A running `watchpost run`, its log and its systemd messages.
struct Service {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    notes: Arc<Mutex<Vec<String>>>,
    metrics_port: u16,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start(config: &Path, metrics_port: u16, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let notes = Arc::new(Mutex::new(Vec::new()));
        {
            let notes = notes.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match socket.recv(&mut buf) {
                        Ok(n) => {
                            let text = String::from_utf8_lossy(&buf[..n]).to_string();
                            notes.lock().unwrap().extend(text.lines().map(str::to_string));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                        Err(_) => return,
                    }
                }
            });
        }
        let mut cmd = watchpost();
        cmd.args(["run", "--config", config.to_str().unwrap()])
            .env("NOTIFY_SOCKET", &socket_path)
            .env_remove("WATCHDOG_PID")
            .env_remove("WATCHDOG_USEC")
            .env("WATCHPOST_LOG", "info,ort=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        {
            let log = log.clone();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line);
                }
            });
        }
        Self {
            child,
            log,
            notes,
            metrics_port,
            _dir: dir,
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.lock().unwrap().clone()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn wait_ready(&self) {
        let ready = wait_for(GUARD, || self.notes().iter().any(|n| n == "READY=1"));
        assert!(ready, "no READY=1 arrived; log:\n{}", self.log());
    }

    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The metrics endpoint, parsed: `name{labels}` → value.
    fn scrape(&self) -> BTreeMap<String, f64> {
        scrape(self.metrics_port).unwrap_or_default()
    }

    fn metric(&self, key: &str) -> f64 {
        self.scrape().get(key).copied().unwrap_or(0.0)
    }

    fn wait_exit(&mut self) -> i32 {
        let mut code = None;
        wait_for(GUARD, || {
            code = self.child.try_wait().unwrap().map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code.unwrap_or_else(|| panic!("watchpost did not stop; log:\n{}", self.log()))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET /metrics, parsed into `name{labels}` → value.
fn scrape(port: u16) -> Option<BTreeMap<String, f64>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    let mut values = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad metrics line `{line}`"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in `{line}`"));
        values.insert(key.to_string(), value);
    }
    Some(values)
}

fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn ready_then_watchdog_pings_and_the_pings_stop_when_a_detect_thread_hangs() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let text = header(broker.port, metrics_port, dir.path())
        .camera(camera("walkway", "lawn", &LAWN, "lawn-intrusion", 0.4))
        .to_toml();
    let config = write_config(dir.path(), "watchpost.toml", &text);
    // Test hook: the detect thread hangs after 15 frames (docs/install.md).
    let service = Service::start(
        &config,
        metrics_port,
        &[
            ("WATCHDOG_USEC", "2000000"),
            ("WATCHPOST_TEST_WEDGE_DETECT", "walkway:15"),
        ],
    );
    service.wait_ready();
    let status = service.notes().iter().find(|n| n.starts_with("STATUS=")).cloned();
    assert_eq!(status.as_deref(), Some("STATUS=running 1 camera(s)"));
    let pinged = wait_for(GUARD, || service.notes().iter().any(|n| n == "WATCHDOG=1"));
    assert!(pinged, "no WATCHDOG=1; log:\n{}", service.log());

    let wedged = |notes: &[String]| notes.iter().position(|n| n.starts_with("STATUS=wedged"));
    assert!(
        wait_for(GUARD, || wedged(&service.notes()).is_some()),
        "the hang was not noticed; notes: {:?}\nlog:\n{}",
        service.notes(),
        service.log()
    );
    let notes = service.notes();
    let at = wedged(&notes).unwrap();
    assert!(
        notes[at].contains("camera `walkway`: the detect thread took no frame"),
        "{}",
        notes[at]
    );
    assert!(notes[..at].iter().any(|n| n == "WATCHDOG=1"));
    // Three ping periods (1 s each) pass without a ping.
    std::thread::sleep(Duration::from_secs(3));
    let after: Vec<_> = service.notes()[at..].to_vec();
    assert!(!after.iter().any(|n| n == "WATCHDOG=1"), "pings went on: {after:?}");
    assert_eq!(service.metric("watchpost_healthy"), 0.0);
}

#[test]
fn sighup_applies_a_changed_rule_and_leaves_the_unchanged_camera_streaming() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let lobby = camera("lobby", "lawn", &LAWN, "lawn-intrusion", 0.4);
    let before = header(broker.port, metrics_port, dir.path())
        .camera(camera("walkway", "lawn", &LAWN, "lawn-intrusion", 0.4))
        .camera(lobby.clone())
        .to_toml();
    let config = write_config(dir.path(), "watchpost.toml", &before);
    let mut service = Service::start(&config, metrics_port, &[]);
    service.wait_ready();
    let frames = r#"watchpost_camera_frames_in_total{camera="lobby"}"#;
    assert!(wait_for(GUARD, || service.metric(frames) >= 5.0), "{}", service.log());

    // The parsed endpoint has every family the issue asks for.
    let m = service.scrape();
    for key in [
        r#"watchpost_camera_frames_decoded_total{camera="lobby"}"#,
        r#"watchpost_camera_frames_inferred_total{camera="lobby"}"#,
        r#"watchpost_camera_frames_dropped_total{camera="lobby"}"#,
        r#"watchpost_camera_reconnects_total{camera="lobby"}"#,
        r#"watchpost_camera_state{camera="lobby",state="streaming"}"#,
        r#"watchpost_camera_state{camera="lobby",state="backoff"}"#,
        r#"watchpost_inference_seconds_count{model="coco",camera="lobby"}"#,
        r#"watchpost_inference_seconds_bucket{le="+Inf",model="coco",camera="lobby"}"#,
        "watchpost_outbox_depth",
        "watchpost_outbox_oldest_age_seconds",
        "watchpost_mqtt_connected",
        "watchpost_healthy",
    ] {
        assert!(m.contains_key(key), "`{key}` is missing from:\n{m:#?}");
    }
    assert_eq!(m[r#"watchpost_camera_state{camera="lobby",state="streaming"}"#], 1.0);
    assert_eq!(m[r#"watchpost_camera_state{camera="lobby",state="backoff"}"#], 0.0);
    assert_eq!(m["watchpost_healthy"], 1.0);

    // The walkway's rule now covers the whole frame under a new name.
    let after = header(broker.port, metrics_port, dir.path())
        .camera(camera("walkway", "everywhere", &WHOLE_FRAME, "anyone-anywhere", 0.2))
        .camera(lobby)
        .to_toml();
    std::fs::write(&config, after).unwrap();
    let frames_before = service.metric(frames);
    service.signal("HUP");
    let applied = r#"watchpost_reloads_total{result="applied"}"#;
    assert!(wait_for(GUARD, || service.metric(applied) == 1.0), "{}", service.log());
    let frames_at_reload = service.metric(frames);
    let new_rule = r#"watchpost_incidents_total{camera="walkway",rule="anyone-anywhere"}"#;
    assert!(
        wait_for(GUARD, || service.metric(new_rule) >= 1.0),
        "the new rule raised nothing; log:\n{}",
        service.log()
    );
    // The lobby was never restarted: its counter only went up, and still does.
    assert!(
        frames_at_reload >= frames_before,
        "{frames_at_reload} < {frames_before}"
    );
    assert!(wait_for(GUARD, || service.metric(frames) > frames_at_reload));
    let m = service.scrape();
    assert_eq!(m[r#"watchpost_camera_reconnects_total{camera="lobby"}"#], 0.0);
    assert_eq!(m[r#"watchpost_camera_state{camera="lobby",state="streaming"}"#], 1.0);
    let log = service.log();
    assert!(log.contains("rules and zones replaced"), "{log}");
    assert!(log.contains(r#"rules_replaced=["walkway"]"#), "{log}");
    assert!(log.contains("restarted=[]"), "{log}");
    let readies = service.notes().iter().filter(|n| *n == "READY=1").count();
    assert!(readies >= 2, "READY=1 after the reload: {:?}", service.notes());
    assert!(service.notes().iter().any(|n| n == "RELOADING=1"));

    service.signal("TERM");
    assert_eq!(service.wait_exit(), 0, "{}", service.log());
}

/// A camera whose lawn incidents are followed by snapshots, under a privacy
/// table (`privacy` is the body of `[cameras.privacy]`).
fn snapshot_camera(snapshot: bool, privacy: &str) -> Camera {
    Camera::new("walkway")
        .clip(&media("vtest.avi"))
        .looped(true)
        .realtime(true)
        .detect("coco", 5)
        .zone("lawn", &LAWN)
        .rule(
            Rule::intrusion("lawn-intrusion", "lawn")
                .set("min_secs", 0.4)
                .set("end_after_secs", 1.0)
                .set("snapshot", snapshot),
        )
        .extra(&format!("[privacy]\n{privacy}\n"))
}

/// The mean brightness (0–255) of the left and right thirds of a JPEG.
fn thirds_brightness(jpeg: &[u8]) -> (f64, f64) {
    let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
        .unwrap()
        .to_luma8();
    let (w, h) = img.dimensions();
    let mean = |xs: std::ops::Range<u32>| {
        let n = (xs.len() as u32 * h) as f64;
        xs.flat_map(|x| (0..h).map(move |y| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y)[0] as f64)
            .sum::<f64>()
            / n
    };
    (mean(0..w / 3), mean(2 * w / 3..w))
}

/// The snapshot of the first incident that starts after `from` messages,
/// once it has arrived.
fn next_snapshot(sub: &Subscriber, from: usize) -> Option<Vec<u8>> {
    let mut found = None;
    wait_for(GUARD, || {
        let messages = sub.messages.lock().unwrap().clone();
        let started = messages[from.min(messages.len())..]
            .iter()
            .find_map(|(topic, payload)| {
                let event: serde_json::Value = serde_json::from_str(payload).ok()?;
                (topic.ends_with("/incidents") && event["event"] == "start")
                    .then(|| event["incident_id"].as_str().map(str::to_string))?
            });
        found = started.and_then(|id| {
            sub.images
                .lock()
                .unwrap()
                .iter()
                .find(|(topic, _)| topic.ends_with(&id))
                .map(|(_, jpeg)| jpeg.clone())
        });
        found.is_some()
    });
    found
}

#[test]
fn sighup_applies_masks_and_snapshot_flags_and_refuses_a_changed_face_search() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port);
    assert!(sub.wait_subscribed(GUARD));
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let header = header(broker.port, metrics_port, dir.path()).faces();
    let policy = r#"redact = ["faces", "heads"]"#;
    let config = write_config(
        dir.path(),
        "watchpost.toml",
        &header.clone().camera(snapshot_camera(true, policy)).to_toml(),
    );
    let mut service = Service::start(&config, metrics_port, &[]);
    service.wait_ready();

    // Before: the left of the picture is the bright pavement of the scene.
    let before = next_snapshot(&sub, 0).unwrap_or_else(|| panic!("no snapshot; log:\n{}", service.log()));
    let (left_before, _) = thirds_brightness(&before);

    // A mask over the left half: the camera is rebuilt, and the next
    // snapshot has that half black (redaction noise stays dark).
    let masked = format!("{policy}\nmasks = [[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]]");
    std::fs::write(&config, header.clone().camera(snapshot_camera(true, &masked)).to_toml()).unwrap();
    let mark = sub.messages.lock().unwrap().len();
    service.signal("HUP");
    let applied = |n: f64| move |s: &Service| s.metric(r#"watchpost_reloads_total{result="applied"}"#) == n;
    assert!(wait_for(GUARD, || applied(1.0)(&service)), "{}", service.log());
    let after =
        next_snapshot(&sub, mark).unwrap_or_else(|| panic!("no snapshot after the reload; log:\n{}", service.log()));
    let (left_after, right_after) = thirds_brightness(&after);
    eprintln!("left third before {left_before:.0}, after {left_after:.0}; right third after {right_after:.0}");
    assert!(
        left_before > 60.0,
        "the positive control: the unmasked left third is lit ({left_before:.0})"
    );
    assert!(left_after < 25.0, "the masked left third is black ({left_after:.0})");
    assert!(
        right_after > 60.0,
        "the unmasked right third is still lit ({right_after:.0})"
    );

    // Snapshots off: incidents go on, and none is followed by a picture.
    std::fs::write(
        &config,
        header.clone().camera(snapshot_camera(false, &masked)).to_toml(),
    )
    .unwrap();
    service.signal("HUP");
    assert!(wait_for(GUARD, || applied(2.0)(&service)), "{}", service.log());
    let mark = sub.messages.lock().unwrap().len();
    let ended_after = |sub: &Subscriber| {
        sub.messages.lock().unwrap()[mark..]
            .iter()
            .filter_map(|(topic, payload)| {
                topic
                    .ends_with("/incidents")
                    .then(|| serde_json::from_str::<serde_json::Value>(payload).ok())?
            })
            .filter(|e| e["event"] == "end")
            .count()
    };
    assert!(
        wait_for(GUARD, || ended_after(&sub) >= 2),
        "no incidents after the reload; log:\n{}",
        service.log()
    );
    let pictures = sub.messages.lock().unwrap()[mark..]
        .iter()
        .filter(|(topic, _)| topic.contains("/snapshots/"))
        .count();
    assert_eq!(pictures, 0, "snapshot = false still published pictures");
    assert!(
        service.log().contains(r#"rules_replaced=["walkway"]"#),
        "{}",
        service.log()
    );

    // A changed face search is refused, never silently kept: the running
    // config stays in force and the reload says a restart applies it.
    let face = header.clone().set("privacy", "face_confidence", 0.3);
    std::fs::write(&config, face.camera(snapshot_camera(false, &masked)).to_toml()).unwrap();
    service.signal("HUP");
    let refused = r#"watchpost_reloads_total{result="refused"}"#;
    assert!(wait_for(GUARD, || service.metric(refused) == 1.0), "{}", service.log());
    assert!(service.log().contains("face_confidence changed"), "{}", service.log());
    // The covering threshold changes the detector's plan: the camera restarts with it.
    let cover = header.set("privacy", "cover_confidence", 0.45);
    std::fs::write(&config, cover.camera(snapshot_camera(false, &masked)).to_toml()).unwrap();
    service.signal("HUP");
    assert!(wait_for(GUARD, || applied(3.0)(&service)), "{}", service.log());
    assert!(service.log().contains(r#"restarted=["walkway"]"#), "{}", service.log());

    service.signal("TERM");
    assert_eq!(service.wait_exit(), 0, "{}", service.log());
}

#[test]
fn sighup_with_an_invalid_config_keeps_the_running_one() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let text = header(broker.port, metrics_port, dir.path())
        .camera(camera("walkway", "lawn", &LAWN, "lawn-intrusion", 0.4))
        .to_toml();
    let config = write_config(dir.path(), "watchpost.toml", &text);
    let mut service = Service::start(&config, metrics_port, &[]);
    service.wait_ready();
    let frames = r#"watchpost_camera_frames_in_total{camera="walkway"}"#;
    assert!(wait_for(GUARD, || service.metric(frames) >= 3.0), "{}", service.log());

    // Two typos made in the file's text, as an operator would.
    let broken = text
        .replace("fps = 5", "fps = 500")
        .replace("labels = [\"person\"]", "labels = [\"persn\"]");
    std::fs::write(&config, broken).unwrap();
    service.signal("HUP");
    let invalid = r#"watchpost_reloads_total{result="invalid"}"#;
    assert!(wait_for(GUARD, || service.metric(invalid) == 1.0), "{}", service.log());
    let at_refusal = service.metric(frames);
    assert!(wait_for(GUARD, || service.metric(frames) > at_refusal));
    let log = service.log();
    assert!(log.contains("reload refused: the new config is invalid"), "{log}");
    assert!(log.contains("`detect.fps` is 500, out of range"), "{log}");
    assert!(log.contains("did you mean `person`?"), "{log}");
    assert_eq!(
        service.metric(r#"watchpost_camera_state{camera="walkway",state="streaming"}"#),
        1.0
    );
    assert!(service.child.try_wait().unwrap().is_none(), "watchpost exited");
    service.signal("TERM");
    assert_eq!(service.wait_exit(), 0, "{}", service.log());
}

/// Writes `text` into the named pipe `fifo` once a reader opens it (on a
/// thread: opening a pipe waits for the other end).
fn feed(fifo: &Path, text: &str) {
    let (fifo, text) = (fifo.to_path_buf(), text.to_string());
    std::thread::spawn(move || {
        let mut pipe = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        pipe.write_all(text.as_bytes()).unwrap();
    });
}

#[test]
fn a_slow_reload_leaves_the_loop_serving_and_requests_meanwhile_make_one_more() {
    // The config file becomes a named pipe: a reload blocks reading it until
    // the test writes into it, as a reload blocked on a slow disk or a large
    // model would. Nothing in watchpost knows.
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let walkway =
        header(broker.port, metrics_port, dir.path()).camera(camera("walkway", "lawn", &LAWN, "lawn-intrusion", 0.4));
    let config = write_config(dir.path(), "watchpost.toml", &walkway.to_toml());
    let mut service = Service::start(&config, metrics_port, &[("WATCHDOG_USEC", "2000000")]);
    service.wait_ready();
    let frames = |camera: &str| format!(r#"watchpost_camera_frames_in_total{{camera="{camera}"}}"#);
    assert!(
        wait_for(GUARD, || service.metric(&frames("walkway")) >= 3.0),
        "{}",
        service.log()
    );
    std::fs::remove_file(&config).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&config).status().unwrap();
    assert!(made.success());

    let count = |service: &Service, note: &str| service.notes().iter().filter(|n| *n == note).count();
    service.signal("HUP");
    assert!(
        wait_for(GUARD, || count(&service, "RELOADING=1") == 1),
        "{}",
        service.log()
    );
    let reloading_at = service.notes().iter().position(|n| n == "RELOADING=1").unwrap();
    // Three more requests while it reads the pipe.
    for n in 1..=3 {
        service.signal("HUP");
        let coalesced = || service.log().matches("a reload is already in progress").count() == n;
        assert!(wait_for(GUARD, coalesced), "{}", service.log());
    }
    // Meanwhile the loop goes on: watchdog pings, metrics, a streaming camera.
    let pings = || {
        service.notes()[reloading_at..]
            .iter()
            .filter(|n| *n == "WATCHDOG=1")
            .count()
    };
    assert!(
        wait_for(GUARD, || pings() >= 3),
        "no watchdog pings during the reload: {:?}",
        service.notes()
    );
    let streamed = service.metric(&frames("walkway"));
    assert!(wait_for(GUARD, || service.metric(&frames("walkway")) > streamed));
    let applied = r#"watchpost_reloads_total{result="applied"}"#;
    assert_eq!(service.metric(applied), 0.0);

    // The pipe gives a config with a second camera: it is applied, and the
    // three requests made meanwhile make exactly one more reload.
    let both = walkway
        .camera(camera("lobby", "lawn", &LAWN, "lawn-intrusion", 0.4))
        .to_toml();
    feed(&config, &both);
    assert!(wait_for(GUARD, || service.metric(applied) == 1.0), "{}", service.log());
    assert!(
        wait_for(GUARD, || count(&service, "RELOADING=1") == 2),
        "{:?}",
        service.notes()
    );
    feed(&config, &both);
    assert!(wait_for(GUARD, || service.metric(applied) == 2.0), "{}", service.log());
    assert!(
        wait_for(GUARD, || service.metric(&frames("lobby")) >= 1.0),
        "{}",
        service.log()
    );

    // A stop while a reload is stuck: SIGTERM is heard, the box stops cleanly.
    service.signal("HUP");
    assert!(
        wait_for(GUARD, || count(&service, "RELOADING=1") == 3),
        "{:?}",
        service.notes()
    );
    service.signal("TERM");
    assert_eq!(service.wait_exit(), 0, "{}", service.log());
    let log = service.log();
    assert!(log.contains("a reload still in progress is abandoned"), "{log}");
    assert!(log.contains("watchpost stopped"), "{log}");
    assert_eq!(
        count(&service, "RELOADING=1"),
        3,
        "four requests during one reload made one more, not four"
    );
    assert_eq!(log.matches("config reloaded").count(), 2, "{log}");
}

/// A broker, a subscriber, and the config of a looped walkway camera whose
/// rule `anyone-anywhere` always has an incident open (people are always
/// somewhere in the frame).
struct Walkway {
    broker: Broker,
    subscriber: Subscriber,
    dir: tempfile::TempDir,
    metrics_port: u16,
    config: PathBuf,
}

impl Walkway {
    fn start() -> Self {
        let broker = Broker::start();
        let subscriber = Subscriber::connect(broker.port);
        assert!(subscriber.wait_subscribed(GUARD));
        let dir = tempfile::tempdir().unwrap();
        let metrics_port = free_port();
        let text = header(broker.port, metrics_port, dir.path())
            .camera(camera("walkway", "everywhere", &WHOLE_FRAME, "anyone-anywhere", 0.2))
            .to_toml();
        let config = write_config(dir.path(), "watchpost.toml", &text);
        Self {
            broker,
            subscriber,
            dir,
            metrics_port,
            config,
        }
    }
}

#[test]
fn sigterm_leaves_every_raised_event_delivered_or_in_the_outbox() {
    let Walkway {
        broker,
        subscriber,
        dir,
        metrics_port,
        config,
    } = Walkway::start();
    let mut service = Service::start(&config, metrics_port, &[]);
    service.wait_ready();
    // Stop while an incident is open: people are always somewhere in the frame.
    let raised = r#"watchpost_incidents_total{camera="walkway",rule="anyone-anywhere"}"#;
    assert!(wait_for(GUARD, || service.metric(raised) >= 1.0), "{}", service.log());
    service.signal("TERM");
    assert_eq!(service.wait_exit(), 0, "{}", service.log());
    let log = service.log();
    assert!(
        service.notes().iter().any(|n| n == "STOPPING=1"),
        "{:?}",
        service.notes()
    );

    // Every event the log says was raised or ended …
    let logged: BTreeSet<u64> = log
        .lines()
        .filter(|l| l.contains("incident raised") || l.contains("incident ended"))
        .filter_map(|l| l.split(" seq=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(!logged.is_empty(), "{log}");
    // … was delivered, or is still in the outbox for the next start.
    let delivered = || -> BTreeSet<u64> {
        subscriber
            .incidents()
            .iter()
            .filter_map(|a| a["seq"].as_u64())
            .collect()
    };
    let plan = watchpost::publish::OutboxPlan {
        keys: watchpost::publish::OutboxKeys {
            max_age_hours: Duration::from_secs(86_400),
            ..Default::default()
        },
        ..watchpost::publish::OutboxPlan::in_dir(dir.path())
    };
    let outbox = watchpost::publish::Outbox::open(&plan).unwrap();
    let stored: BTreeSet<u64> = outbox
        .read_after(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|(seq, _)| seq)
        .collect();
    let last = outbox.last_seq();
    // (What the broker acknowledged may still be on its way to the subscriber.)
    let expected: BTreeSet<u64> = (1..=last).collect();
    wait_for(GUARD, || {
        delivered().union(&stored).copied().collect::<BTreeSet<_>>() == expected
    });
    let all: BTreeSet<u64> = delivered().union(&stored).copied().collect();
    assert_eq!(all, expected, "delivered {:?}, stored {stored:?}", delivered());
    assert!(logged.is_subset(&all), "logged {logged:?}, delivered or stored {all:?}");
    // The incident open at the stop is not ended: the ledger keeps it open
    // for the next start to take up (see the restart test below).
    assert!(!log.contains("incident ended"), "{log}");
    let open = outbox.open_incidents();
    assert!(
        open.iter()
            .any(|(camera, i)| camera == "walkway" && &*i.rule == "anyone-anywhere"),
        "{open:?}"
    );
    let topic = format!("watchpost/test-site/box-{}/availability", broker.port);
    let offline = || subscriber.on_topic(&topic).last().map(String::as_str) == Some("offline");
    assert!(wait_for(GUARD, offline), "{:?}", subscriber.on_topic(&topic));
}

/// A restart (SIGTERM, then a new start on the same state directory) while
/// an incident is open takes the incident up again: the security office
/// gets no second start, and the next events carry the same incident id.
#[test]
fn a_restart_takes_up_the_open_incident_instead_of_raising_it_again() {
    let Walkway {
        broker: _broker,
        subscriber,
        dir: _dir,
        metrics_port,
        config,
    } = Walkway::start();
    let raised = r#"watchpost_incidents_total{camera="walkway",rule="anyone-anywhere"}"#;
    let events = |kind: &str| -> Vec<String> {
        subscriber
            .incidents()
            .iter()
            .filter(|e| e["rule"] == "anyone-anywhere" && e["event"] == kind)
            .filter_map(|e| e["incident_id"].as_str().map(str::to_string))
            .collect()
    };

    let mut first = Service::start(&config, metrics_port, &[]);
    first.wait_ready();
    assert!(wait_for(GUARD, || first.metric(raised) >= 1.0), "{}", first.log());
    assert!(
        wait_for(GUARD, || events("start").len() == 1),
        "{:#?}",
        subscriber.incidents()
    );
    let id = events("start")[0].clone();
    first.signal("TERM");
    assert_eq!(first.wait_exit(), 0, "{}", first.log());
    let before = subscriber.incidents().len();

    // People are always somewhere on the walkway: the incident goes on.
    let mut second = Service::start(&config, metrics_port, &[]);
    second.wait_ready();
    let taken_up = || {
        subscriber.incidents()[before..]
            .iter()
            .any(|e| e["rule"] == "anyone-anywhere" && e["event"] == "update")
    };
    assert!(
        wait_for(GUARD, taken_up),
        "{:#?}\n{}",
        subscriber.incidents(),
        second.log()
    );
    assert_eq!(second.metric(raised), 0.0, "the second run raised nothing new");
    second.signal("TERM");
    assert_eq!(second.wait_exit(), 0, "{}", second.log());

    assert_eq!(
        events("start"),
        std::slice::from_ref(&id),
        "one start across the restart"
    );
    let after: Vec<serde_json::Value> = subscriber.incidents()[before..]
        .iter()
        .filter(|e| e["rule"] == "anyone-anywhere")
        .cloned()
        .collect();
    assert!(
        after.iter().all(|e| e["incident_id"] == id.as_str()),
        "after the restart only the open incident's events: {after:#?}"
    );
}
