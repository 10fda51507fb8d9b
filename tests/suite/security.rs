//! Security cases driven against the real binary: camera and broker
//! passwords never reach `run --print-config`, `probe` or an error message,
//! whatever the URL's shape; ONNX Runtime is never loaded from the working
//! folder; plain-text broker passwords and bad manifest numbers are config
//! errors (exit 2), never a crash at run time.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::watchpost;

/// (URL with `{port}` for a closed local port, the secrets in it).
const SHAPES: &[(&str, &[&str])] = &[
    ("rtsp://admin:Zq9pa55@127.0.0.1:{port}/Streaming/101", &["Zq9pa55"]),
    ("rtsp://admin:Zq9pa/ss@127.0.0.1:{port}/x", &["Zq9pa/ss", "Zq9pa%2Fss"]),
    ("rtsp://admin:Zq9p@ss@127.0.0.1:{port}/x", &["Zq9p@ss", "Zq9p%40ss"]),
    (
        "rtsp://admin:Zq9p@s/s@127.0.0.1:{port}/live",
        &["Zq9p@s/s", "Zq9p%40s%2Fs"],
    ),
    ("rtsp://u:Zq9pa?ss@127.0.0.1:{port}/live", &["Zq9pa?ss", "Zq9pa%3Fss"]),
    ("rtsp://u:Zq9pa#ss@127.0.0.1:{port}/live", &["Zq9pa#ss", "Zq9pa%23ss"]),
    ("rtsp://u:Zq9p%40ss@127.0.0.1:{port}/live", &["Zq9p@ss", "Zq9p%40ss"]),
    ("rtsp://admin:Zq9v6pw@[::1]:{port}/live", &["Zq9v6pw"]),
    ("rtsps://admin:Zq9tls@127.0.0.1:{port}/live", &["Zq9tls"]),
    ("http://admin:Zq9http@127.0.0.1:{port}/mjpeg", &["Zq9http"]),
    ("https://admin:Zq9https@127.0.0.1:{port}/mjpeg", &["Zq9https"]),
    (
        "http://127.0.0.1:{port}/videostream.cgi?user=admin&pwd=Zq9query",
        &["Zq9query"],
    ),
    (
        "http://127.0.0.1:{port}/cgi?loginuse=admin&loginpas=Zq9foscam",
        &["Zq9foscam"],
    ),
    (
        "http://127.0.0.1:{port}/cgi?usr=admin&PASSWORD=Zq9upper&res=1",
        &["Zq9upper"],
    ),
    ("http://127.0.0.1:{port}/snap?token=Zq9token", &["Zq9token"]),
    ("rtsp://127.0.0.1:{port}/live?auth=Zq9auth", &["Zq9auth"]),
    (
        "rtsp://admin:Zq9both@127.0.0.1:{port}/live?pwd=Zq9query2",
        &["Zq9both", "Zq9query2"],
    ),
    (
        "rtsp://admin:Zq9:colon@127.0.0.1:{port}/live",
        &["Zq9:colon", "Zq9%3Acolon"],
    ),
    ("rtsp://ad%20min:Zq9space@127.0.0.1:{port}/", &["Zq9space"]),
    (
        "rtsp://admin:Zq9sym!$()*+,;=x@127.0.0.1:{port}/live",
        &["Zq9sym!$()*+,;=x", "Zq9sym!$()*+,%3B%3Dx"],
    ),
    ("http://127.0.0.1:{port}/cgi?passwd=Zq9passwd&x=%20", &["Zq9passwd"]),
    (
        "rtsp://user:Zq9semi;x@127.0.0.1:{port}/ch1",
        &["Zq9semi;x", "Zq9semi%3Bx"],
    ),
];

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_secret(what: &str, url: &str, secrets: &[&str], out: &str) {
    for secret in secrets {
        assert!(!out.contains(secret), "{what} of {url} shows `{secret}`:\n{out}");
    }
    assert!(!out.contains("panicked"), "{what} of {url} panicked:\n{out}");
}

/// A config whose one camera reads `url` (written as a TOML literal string).
fn config_with_camera(dir: &Path, url: &str) -> std::path::PathBuf {
    let clip = common::media("vtest.avi");
    let text = common::camera_config(common::free_port(), &clip, false, dir)
        .replace(&format!("url = \"{}\"", clip.display()), &format!("url = '{url}'"));
    assert!(text.contains(url));
    let path = dir.join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn print_config_never_shows_a_camera_secret() {
    assert!(SHAPES.len() >= 20);
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port().to_string();
    for (shape, secrets) in SHAPES {
        let url = shape.replace("{port}", &port);
        let config = config_with_camera(dir.path(), &url);
        let out = watchpost()
            .args(["run", "--print-config", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let shown = text(&out);
        assert!(out.status.success(), "{url}:\n{shown}");
        assert!(shown.contains("***"), "{url} shows no mask:\n{shown}");
        assert_no_secret("run --print-config", &url, secrets, &shown);
    }
}

#[test]
fn probe_never_shows_a_camera_secret_even_when_the_camera_fails() {
    let port = common::free_port().to_string();
    for (shape, secrets) in SHAPES {
        let url = shape.replace("{port}", &port);
        let out = watchpost()
            .args(["probe", "--timeout-secs", "3", &url])
            .env_remove("WATCHPOST_PROBE_PASSWORD")
            .output()
            .unwrap();
        let shown = text(&out);
        assert!(!out.status.success(), "{url}: nothing listens there:\n{shown}");
        assert_no_secret("probe", &url, secrets, &shown);
    }
}

#[test]
fn probe_reads_the_password_from_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cam.password");
    std::fs::write(&file, "Zq9fromfile\n").unwrap();
    let url = format!("rtsp://127.0.0.1:{}/live", common::free_port());
    let out = watchpost()
        .args([
            "probe",
            "--timeout-secs",
            "3",
            "--username",
            "viewer",
            "--password-file",
        ])
        .arg(&file)
        .arg(&url)
        .output()
        .unwrap();
    let shown = text(&out);
    assert!(!shown.contains("visible to every user"), "{shown}");
    assert_no_secret("probe --password-file", &url, &["Zq9fromfile"], &shown);
    let out = watchpost()
        .args([
            "probe",
            "--timeout-secs",
            "3",
            "--password-file",
            "/nonexistent/pw",
            &url,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = watchpost()
        .args(["probe", "--timeout-secs", "3", &url])
        .env("WATCHPOST_PROBE_PASSWORD", "Zq9fromenv")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a password without a user name: {}",
        text(&out)
    );
    let inline = url.replace("rtsp://", "rtsp://viewer:Zq9inline@");
    let out = watchpost()
        .args(["probe", "--timeout-secs", "3", &inline])
        .output()
        .unwrap();
    assert!(text(&out).contains("visible to every user in `ps`"), "{}", text(&out));
}

#[test]
fn a_broker_url_with_credentials_is_refused_without_showing_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_camera(dir.path(), &common::media("vtest.avi").display().to_string());
    let text_in = std::fs::read_to_string(&config).unwrap();
    let start = text_in.find("url = \"mqtt://").unwrap();
    let end = start + text_in[start..].find('\n').unwrap();
    let bad = format!(
        "{}url = \"mqtt://gate:Zq9broker@10.0.0.9:1883\"{}",
        &text_in[..start],
        &text_in[end..]
    );
    std::fs::write(&config, bad).unwrap();
    for args in [
        &["check-config", "--config"][..],
        &["run", "--print-config", "--config"][..],
    ] {
        let out = watchpost().args(args).arg(&config).output().unwrap();
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(2), "{shown}");
        assert!(shown.contains("mqtt://gate:***@10.0.0.9:1883"), "{shown}");
        assert_no_secret("check-config", "the broker URL", &["Zq9broker"], &shown);
    }
}

#[test]
fn a_plain_text_broker_password_to_another_host_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_camera(dir.path(), &common::media("vtest.avi").display().to_string());
    std::fs::write(dir.path().join("mqtt-password"), "Zq9mqttpw\n").unwrap();
    let base = std::fs::read_to_string(&config).unwrap();
    let start = base.find("url = \"mqtt://").unwrap();
    let end = start + base[start..].find('\n').unwrap();
    let with = |mqtt: &str| {
        std::fs::write(&config, format!("{}{mqtt}{}", &base[..start], &base[end..])).unwrap();
        watchpost()
            .args(["check-config", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let remote = "url = \"mqtt://10.0.0.9:1883\"\nusername = \"gate\"\npassword_file = \"mqtt-password\"";
    let out = with(remote);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(":6:7: mqtt.url: the password would cross the network"),
        "{}",
        text(&out)
    );
    let out = with(&format!("{remote}\nallow_plaintext_password = true"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = with("url = \"mqtt://[::1]:1883\"\nusername = \"gate\"\npassword_file = \"mqtt-password\"");
    assert_eq!(out.status.code(), Some(0), "loopback is fine: {}", text(&out));
    let out = with("url = \"mqtt://127.0.0.1:1883\"\nusername = \"gate\"\npassword_file = \"missing-password\"");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("missing-password does not exist"), "{}", text(&out));
}

#[test]
fn a_zero_stride_or_a_huge_input_in_a_manifest_is_a_check_config_error() {
    let out = watchpost()
        .args([
            "check-config",
            "--config",
            "tests/configs/invalid/model_manifest_numbers.toml",
        ])
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(
        shown.contains("zero_stride.toml:23:1: [output] strides [0, 16]: each stride must be from 1"),
        "{shown}"
    );
    assert!(
        shown.contains("zero_stride.toml:14:1: [input] width is 100000"),
        "{shown}"
    );
}

#[test]
fn onnx_runtime_is_never_loaded_from_the_working_folder() {
    // An installed binary (not inside a checkout's target/) run from a folder
    // that holds a planted .ort/.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_watchpost"), bin.join("watchpost")).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join(".ort")).unwrap();
    std::fs::write(work.join(".ort/libonnxruntime.so"), b"planted").unwrap();
    let out = std::process::Command::new(bin.join("watchpost"))
        .args(["check-config", "--config"])
        .arg(common::root().join("configs/demo.toml"))
        .current_dir(&work)
        .env_remove("WATCHPOST_ONNXRUNTIME")
        .output()
        .unwrap();
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(shown.contains("ONNX Runtime library not found"), "{shown}");
    assert!(!shown.contains("work/.ort"), "{shown}");
}

/// GET `path` on 127.0.0.1:`port`: (status line, body), or None.
fn get(port: u16, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn frames_decoded(port: u16) -> f64 {
    camera_metric(port, r#"watchpost_camera_frames_decoded_total{camera="walkway"}"#)
}

/// The first sample whose line starts with `prefix` (a family and labels).
fn camera_metric(port: u16, prefix: &str) -> f64 {
    get(port, "/metrics")
        .and_then(|(_, body)| {
            body.lines()
                .find(|l| l.starts_with(prefix))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        })
        .unwrap_or(0.0)
}

#[test]
fn a_thousand_half_open_metrics_connections_leave_the_box_working() {
    let dir = tempfile::tempdir().unwrap();
    let broker = common::Broker::start();
    let metrics_port = common::free_port();
    let config = dir.path().join("watchpost.toml");
    // A second camera, on HTTP MJPEG, that nothing serves yet: it waits in
    // its reconnect backoff until the connections are held.
    let camera_port = common::free_port();
    let gate = format!(
        r#"
[[cameras]]
name = "gate"

[cameras.source]
url = "http://127.0.0.1:{camera_port}/video.mjpg"

[cameras.decode]
retry_initial_secs = 1
retry_max_secs = 2

[cameras.detect]
model = "coco"
fps = 5

[[cameras.zones]]
name = "drive"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]

[[cameras.rules]]
name = "car-at-gate"
kind = "intrusion"
zone = "drive"
labels = ["car"]
"#
    );
    let text = common::camera_config(broker.port, &common::media("vtest.avi"), true, dir.path())
        + &gate
        + &format!("\n[metrics]\nlisten = \"127.0.0.1:{metrics_port}\"\n");
    std::fs::write(&config, text).unwrap();
    let mut child = watchpost()
        .args(["run", "--config"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = common::wait_for(common::GUARD, || frames_decoded(metrics_port) > 0.0);
    assert!(started, "the camera never streamed");
    let before = open_files(pid);
    let decoded = frames_decoded(metrics_port);

    // 1,000 connections that never send a request, held open.
    let held: Vec<std::net::TcpStream> = (0..1000)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", metrics_port)).ok())
        .collect();
    let mut most = 0;
    for _ in 0..20 {
        most = most.max(open_files(pid));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap();
    println!(
        "open files: {before} before, at most {most} while {} connections were held; limit {soft}",
        held.len()
    );
    assert!(
        most <= before + watchpost::observe::listener::MAX_CONNECTIONS + 8,
        "{most} files open with {} connections held (was {before})",
        held.len()
    );
    assert!(most < soft);
    // The camera keeps decoding meanwhile, and metrics answer once the holders go.
    assert!(common::wait_for(common::GUARD, || frames_decoded(metrics_port) > decoded));
    // While they are held, the gate camera comes online: it connects, its
    // stream ends after 20 frames (a camera restarting), it reconnects and
    // streams the next 20.
    let gate_frames = || camera_metric(metrics_port, r#"watchpost_camera_frames_decoded_total{camera="gate"}"#);
    assert_eq!(gate_frames(), 0.0);
    common::serve_mjpeg_clients(camera_port, 2, 20, 320, 240);
    let reconnected = common::wait_for(common::GUARD, || gate_frames() > 20.0);
    let reconnects = camera_metric(metrics_port, r#"watchpost_camera_reconnects_total{camera="gate"}"#);
    println!(
        "with {} connections held: the gate camera decoded {} frames over two connections ({reconnects} reconnects); {} files open",
        held.len(),
        gate_frames(),
        open_files(pid)
    );
    assert!(
        reconnected,
        "the gate camera did not connect and reconnect: {} frames",
        gate_frames()
    );
    assert!(reconnects >= 1.0);
    assert!(open_files(pid) < soft);
    drop(held);
    assert!(common::wait_for(common::GUARD, || {
        get(metrics_port, "/metrics").is_some_and(|(status, _)| status.contains("200"))
    }));
    let (status, _) = get(metrics_port, "/nope").unwrap();
    assert!(status.contains("404"), "{status}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
}

/// A `/proc/<pid>/status` memory line (`VmHWM`, `VmRSS`), in bytes.
fn status_memory(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?.to_string();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

/// The most memory the process has held, in bytes.
fn peak_memory(pid: u32) -> u64 {
    status_memory(pid, "VmHWM:")
}

#[test]
fn an_oversized_camera_picture_is_refused_before_it_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let broker = common::Broker::start();
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}/video.mjpg");
    let text = common::camera_config(broker.port, Path::new(&url), false, dir.path())
        .replace("loop = false\nrealtime = false\n", "")
        + "\n[cameras.decode]\nretry_initial_secs = 1\nretry_max_secs = 2\n";
    let config = dir.path().join("watchpost.toml");
    std::fs::write(&config, text).unwrap();
    let run = common::Running::start(&config);
    let pid = run.child.id();
    // Running, models loaded, the camera not yet reachable: the baseline.
    assert!(common::wait_for(common::GUARD, || run.count("watchpost running") > 0));
    let before = peak_memory(pid);
    common::serve_mjpeg(port, 20, 8192, 8192);
    let refused = "sends 8192x8192, above the maximum 3840x2160 ([cameras.decode] max_width/max_height)";
    assert!(
        common::wait_for(common::GUARD, || run.count(refused) > 0),
        "{}",
        run.lines().join("\n")
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let after = peak_memory(pid);
    let lines = run.lines();
    let warned: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("camera lost") && l.contains(refused))
        .collect();
    assert_eq!(warned.len(), 1, "{}", lines.join("\n"));
    assert!(!lines.iter().any(|l| l.contains("panicked")));
    // One decoded 8192×8192 I420 frame is 96 MiB. The decoder makes one
    // before it says its size; nothing copies it (mask, scaling, snapshot).
    let one_frame = 8192 * 8192 * 3 / 2;
    println!("peak memory: {} MiB before, {} MiB after", before >> 20, after >> 20);
    assert!(
        after < before + 3 * one_frame / 2,
        "peak memory grew from {before} to {after} bytes"
    );
    run.signal("-TERM");
    let mut run = run;
    assert!(run.child.wait().unwrap().success());
}

/// One HTTP/1.1 request to the console on 127.0.0.1:`port`, closing after:
/// (status code, headers, body), or None when the connection was refused or
/// closed without an answer within `limit`.
fn console_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    limit: std::time::Duration,
) -> Option<(u16, String, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(limit)).ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    stream.write_all(format!("{head}\r\n{body}").as_bytes()).ok()?;
    let mut text = Vec::new();
    stream.read_to_end(&mut text).ok()?;
    let text = String::from_utf8_lossy(&text).to_string();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

/// A running box with its console on a free port and a password, the
/// operator logged in: (child, console port, session cookie, CSRF token).
struct ConsoleBox {
    child: std::process::Child,
    port: u16,
    cookie: String,
    _broker: common::Broker,
    _dir: tempfile::TempDir,
}

const CONSOLE_PASSWORD: &str = "gate-house-7";

impl ConsoleBox {
    fn start() -> Self {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let broker = common::Broker::start();
        let port = common::free_port();
        let mut hasher = watchpost()
            .arg("hash-password")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(hasher.stdin.take().unwrap(), "{CONSOLE_PASSWORD}").unwrap();
        let hash = hasher.wait_with_output().unwrap();
        assert!(hash.status.success());
        let hash_file = dir.path().join("console.hash");
        std::fs::write(&hash_file, &hash.stdout).unwrap();
        let config = dir.path().join("watchpost.toml");
        let text = common::camera_config(broker.port, &common::media("vtest.avi"), true, dir.path())
            + &format!(
                "\n[console]\nlisten = \"127.0.0.1:{port}\"\npassword_file = \"{}\"\n",
                hash_file.display()
            );
        std::fs::write(&config, text).unwrap();
        let child = watchpost()
            .args(["run", "--config"])
            .arg(&config)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let quick = std::time::Duration::from_secs(10);
        let up = common::wait_for(common::GUARD, || {
            console_request(port, "GET", "/api/session", &[], "", quick).is_some_and(|(s, _, _)| s == 401)
        });
        assert!(up, "the console never answered");
        let body = format!("{{\"password\":\"{CONSOLE_PASSWORD}\"}}");
        let json = [("Content-Type", "application/json")];
        let (status, head, _) = console_request(port, "POST", "/api/login", &json, &body, quick).unwrap();
        assert_eq!(status, 200, "{head}");
        let cookie = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: ")
                    .or_else(|| l.strip_prefix("Set-Cookie: "))
            })
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_string();
        Self {
            child,
            port,
            cookie,
            _broker: broker,
            _dir: dir,
        }
    }

    /// The logged-in operator's `GET path`: its status, or None.
    fn operator_get(&self, path: &str) -> Option<u16> {
        let limit = std::time::Duration::from_secs(30);
        console_request(self.port, "GET", path, &[("Cookie", &self.cookie)], "", limit).map(|r| r.0)
    }

    fn memory(&self) -> u64 {
        resident_memory(self.child.id())
    }
}

impl Drop for ConsoleBox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The memory the process holds now, in bytes.
fn resident_memory(pid: u32) -> u64 {
    status_memory(pid, "VmRSS:")
}

/// Samples `pid`'s resident memory until `stop` is set: the most seen.
fn sample_memory(pid: u32, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut most = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            most = most.max(resident_memory(pid));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        most
    })
}

#[test]
fn a_flood_of_wrong_logins_neither_grows_memory_nor_shuts_out_the_operator() {
    let console = ConsoleBox::start();
    // A wrong password first, so the one check's memory is taken before the baseline.
    let json = [("Content-Type", "application/json")];
    let limit = std::time::Duration::from_secs(60);
    let _ = console_request(
        console.port,
        "POST",
        "/api/login",
        &json,
        r#"{"password":"warm"}"#,
        limit,
    );
    let before = console.memory();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_memory(console.child.id(), stop.clone());
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for wave in 0..2 {
        let port = console.port;
        let guesses: Vec<_> = (0..64)
            .map(|i| {
                std::thread::spawn(move || {
                    let body = format!("{{\"password\":\"guess-{wave}-{i}\"}}");
                    let json = [("Content-Type", "application/json")];
                    console_request(port, "POST", "/api/login", &json, &body, limit)
                        .map_or("closed".to_string(), |r| r.0.to_string())
                })
            })
            .collect();
        // the operator, logged in before, is served meanwhile
        assert_eq!(console.operator_get("/"), Some(200), "wave {wave}");
        assert_eq!(console.operator_get("/api/cameras"), Some(200), "wave {wave}");
        for guess in guesses {
            *statuses.entry(guess.join().unwrap()).or_default() += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let most = sampler.join().unwrap();
    let grown = most.saturating_sub(before) as f64 / (1 << 20) as f64;
    println!(
        "two waves of 64 wrong logins: {statuses:?}; memory {} MiB before, at most {} MiB during (+{grown:.1} MiB)",
        before >> 20,
        most >> 20
    );
    assert!(grown < 100.0, "memory grew by {grown:.1} MiB");
    // nothing was let in, and most guesses were turned away before any hashing
    assert!(!statuses.contains_key("200"), "{statuses:?}");
    let checked = statuses.get("401").copied().unwrap_or(0);
    let turned_away = statuses.get("429").copied().unwrap_or(0) + statuses.get("503").copied().unwrap_or(0);
    assert!(turned_away > checked, "{statuses:?}");
    assert_eq!(console.operator_get("/api/cameras"), Some(200));
}

#[test]
fn slow_clients_do_not_shut_out_a_logged_in_operator() {
    use std::io::Write;
    let console = ConsoleBox::start();
    // 64 clients that send a login's headers and then trickle its body, and
    // 64 that trickle their headers.
    let port = console.port;
    let mut slow = Vec::new();
    for i in 0..128 {
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            continue;
        };
        let head = if i % 2 == 0 {
            format!(
                "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{{"
            )
        } else {
            format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n")
        };
        if stream.write_all(head.as_bytes()).is_ok() {
            slow.push(stream);
        }
    }
    // one byte a second on each, until the box has closed them all (or two
    // minutes, far beyond its deadlines: 10 s for headers or a body, 30 s
    // for a connection that is not an operator's)
    let trickler = std::thread::spawn(move || {
        let mut closed = vec![false; slow.len()];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while closed.iter().any(|c| !*c) && std::time::Instant::now() < deadline {
            for (stream, closed) in slow.iter_mut().zip(closed.iter_mut()) {
                if !*closed && stream.write_all(b" ").is_err() {
                    *closed = true;
                }
            }
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        (closed.iter().filter(|c| **c).count(), closed.len())
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    // the operator is served while they hold their connections
    for path in ["/", "/api/cameras", "/api/health"] {
        assert_eq!(console.operator_get(path), Some(200), "{path}");
    }
    let (closed, held) = trickler.join().unwrap();
    println!("{held} slow clients connected; {closed} closed by the box");
    assert!(held >= 64, "only {held} slow clients could connect");
    assert_eq!(closed, held, "{} slow clients were never closed", held - closed);
}
