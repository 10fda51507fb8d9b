//! Shared test helpers: the project's paths, a real Mosquitto broker started
//! on a free port, an MQTT subscriber that records what it receives,
//! pictures decoded by GStreamer, a live RTSP test camera ([`rtsp`]) and
//! a builder for the box's config ([`config`]).
#![allow(dead_code)]

pub mod config;
pub mod rtsp;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use config::{Camera, Config, LAWN, Rule};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A sample clip fetched by scripts/setup.
pub fn media(name: &str) -> PathBuf {
    let path = root().join("media").join(name);
    assert!(path.is_file(), "{} is missing: run scripts/setup", path.display());
    path
}

pub fn manifest() -> PathBuf {
    root().join("models/ssd_mobilenet_v2_coco.toml")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How long a test waits for something that takes a moment on the 2-core
/// build machine (a message, a file, a state change, a reconnect): long
/// enough for a machine ten times slower, or one whose cores are all
/// busy. A passing test returns as soon as it happens; only a failing one
/// waits this long. Every wait of the suite uses this or [`GUARD`].
pub const SOON: Duration = Duration::from_secs(60);
/// How long a test waits for a long step: a box loading its models and
/// starting its cameras, a clip played through, a browser page built.
pub const GUARD: Duration = Duration::from_secs(180);

/// Polls `check` until it is true or `limit` passes (a guard, not a measurement).
pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    check()
}

/// A real Mosquitto on 127.0.0.1, stopped when dropped.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    conf: PathBuf,
}

fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap().stdout;
    String::from_utf8(out).unwrap().trim().to_string()
}

impl Broker {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        Self::with_config(
            port,
            &format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
        )
    }

    /// A broker that keeps sessions and queued messages across a graceful restart.
    pub fn persistent(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let body = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\nmax_queued_messages 0\n",
            dir.path().display()
        );
        Self::launch(port, dir, &body)
    }

    /// A broker with the given listener lines (plus logging and user).
    pub fn with_config(port: u16, body: &str) -> Self {
        Self::launch(port, tempfile::tempdir().unwrap(), body)
    }

    fn launch(port: u16, dir: tempfile::TempDir, body: &str) -> Self {
        let conf = dir.path().join("mosquitto.conf");
        let log = dir.path().join("mosquitto.log");
        std::fs::write(
            &conf,
            format!("{body}log_dest file {}\nuser {}\n", log.display(), user()),
        )
        .unwrap();
        let mut broker = Self {
            port,
            child: None,
            dir,
            conf,
        };
        broker.restart();
        broker
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the broker as an operator would (SIGTERM: it saves its state).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is not installed: run scripts/setup");
        self.child = Some(child);
        let port = self.port;
        let up = wait_for(SOON, || TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "mosquitto did not listen on port {port}");
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Messages received, in order: (topic, payload).
pub type Received<T> = Arc<Mutex<Vec<(String, T)>>>;

/// A subscriber on `watchpost/#` that keeps every message it receives and
/// reconnects by itself while the broker is away.
pub struct Subscriber {
    pub messages: Received<String>,
    /// The bytes of every snapshot and evidence clip message, by topic.
    pub images: Received<Vec<u8>>,
    subscribed: Arc<Mutex<bool>>,
    client: Client,
}

impl Subscriber {
    pub fn connect(port: u16) -> Self {
        Self::with_session(port, true)
    }

    /// A subscriber whose session (and queued QoS 1 messages) the broker keeps.
    pub fn persistent(port: u16) -> Self {
        Self::with_session(port, false)
    }

    fn with_session(port: u16, clean: bool) -> Self {
        let mut options = MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(5))
            .set_clean_session(clean)
            .set_max_packet_size(2 << 20, 64 << 10);
        let (client, mut connection) = Client::new(options, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let images = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(Mutex::new(false));
        {
            let (messages, images, subscribed, client) =
                (messages.clone(), images.clone(), subscribed.clone(), client.clone());
            std::thread::spawn(move || {
                for event in connection.iter() {
                    match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = client.try_subscribe("watchpost/#", QoS::AtLeastOnce);
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => *subscribed.lock().unwrap() = true,
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            if p.topic.contains("/snapshots/") || p.topic.contains("/clips/") {
                                images.lock().unwrap().push((p.topic.clone(), p.payload.to_vec()));
                            }
                            let payload = String::from_utf8_lossy(&p.payload).to_string();
                            messages.lock().unwrap().push((p.topic.clone(), payload));
                        }
                        Ok(_) => {}
                        Err(rumqttc::ConnectionError::RequestsDone) => return,
                        Err(_) => std::thread::sleep(Duration::from_millis(200)),
                    }
                }
            });
        }
        Self {
            messages,
            images,
            subscribed,
            client,
        }
    }

    pub fn wait_subscribed(&self, limit: Duration) -> bool {
        wait_for(limit, || *self.subscribed.lock().unwrap())
    }

    /// Incident payloads received so far, parsed.
    pub fn incidents(&self) -> Vec<serde_json::Value> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(topic, _)| topic.ends_with("/incidents"))
            .map(|(_, payload)| serde_json::from_str(payload).expect("incident payload is JSON"))
            .collect()
    }

    pub fn on_topic(&self, topic: &str) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| p.clone())
            .collect()
    }
}

impl Subscriber {
    /// Runs `watchpost run` on `config` to the end of its recordings, then
    /// waits until a snapshot has arrived; false if none came.
    pub fn run_until_snapshot(&self, config: &Path) -> bool {
        let status = watchpost().args(["run", "--config"]).arg(config).status().unwrap();
        assert!(status.success(), "watchpost run failed: {status}");
        wait_for(SOON, || !self.images.lock().unwrap().is_empty())
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

/// A config for one camera on a sample clip, with one intrusion rule on the
/// lower-right lawn of vtest.avi, where people walk in and out.
pub fn camera_config(mqtt_port: u16, clip: &Path, realtime: bool, state_dir: &Path) -> String {
    walkway_config(mqtt_port, clip, realtime, state_dir).to_toml()
}

/// [`camera_config`] as a builder, for a test that adds to it.
pub fn walkway_config(mqtt_port: u16, clip: &Path, realtime: bool, state_dir: &Path) -> Config {
    Config::new(state_dir)
        .mqtt(mqtt_port)
        .coco()
        .camera(walkway(clip, realtime))
}

/// The camera of [`camera_config`]: `walkway` on `clip`, its lawn rule.
pub fn walkway(clip: &Path, realtime: bool) -> Camera {
    Camera::new("walkway")
        .clip(clip)
        .looped(realtime)
        .realtime(realtime)
        .detect("coco", 5)
        .zone("lawn-corner", &LAWN)
        .rule(
            Rule::intrusion("lawn-intrusion", "lawn-corner")
                .set("severity", "high")
                .set("min_secs", 0.4)
                .set("end_after_secs", 2.0),
        )
}

/// Forwards 127.0.0.1:`from` to 127.0.0.1:`to` once started: before that,
/// connections to `from` are refused, exactly as with a broker that is down.
/// While `frozen` is set, bytes are held (a half-open link: nothing is closed).
pub fn forward(from: u16, to: u16, frozen: Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = TcpListener::bind(("127.0.0.1", from)).unwrap();
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            let Ok(outbound) = TcpStream::connect(("127.0.0.1", to)) else {
                continue;
            };
            for (mut a, mut b) in [
                (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                (outbound, inbound),
            ] {
                let frozen = frozen.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        let n = match a.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        while frozen.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        if b.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = b.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
}

/// Runs watchpost with its stderr collected line by line.
pub struct Running {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, &[("WATCHPOST_LOG", "info,ort=warn")])
    }

    /// [`Self::start`] with these environment variables (a log filter, a log format).
    pub fn start_with(config: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = watchpost()
            .args(["run", "--config"])
            .arg(config)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count()
    }

    pub fn lines(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Incident ids in "incident raised" lines.
    pub fn raised(&self) -> Vec<String> {
        self.lines()
            .iter()
            .filter(|l| l.contains("incident raised"))
            .filter_map(|l| {
                l.split("incident=")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .map(str::to_string)
            })
            .collect()
    }

    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the built `watchpost` binary.
pub fn watchpost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchpost"));
    cmd.current_dir(root());
    cmd
}

/// Frames of a picture or clip decoded by GStreamer and passed through
/// `tail` (e.g. "videoconvert ! video/x-raw,format=RGB"): every `every`-th.
pub fn samples(path: &Path, tail: &str, every: usize) -> Vec<gstreamer::Sample> {
    use gstreamer::prelude::*;
    gstreamer::init().unwrap();
    let pipeline = gstreamer::parse::launch(&format!(
        "filesrc location={} ! decodebin ! {tail} ! appsink name=out sync=false",
        path.display()
    ))
    .unwrap()
    .downcast::<gstreamer::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("out")
        .unwrap()
        .downcast::<gstreamer_app::AppSink>()
        .unwrap();
    pipeline.set_state(gstreamer::State::Playing).unwrap();
    let mut out = Vec::new();
    let mut n = 0;
    while let Ok(sample) = sink.pull_sample() {
        if n % every.max(1) == 0 {
            out.push(sample);
        }
        n += 1;
    }
    pipeline.set_state(gstreamer::State::Null).unwrap();
    out
}

/// Tightly packed RGB of an RGB sample, with its width and height.
pub fn rgb(sample: &gstreamer::Sample) -> (Vec<u8>, usize, usize) {
    let info = gstreamer_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
    let (w, h, stride) = (info.width() as usize, info.height() as usize, info.stride()[0] as usize);
    let map = sample.buffer().unwrap().map_readable().unwrap();
    let mut out = Vec::with_capacity(w * h * 3);
    for row in map.as_slice().chunks(stride).take(h) {
        out.extend_from_slice(&row[..w * 3]);
    }
    (out, w, h)
}

/// A minimal HTTP MJPEG camera on 127.0.0.1:`port` for the first client:
/// multipart/x-mixed-replace with `frames` JPEG frames of `width`×`height`,
/// ten a second. The pictures are gradients that move from frame to frame;
/// a large one (over a megapixel) is encoded once and sent every time.
pub fn serve_mjpeg(port: u16, frames: usize, width: u32, height: u32) {
    serve_mjpeg_clients(port, 1, frames, width, height);
}

/// [`serve_mjpeg`] for `clients` connections one after the other: each gets
/// `frames` frames, then the stream ends (as a camera that restarts), and
/// the next connection — a reconnect — gets the next `frames`.
pub fn serve_mjpeg_clients(port: u16, clients: usize, frames: usize, width: u32, height: u32) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        let encode = |n: usize| {
            let img = image::RgbImage::from_fn(width, height, |x, y| {
                image::Rgb([(x as usize + n * 8) as u8, y as u8, 128])
            });
            let mut jpeg = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
                .encode_image(&img)
                .unwrap();
            jpeg
        };
        let large = u64::from(width) * u64::from(height) > 1 << 20;
        let first = encode(0);
        'clients: for _ in 0..clients {
            let Ok((mut conn, _)) = listener.accept() else { return };
            let mut request = [0u8; 2048];
            let _ = conn.read(&mut request);
            let head = "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=frame\r\nCache-Control: no-cache\r\n\r\n";
            if conn.write_all(head.as_bytes()).is_err() {
                continue;
            }
            for n in 0..frames {
                let jpeg = if n == 0 || large { first.clone() } else { encode(n) };
                let part = format!(
                    "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    jpeg.len()
                );
                if conn
                    .write_all(part.as_bytes())
                    .and_then(|_| conn.write_all(&jpeg))
                    .and_then(|_| conn.write_all(b"\r\n"))
                    .is_err()
                {
                    continue 'clients;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
}
