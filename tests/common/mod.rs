//! Shared test helpers: the project's paths, a real Mosquitto broker started
//! on a free port, and an MQTT subscriber that records what it receives.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A sample clip fetched by scripts/setup.
pub fn media(name: &str) -> PathBuf {
    let path = root().join("media").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/setup",
        path.display()
    );
    path
}

pub fn manifest() -> PathBuf {
    root().join("models/ssd_mobilenet_v2_coco.toml")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it is true or `limit` passes (a guard, not a measurement).
pub fn wait_for(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
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
    child: Child,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let user =
            String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest file {}\nuser {}\n",
                dir.path().join("mosquitto.log").display(),
                user.trim()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is not installed: run scripts/setup");
        let up = wait_for(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "mosquitto did not listen on port {port}");
        Self {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A subscriber on `watchpost/#` that keeps every message it receives and
/// reconnects by itself while the broker is away.
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<(String, String)>>>,
    subscribed: Arc<Mutex<bool>>,
    client: Client,
}

impl Subscriber {
    pub fn connect(port: u16) -> Self {
        let mut options = MqttOptions::new(format!("test-sub-{port}"), "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = Client::new(options, 100);
        let messages = Arc::new(Mutex::new(Vec::new()));
        let subscribed = Arc::new(Mutex::new(false));
        {
            let (messages, subscribed, client) =
                (messages.clone(), subscribed.clone(), client.clone());
            std::thread::spawn(move || {
                for event in connection.iter() {
                    match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            let _ = client.try_subscribe("watchpost/#", QoS::AtLeastOnce);
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            *subscribed.lock().unwrap() = true
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
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

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
    }
}

/// A config for one camera on a sample clip, with one intrusion rule on the
/// lower-right lawn of vtest.avi, where people walk in and out.
pub fn camera_config(mqtt_port: u16, clip: &Path, realtime: bool, state_dir: &Path) -> String {
    format!(
        r#"site = "test-site"
box_id = "box-{mqtt_port}"
state_dir = "{state_dir}"

[mqtt]
url = "mqtt://127.0.0.1:{mqtt_port}"

[models.coco]
manifest = "{manifest}"

[[cameras]]
name = "walkway"

[cameras.source]
url = "{clip}"
loop = {realtime}
realtime = {realtime}

[cameras.detect]
model = "coco"
fps = 5

[[cameras.zones]]
name = "lawn-corner"
polygon = [[0.70, 0.58], [1.0, 0.58], [1.0, 0.80], [0.70, 0.80]]

[[cameras.rules]]
name = "lawn-intrusion"
kind = "intrusion"
zone = "lawn-corner"
labels = ["person"]
severity = "high"
min_secs = 0.4
end_after_secs = 2.0
"#,
        manifest = manifest().display(),
        clip = clip.display(),
        state_dir = state_dir.display(),
    )
}

/// Runs the built `watchpost` binary.
pub fn watchpost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_watchpost"));
    cmd.current_dir(root());
    cmd
}
