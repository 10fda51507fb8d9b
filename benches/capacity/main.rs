//! How much one box carries: cameras per box, alert latency, memory per
//! camera, and watchpost against a hand-rolled OpenCV + onnxruntime loop.
//!
//! Live cameras are stood in for by files played in a loop at their own rate
//! (`loop = true, realtime = true`: GStreamer paces the decoded frames to the
//! clock, as a camera would deliver them), so no encoder competes for the
//! cores. Modes (all of them, in this order, when none is named):
//!
//! * `cameras`: the largest number of 640×360 @ 10 fps cameras, detect at
//!   5 fps, that the box keeps up with — gating off on
//!   vtest_640x360_10fps.mp4, then gating on on static_640x360_10fps.mp4 —
//!   against the compute limit measured in the same run: the cores divided by
//!   (decode CPU-ms per stream second + 5 × the CPU-ms of one single-threaded
//!   inference).
//! * `latency`: 8 cameras whose rules raise incidents whenever someone
//!   crosses the middle of the picture; from the arrival of the frame that
//!   raised an incident to the broker's PUBACK of its start event.
//! * `memory`: resident memory with the runtime, the model and GStreamer
//!   loaded and no camera, then with 1, 8 and 24 cameras.
//! * `compare`: vtest.avi, every frame, through watchpost and through
//!   benches/compare_opencv.py, one after the other, each in a fresh process.
//!
//! Run with `cargo bench --bench capacity [-- cameras|latency|memory|compare]
//! [--runs N]`; the whole suite takes about 7 minutes on 2 cores. Results go
//! to docs/benchmarks.md.

#[path = "../support/mod.rs"]
mod support;

mod cameras;
mod compare;
mod latency;
mod memory;

use cameras::*;
use compare::*;
use latency::*;
use memory::*;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, linear_buckets};
use prometheus_client::registry::Registry;
use support::{Broker, cpu_time, median};
use tokio_util::sync::CancellationToken;
use watchpost::app::camera::{Camera, Shared};
use watchpost::app::snapshot::Snapshots;
use watchpost::decode::StreamSpec;
use watchpost::infer::runtime;
use watchpost::infer::{Detector, ModelService};
use watchpost::observe::metrics::{AnalysisHooks, StartLog};
use watchpost::plan::Plan;
use watchpost::publish::{Outbox, Publisher};

const LIVE_CLIP: &str = "vtest_640x360_10fps.mp4";
const STATIC_CLIP: &str = "static_640x360_10fps.mp4";
/// The source rate of both clips and the detect rate the cameras ask for.
const SOURCE_FPS: f64 = 10.0;
const DETECT_FPS: u32 = 5;
/// A trial: cameras start one after another over STAGGER, settle for
/// WARM_UP, then are measured for MEASURE.
const STAGGER: Duration = Duration::from_secs(5);
const WARM_UP: Duration = Duration::from_secs(6);
const MEASURE: Duration = Duration::from_secs(15);
/// Keeping up: the p99 frame age stays under this …
const MAX_AGE: f64 = 1.0;
/// … and detect takes (nearly) every frame it is handed.
const MAX_REPLACED: f64 = 0.01;

/// Busy and total jiffies of the whole machine, from /proc/stat.
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v[3] + v[4];
    let total: u64 = v.iter().take(8).sum();
    (total - idle, total)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// What the cameras of one config look like.
struct Setup<'a> {
    clip: &'a str,
    cameras: usize,
    gating: bool,
    /// Rules that raise an incident whenever someone crosses the middle.
    busy_rules: bool,
    /// `[runtime] intra_threads` and `[models.coco] sessions`.
    threads: Threads,
}

/// How inference uses the cores.
#[derive(Clone, Copy)]
struct Threads {
    intra: usize,
    sessions: usize,
}

impl std::fmt::Display for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} session(s) × {} intra-op thread(s)", self.sessions, self.intra)
    }
}

/// The box's choice for many cameras: one single-threaded session per core.
fn many_cameras() -> Threads {
    Threads {
        intra: 1,
        sessions: cores(),
    }
}

fn config(dir: &Path, port: u16, setup: &Setup<'_>) -> Plan {
    let mut text = format!(
        r#"site = "bench"
box_id = "box-1"
state_dir = "{state}"

[runtime]
intra_threads = {intra}

[mqtt]
url = "mqtt://127.0.0.1:{port}"

[models.coco]
manifest = "{manifest}"
sessions = {sessions}
"#,
        state = dir.display(),
        intra = setup.threads.intra,
        sessions = setup.threads.sessions,
        manifest = support::model_manifest().display(),
    );
    let rules = if setup.busy_rules {
        r#"
[[cameras.zones]]
name = "middle"
line = [[0.5, 0.0], [0.5, 1.0]]

[[cameras.zones]]
name = "right"
polygon = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]]

[[cameras.rules]]
name = "middle-crossing"
kind = "line_crossing"
zone = "middle"
labels = ["person"]
end_after_secs = 0.5

[[cameras.rules]]
name = "right-intrusion"
kind = "intrusion"
zone = "right"
labels = ["person"]
end_after_secs = 0.5
once_per_target = false
"#
    } else {
        r#"
[[cameras.zones]]
name = "lawn"
polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]

[[cameras.rules]]
name = "lawn-intrusion"
kind = "intrusion"
zone = "lawn"
labels = ["person"]
"#
    };
    for n in 1..=setup.cameras {
        text.push_str(&format!(
            r#"
[[cameras]]
name = "cam-{n}"

[cameras.source]
url = "{clip}"
loop = true
realtime = true

[cameras.detect]
model = "coco"
fps = {DETECT_FPS}

[cameras.motion]
enabled = {gating}
{rules}"#,
            clip = support::media(setup.clip).display(),
            gating = setup.gating,
        ));
    }
    let path = dir.join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    watchpost::plan::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The shared half of a box: runtime, model service, outbox, publisher.
struct Rig {
    tokio: tokio::runtime::Runtime,
    shared: Shared,
    publisher: Option<Publisher>,
    plan: Plan,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn new(port: u16, setup: &Setup<'_>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plan = config(dir.path(), port, setup);
        let tokio = tokio::runtime::Runtime::new().unwrap();
        let guard = tokio.enter();
        let rt = runtime::init(&plan.runtime).unwrap();
        let model = plan.cameras[0].detect.model.clone();
        let detectors = Detector::load_sessions(&model, rt, &plan.runtime).unwrap();
        let service = Arc::new(ModelService::spawn_sessions(detectors).unwrap());
        let outbox = Arc::new(Outbox::open(&plan.outbox).unwrap());
        let publisher =
            Publisher::spawn(plan.mqtt.clone(), outbox.clone(), Arc::new(|| serde_json::json!({}))).unwrap();
        let status = publisher.status();
        while !status.connected.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (snapshots, _worker) = Snapshots::spawn(None, outbox.clone(), plan.mqtt.topics.clone()).unwrap();
        let shared = Shared {
            models: [(model.key.clone(), service)].into(),
            outbox,
            topics: plan.mqtt.topics.clone(),
            snapshots,
            evidence: None,
            arming: Default::default(),
            control: None,
            console: None,
        };
        drop(guard);
        Self {
            tokio,
            shared,
            publisher: Some(publisher),
            plan,
            _dir: dir,
        }
    }

    fn shutdown(mut self) {
        if let Some(publisher) = self.publisher.take() {
            self.tokio.block_on(publisher.shutdown(Duration::from_secs(5)));
        }
    }
}

/// Cameras started from a rig, each recording frame ages (10 ms buckets)
/// and, if asked, its incident starts.
struct Fleet {
    cameras: Vec<Camera>,
    ages: Vec<Histogram>,
    starts: StartLog,
    cancel: CancellationToken,
}

impl Fleet {
    fn new() -> Self {
        Self {
            cameras: Vec::new(),
            ages: Vec::new(),
            starts: StartLog::default(),
            cancel: CancellationToken::new(),
        }
    }

    /// Starts the rig's cameras up to `count`, spread over STAGGER: real
    /// cameras are not in step, so neither their frames nor their motion
    /// gates' periodic refreshes arrive all at once.
    fn grow(&mut self, rig: &Rig, count: usize) {
        let _guard = rig.tokio.enter();
        let gap = STAGGER / (count - self.cameras.len()).max(1) as u32;
        for plan in &rig.plan.cameras[self.cameras.len()..count] {
            std::thread::sleep(gap);
            let age = Histogram::new(linear_buckets(0.01, 0.01, 500));
            let hooks = AnalysisHooks {
                camera: plan.name.clone(),
                inference: Histogram::new(linear_buckets(0.01, 0.01, 10)),
                frame_age: age.clone(),
                incidents: Family::<Vec<(&'static str, String)>, Counter>::default(),
                starts: Some(self.starts.clone()),
            };
            let camera = Camera::start_with(plan, &rig.shared, self.cancel.child_token(), Some(hooks)).unwrap();
            self.cameras.push(camera);
            self.ages.push(age);
        }
    }

    fn counters(&self) -> Counters {
        let mut c = Counters {
            at: Some(Instant::now()),
            cpu: cpu_time(),
            machine: machine_jiffies(),
            ..Counters::default()
        };
        for camera in &self.cameras {
            c.decoded += camera.stream.status().decoded.load(Relaxed);
            c.delivered += camera.view.slot.stats.delivered.load(Relaxed);
            c.replaced += camera.view.slot.stats.dropped.load(Relaxed);
            c.inferred += camera.view.stats.inferred.load(Relaxed);
            c.skipped += camera.view.stats.skipped.load(Relaxed);
            c.events += camera.view.stats.events.load(Relaxed);
            c.per_camera.push((
                camera.stream.status().decoded.load(Relaxed),
                camera.view.slot.stats.delivered.load(Relaxed),
            ));
        }
        c.ages = buckets(&self.ages);
        c
    }

    fn stop(self) {
        self.cancel.cancel();
        for camera in self.cameras {
            let _ = camera.join();
        }
    }
}

/// Counters of all cameras at one moment.
#[derive(Default, Clone)]
struct Counters {
    at: Option<Instant>,
    cpu: Duration,
    /// Busy and total jiffies of the machine.
    machine: (u64, u64),
    decoded: u64,
    delivered: u64,
    replaced: u64,
    inferred: u64,
    skipped: u64,
    events: u64,
    /// (decoded, handed to detect) per camera.
    per_camera: Vec<(u64, u64)>,
    /// Frame-age histogram of all cameras: (upper bound in s, cumulative count).
    ages: Vec<(f64, u64)>,
}

/// The summed bucket counts of the cameras' frame-age histograms, read the
/// way a Prometheus scrape reads them.
fn buckets(histograms: &[Histogram]) -> Vec<(f64, u64)> {
    let mut registry = Registry::default();
    for (i, h) in histograms.iter().enumerate() {
        registry.register(format!("age{i}"), "frame age", h.clone());
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let mut sum: Vec<(f64, u64)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in text.lines().filter(|l| l.contains("_bucket{le=\"")) {
        let le = line.split("le=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
        let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        };
        let slot = *index.entry(le.to_string()).or_insert_with(|| {
            sum.push((bound, 0));
            sum.len() - 1
        });
        sum[slot].1 += count;
    }
    sum.sort_by(|a, b| a.0.total_cmp(&b.0));
    sum
}

/// The q-quantile of the ages recorded between two readings (the upper bound
/// of its 10 ms bucket).
fn age_quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> f64 {
    let diff: Vec<(f64, u64)> = after
        .iter()
        .map(|&(bound, n)| (bound, n - before.iter().find(|b| b.0 == bound).map_or(0, |b| b.1)))
        .collect();
    let total = diff.last().map_or(0, |d| d.1);
    if total == 0 {
        return f64::NAN;
    }
    let rank = (q * total as f64).ceil() as u64;
    diff.iter().find(|d| d.1 >= rank).map_or(f64::INFINITY, |d| d.0)
}

/// One line of the closing summary.
struct Row {
    item: String,
    result: String,
    target: String,
    met: Option<bool>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    gstreamer::init().unwrap();
    if let Some(i) = args.iter().position(|a| a == "memory-child") {
        memory_child(args[i + 1].parse().unwrap(), args[i + 2].parse().unwrap());
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "compare-child") {
        compare_child(args[i + 1].parse().unwrap());
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "trial") {
        // One trial by hand: `trial N [static] [gating]`.
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(1);
        let clip = if args.iter().any(|a| a == "static") {
            STATIC_CLIP
        } else {
            LIVE_CLIP
        };
        let threads = match args.iter().find_map(|a| a.strip_prefix("intra=")) {
            Some(intra) => Threads {
                intra: intra.parse().unwrap(),
                sessions: 1,
            },
            None => many_cameras(),
        };
        trial(&Broker::start(), clip, n, args.iter().any(|a| a == "gating"), threads);
        return;
    }
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(1);
    let broker = Broker::start();
    let modes = ["cameras", "latency", "memory", "compare"];
    let wants = |name: &str| args.iter().any(|a| a == name) || !modes.iter().any(|m| args.iter().any(|a| a == m));
    let started = Instant::now();
    let mut summary = Vec::new();
    if wants("cameras") {
        cameras(&broker, runs, &mut summary);
    }
    if wants("latency") {
        latency(&broker, runs, &mut summary);
    }
    if wants("memory") {
        memory(&broker, runs, &mut summary);
    }
    if wants("compare") {
        compare(&broker, runs, &mut summary);
    }
    println!(
        "\nsummary ({runs} run(s) each, medians; {:.0} s in all, {} cores)",
        started.elapsed().as_secs_f64(),
        cores()
    );
    println!("| item | result | target | met |");
    println!("|---|---|---|---|");
    for row in summary {
        let met = match row.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "—",
        };
        println!("| {} | {} | {} | {met} |", row.item, row.result, row.target);
    }
}
