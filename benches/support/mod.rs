//! What the end-to-end benchmarks share: CPU time of this process, a
//! Mosquitto of their own, and medians.

#![allow(dead_code)]

pub mod one_camera;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// User + system CPU time of this process, from /proc/self/stat (10 ms ticks).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // fields[11] and [12] are utime and stime (the 14th and 15th of the file), in clock ticks.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// The middle value (the upper middle of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn media(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("media").join(name)
}

/// The detector's manifest: FP32 SSD-MobileNetV2, or the INT8 one with
/// `WATCHPOST_BENCH_MODEL=int8` in the environment.
pub fn model_manifest() -> PathBuf {
    let file = match std::env::var("WATCHPOST_BENCH_MODEL").as_deref() {
        Ok("int8") => "models/ssd_mobilenet_v2_coco_int8.toml",
        _ => "models/ssd_mobilenet_v2_coco.toml",
    };
    root().join(file)
}

/// The detector's .onnx file beside [`model_manifest`].
pub fn model_file() -> PathBuf {
    model_manifest().with_extension("onnx")
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Mosquitto on a free loopback port, stopped on drop.
pub struct Broker {
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("mosquitto.conf");
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nuser {}\n",
                user.trim()
            ),
        )
        .unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/setup installs it)");
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { port, child, _dir: dir }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
