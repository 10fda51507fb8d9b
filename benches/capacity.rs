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

mod support;

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
use watchpost::app::metrics::{AnalysisHooks, StartLog};
use watchpost::app::snapshot::Snapshots;
use watchpost::config::Plan;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::infer::preprocess::ImageView;
use watchpost::infer::runtime;
use watchpost::infer::{Detector, ModelService};
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
        manifest = support::root().join("models/ssd_mobilenet_v2_coco.toml").display(),
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
    watchpost::config::load(&path).unwrap_or_else(|e| panic!("{e}"))
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
        let detectors = (0..model.batch.sessions)
            .map(|_| Detector::load(model.clone(), rt, &plan.runtime).unwrap())
            .collect();
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
            c.delivered += camera.slot.stats.delivered.load(Relaxed);
            c.replaced += camera.slot.stats.dropped.load(Relaxed);
            c.inferred += camera.stats.inferred.load(Relaxed);
            c.skipped += camera.stats.skipped.load(Relaxed);
            c.events += camera.stats.events.load(Relaxed);
            c.per_camera.push((
                camera.stream.status().decoded.load(Relaxed),
                camera.slot.stats.delivered.load(Relaxed),
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

/// What one trial with N cameras found.
struct Trial {
    decode_drops: u64,
    replaced: u64,
    delivered: u64,
    inferred: u64,
    skipped: u64,
    p99_age: f64,
    cpu_share: f64,
    /// Share of the cores other processes used meanwhile.
    others_share: f64,
}

impl Trial {
    fn keeps_up(&self) -> bool {
        self.decode_drops == 0
            && self.p99_age < MAX_AGE
            && (self.replaced as f64) <= MAX_REPLACED * self.delivered.max(1) as f64
    }
}

/// Runs `cameras` cameras for WARM_UP + MEASURE and checks that they kept up.
///
/// Decode drops: per camera, frames the decoder fell behind the camera's own
/// rate (10 per second of the window) plus frames detect was handed fewer
/// than its 5 per second, each with one frame of slack for where the window
/// edges fall.
fn trial(broker: &Broker, clip: &str, cameras: usize, gating: bool, threads: Threads) -> Trial {
    let rig = Rig::new(
        broker.port,
        &Setup {
            clip,
            cameras,
            gating,
            busy_rules: false,
            threads,
        },
    );
    let mut fleet = Fleet::new();
    fleet.grow(&rig, cameras);
    std::thread::sleep(WARM_UP);
    let a = fleet.counters();
    std::thread::sleep(MEASURE);
    let b = fleet.counters();
    fleet.stop();
    rig.shutdown();
    let secs = b.at.unwrap().duration_since(a.at.unwrap()).as_secs_f64();
    let decode_drops = a
        .per_camera
        .iter()
        .zip(&b.per_camera)
        .map(|(&(d0, h0), &(d1, h1))| {
            let behind = (SOURCE_FPS * secs - (d1 - d0) as f64 - 1.0).max(0.0).floor() as u64;
            let short = (DETECT_FPS as f64 * secs - (h1 - h0) as f64 - 1.0).max(0.0).floor() as u64;
            behind + short
        })
        .sum();
    let t = Trial {
        decode_drops,
        replaced: b.replaced - a.replaced,
        delivered: b.delivered - a.delivered,
        inferred: b.inferred - a.inferred,
        skipped: b.skipped - a.skipped,
        p99_age: age_quantile(&a.ages, &b.ages, 0.99),
        cpu_share: (b.cpu - a.cpu).as_secs_f64() / secs / cores() as f64,
        others_share: 0.0,
    };
    let machine = (b.machine.0 - a.machine.0) as f64 / (b.machine.1 - a.machine.1).max(1) as f64;
    let t = Trial {
        others_share: (machine - t.cpu_share).max(0.0),
        ..t
    };
    eprintln!(
        "  {clip}, gating {}, {cameras} cameras: decode drops {}, detect handed {} frames, replaced {}, inferred {}, \
         skipped {}, p99 frame age {:.2} s, CPU {:.0}% of the cores (other processes {:.0}%) → {}",
        if gating { "on" } else { "off" },
        t.decode_drops,
        t.delivered,
        t.replaced,
        t.inferred,
        t.skipped,
        t.p99_age,
        100.0 * t.cpu_share,
        100.0 * t.others_share,
        if t.keeps_up() { "keeps up" } else { "falls behind" }
    );
    t
}

/// The largest N that keeps up, searching up from `start` (which is tried
/// first) and bisecting once a trial falls behind. At most `budget` trials;
/// also returns the smallest N seen falling behind.
fn largest(
    broker: &Broker,
    clip: &str,
    gating: bool,
    threads: Threads,
    start: usize,
    budget: usize,
) -> (usize, Option<usize>) {
    let mut trials = Vec::new();
    let (mut good, mut bad): (usize, Option<usize>) = (0, None);
    let mut n = start.max(1);
    while trials.len() < budget {
        let t = trial(broker, clip, n, gating, threads);
        let ok = t.keeps_up();
        trials.push(t);
        if ok {
            good = good.max(n);
        } else {
            bad = Some(bad.map_or(n, |b| b.min(n)));
        }
        n = match bad {
            None => (n * 3).div_ceil(2).max(n + 1),
            Some(b) if b <= good + 1 => break,
            Some(b) if good == 0 => (b / 2).max(1),
            Some(b) => (good + b) / 2,
        };
        if good == 0 && n == 1 && bad == Some(1) {
            break;
        }
    }
    (good, bad)
}

/// Decode CPU-ms per second of stream: the camera pipeline alone, as fast as
/// it goes, frames dropped after scaling. Keeps `keep` frames for inference.
fn decode_cost(plan: &Plan, clip: &str, keep: usize) -> (f64, Vec<watchpost::decode::Frame>) {
    let camera = &plan.cameras[0];
    let input = &camera.detect.model.manifest.input;
    let source = watchpost::source::SourcePlan::file(support::media(clip), false, false);
    let spec = StreamSpec::new("decode", source, input.width, input.height, input.resize, DETECT_FPS);
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let stream = Arc::new(Stream::new(spec, slot.clone()));
    let status = stream.status();
    let cpu0 = cpu_time();
    let decode = {
        let stream = stream.clone();
        std::thread::spawn(move || stream.run(&CancellationToken::new()))
    };
    let mut kept = Vec::new();
    while let Taken::Frame(frame) = slot.take(Duration::from_secs(30)) {
        if kept.len() < keep {
            kept.push(frame);
        }
    }
    decode.join().unwrap().unwrap();
    let stream_secs = status.decoded.load(Relaxed) as f64 / SOURCE_FPS;
    ((cpu_time() - cpu0).as_secs_f64() * 1e3 / stream_secs, kept)
}

/// CPU-ms of one inference (preprocess + run + decode + NMS) on one thread.
fn inference_cost(plan: &Plan, frames: &[watchpost::decode::Frame]) -> f64 {
    const ROUNDS: usize = 100;
    let mut settings = plan.runtime.clone();
    settings.intra_threads = 1;
    let rt = runtime::init(&settings).unwrap();
    let mut detector = Detector::load(plan.cameras[0].detect.model.clone(), rt, &settings).unwrap();
    let mut run = |frame: &watchpost::decode::Frame| {
        let map = frame.buffer.map_readable().unwrap();
        let image = ImageView {
            data: map.as_slice(),
            width: frame.layout.width,
            height: frame.layout.height,
            stride: frame.layout.stride,
        };
        detector.detect(&image, &frame.geometry).unwrap();
    };
    run(&frames[0]);
    let cpu0 = cpu_time();
    for i in 0..ROUNDS {
        run(&frames[i % frames.len()]);
    }
    (cpu_time() - cpu0).as_secs_f64() * 1e3 / ROUNDS as f64
}

/// One line of the closing summary.
struct Row {
    item: String,
    result: String,
    target: String,
    met: Option<bool>,
}

fn cameras(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    let threads = many_cameras();
    println!("cameras: 640×360 H.264 @ 10 fps played in real time, detect {DETECT_FPS} fps, {threads}");
    println!(
        "| run | decode CPU-ms/s | inference CPU-ms (1 thread) | limit N | N gating off | off/limit | N gating on (static) | on/off |"
    );
    let (mut offs, mut ons, mut limits, mut ratios, mut gains) = (vec![], vec![], vec![], vec![], vec![]);
    for run in 1..=runs {
        let dir = tempfile::tempdir().unwrap();
        let plan = config(
            dir.path(),
            broker.port,
            &Setup {
                clip: LIVE_CLIP,
                cameras: 1,
                gating: false,
                busy_rules: false,
                threads,
            },
        );
        let (decode_ms, frames) = decode_cost(&plan, LIVE_CLIP, 40);
        let infer_ms = inference_cost(&plan, &frames);
        let limit = cores() as f64 * 1000.0 / (decode_ms + DETECT_FPS as f64 * infer_ms);
        let start = ((0.85 * limit).floor() as usize).max(1);
        let (off, _) = largest(broker, LIVE_CLIP, false, threads, start, 5);
        let (on, on_bad) = largest(broker, STATIC_CLIP, true, threads, (3 * off).max(1), 5);
        if on_bad.is_some_and(|b| b > on + 1) {
            eprintln!(
                "  gating on: at least {on}; the search ran out of trials below {}",
                on_bad.unwrap()
            );
        }
        println!(
            "| {run} | {decode_ms:.1} | {infer_ms:.1} | {limit:.1} | {off} | {:.0}% | {on} | {:.1}× |",
            100.0 * off as f64 / limit,
            on as f64 / off.max(1) as f64
        );
        offs.push(off as f64);
        ons.push(on as f64);
        limits.push(limit);
        ratios.push(off as f64 / limit);
        gains.push(on as f64 / off.max(1) as f64);
    }
    let (off, on, limit, ratio, gain) = (median(offs), median(ons), median(limits), median(ratios), median(gains));
    println!(
        "median of {runs}: N off {off}, limit {limit:.1}, {:.0}%, N on {on}, {gain:.1}×",
        100.0 * ratio
    );
    summary.push(Row {
        item: "cameras per box, gating off".into(),
        result: format!("{off} (limit {limit:.1}: {:.0}%)", 100.0 * ratio),
        target: "≥ 85% of the limit".into(),
        met: Some(ratio >= 0.85),
    });
    summary.push(Row {
        item: "cameras per box, gating on, static scene".into(),
        result: format!("{on} ({gain:.1}× gating off)"),
        target: "≥ 3× gating off".into(),
        met: Some(gain >= 3.0),
    });
}

/// Subscribes to every incident topic and keeps (incident id, seq) of starts.
fn listen(rig: &Rig, port: u16) -> Arc<Mutex<Vec<(String, u64)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut options = rumqttc::MqttOptions::new("bench-listener", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = rumqttc::AsyncClient::new(options, 100);
    let topic = format!(
        "{}/+/incidents",
        rig.plan.mqtt.topics.availability().trim_end_matches("/availability")
    );
    let out = seen.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    rig.tokio.spawn(async move {
        client.subscribe(topic, rumqttc::QoS::AtMostOnce).await.unwrap();
        let mut ready = Some(ready_tx);
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let alert: watchpost::publish::Alert = serde_json::from_slice(&p.payload).unwrap();
                    if alert.event == watchpost::rules::EventKind::Start {
                        out.lock().unwrap().push((alert.incident_id, alert.seq));
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    seen
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn latency(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    const CAMERAS: usize = 8;
    const SECS: u64 = 60;
    let threads = many_cameras();
    println!(
        "latency: {CAMERAS} cameras on {LIVE_CLIP} in real time, detect {DETECT_FPS} fps, gating off, {SECS} s, \
         {threads}; frame arrival → PUBACK of the incident's start"
    );
    println!("| run | incidents | p50 | p99 | max | raise→PUBACK p50 | p99 frame age |");
    let (mut p50s, mut p99s) = (vec![], vec![]);
    for run in 1..=runs {
        let setup = Setup {
            clip: LIVE_CLIP,
            cameras: CAMERAS,
            gating: false,
            busy_rules: true,
            threads,
        };
        let rig = Rig::new(broker.port, &setup);
        let seen = listen(&rig, broker.port);
        let mut fleet = Fleet::new();
        fleet.grow(&rig, CAMERAS);
        std::thread::sleep(WARM_UP);
        let from = Instant::now();
        let a = fleet.counters();
        std::thread::sleep(Duration::from_secs(SECS));
        let b = fleet.counters();
        std::thread::sleep(Duration::from_secs(1));
        let acks: HashMap<u64, Instant> = rig.publisher.as_ref().unwrap().status().acks().into_iter().collect();
        let mut raise_to_ack: Vec<f64> = rig
            .publisher
            .as_ref()
            .unwrap()
            .status()
            .latencies()
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        let starts: HashMap<String, Instant> = fleet
            .starts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, arrived)| *arrived >= from)
            .map(|(id, arrived)| (id.to_string(), *arrived))
            .collect();
        let mut ms: Vec<f64> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(id, seq)| Some((*acks.get(seq)? - *starts.get(id)?).as_secs_f64() * 1e3))
            .collect();
        fleet.stop();
        rig.shutdown();
        ms.sort_by(f64::total_cmp);
        raise_to_ack.sort_by(f64::total_cmp);
        assert!(ms.len() >= 10, "only {} incidents were raised", ms.len());
        let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
        println!(
            "| {run} | {} | {p50:.0} ms | {p99:.0} ms | {:.0} ms | {:.1} ms | {:.2} s |",
            ms.len(),
            ms.last().unwrap(),
            percentile(&raise_to_ack, 0.5),
            age_quantile(&a.ages, &b.ages, 0.99)
        );
        p50s.push(p50);
        p99s.push(p99);
    }
    let (p50, p99) = (median(p50s), median(p99s));
    println!("median of {runs}: p50 {p50:.0} ms, p99 {p99:.0} ms");
    summary.push(Row {
        item: format!("frame arrival → PUBACK, {CAMERAS} cameras"),
        result: format!("p50 {p50:.0} ms, p99 {p99:.0} ms"),
        target: "p99 < 250 ms".into(),
        met: Some(p99 < 250.0),
    });
}

/// Resident and peak memory of this process, MB, from /proc/self/status.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap()
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs the memory mode in a fresh process, so that memory an earlier mode
/// freed (and the allocator kept) does not hide the cameras' own.
fn memory(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["memory-child", &broker.port.to_string(), &runs.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the memory mode failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let (table, last) = text.trim_end().rsplit_once('\n').unwrap();
    println!("{table}");
    let worst: f64 = last.parse().unwrap();
    summary.push(Row {
        item: "memory per added camera (after the first)".into(),
        result: format!("≤ {worst:.1} MB"),
        target: "≤ 8 MB".into(),
        met: Some(worst <= 8.0),
    });
}

/// The memory mode itself; prints its table, then the worst per-camera MB.
fn memory_child(port: u16, runs: usize) {
    const SETTLE: Duration = Duration::from_secs(10);
    const STEPS: [usize; 3] = [1, 8, 24];
    let threads = many_cameras();
    println!(
        "memory: VmRSS after {} s with each count of cameras ({LIVE_CLIP}, real time, detect {DETECT_FPS} fps, default \
         gating), {threads}",
        SETTLE.as_secs()
    );
    println!("| run | no camera | 1 | 8 | 24 | first camera | per camera, 1→8 | per camera, 8→24 |");
    let mut per_camera = Vec::new();
    for run in 1..=runs {
        let setup = Setup {
            clip: LIVE_CLIP,
            cameras: 24,
            gating: true,
            busy_rules: false,
            threads,
        };
        let rig = Rig::new(port, &setup);
        std::thread::sleep(Duration::from_secs(2));
        let base = rss_mb().0;
        let mut fleet = Fleet::new();
        let mut rss = Vec::new();
        for n in STEPS {
            fleet.grow(&rig, n);
            std::thread::sleep(SETTLE);
            rss.push(rss_mb().0);
        }
        fleet.stop();
        rig.shutdown();
        let (first, to8, to24) = (rss[0] - base, (rss[1] - rss[0]) / 7.0, (rss[2] - rss[1]) / 16.0);
        println!(
            "| {run} | {base:.0} MB | {:.0} MB | {:.0} MB | {:.0} MB | {first:.1} MB | {to8:.1} MB | {to24:.1} MB |",
            rss[0], rss[1], rss[2]
        );
        // The first camera also loads GStreamer's plugins and codecs, once.
        per_camera.push(to8.max(to24));
    }
    println!("{}", per_camera.iter().copied().fold(0.0, f64::max));
}

/// One camera on vtest.avi, every frame, in this process; prints JSON. The
/// `compare` mode runs it in a fresh process so its peak RSS is its own.
fn compare_child(port: u16) {
    let broker_port = port;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"site = "bench"
box_id = "box-1"
state_dir = "{state}"

[runtime]
intra_threads = {intra}

[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"

[models.coco]
manifest = "{manifest}"

[[cameras]]
name = "walkway"

[cameras.source]
url = "{clip}"

[cameras.detect]
model = "coco"
fps = 10

[cameras.motion]
enabled = false

[[cameras.zones]]
name = "lawn"
polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]

[[cameras.rules]]
name = "lawn-intrusion"
kind = "intrusion"
zone = "lawn"
labels = ["person"]
"#,
        state = dir.path().display(),
        intra = cores(),
        manifest = support::root().join("models/ssd_mobilenet_v2_coco.toml").display(),
        clip = support::media("vtest.avi").display(),
    );
    let path = dir.path().join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    let plan = watchpost::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let _guard = tokio.enter();
    let rt = runtime::init(&plan.runtime).unwrap();
    let camera = &plan.cameras[0];
    let service =
        Arc::new(ModelService::spawn(Detector::load(camera.detect.model.clone(), rt, &plan.runtime).unwrap()).unwrap());
    let outbox = Arc::new(Outbox::open(&plan.outbox).unwrap());
    let publisher = Publisher::spawn(plan.mqtt.clone(), outbox.clone(), Arc::new(|| serde_json::json!({}))).unwrap();
    while !publisher.status().connected.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (snapshots, _worker) = Snapshots::spawn(None, outbox.clone(), plan.mqtt.topics.clone()).unwrap();
    let shared = Shared {
        models: [(camera.detect.model.key.clone(), service)].into(),
        outbox,
        topics: plan.mqtt.topics.clone(),
        snapshots,
    };
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    let running = Camera::start(camera, &shared, CancellationToken::new()).unwrap();
    while !running.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (wall, cpu) = (wall0.elapsed().as_secs_f64(), (cpu_time() - cpu0).as_secs_f64());
    let inferred = running.stats.inferred.load(Relaxed);
    running.join().unwrap();
    let (_, peak) = rss_mb();
    tokio.block_on(publisher.shutdown(Duration::from_secs(5)));
    println!(
        "{}",
        serde_json::json!({"frames": inferred, "seconds": wall, "fps": inferred as f64 / wall, "cpu_seconds": cpu, "peak_rss_mb": peak})
    );
}

fn run_json(command: &mut Command) -> serde_json::Value {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

fn compare(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    let intra = cores();
    let python: PathBuf = support::root().join(".venv/bin/python");
    println!(
        "compare: vtest.avi, every frame, SSD-MobileNetV2, {intra} intra-op threads, no spinning, each in a fresh process"
    );
    println!(
        "| run | watchpost fps | OpenCV+onnxruntime fps | fps ratio | watchpost peak RSS | OpenCV peak RSS | RSS ratio |"
    );
    let (mut fps, mut rss) = (vec![], vec![]);
    for run in 1..=runs {
        let ours = run_json(
            Command::new(std::env::current_exe().unwrap())
                .arg("compare-child")
                .arg(broker.port.to_string()),
        );
        let theirs = run_json(
            Command::new(&python)
                .arg(support::root().join("benches/compare_opencv.py"))
                .arg(support::media("vtest.avi"))
                .arg(support::root().join("models/ssd_mobilenet_v2_coco.onnx"))
                .arg("--threads")
                .arg(intra.to_string()),
        );
        let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
        let (fr, rr) = (
            f(&ours, "fps") / f(&theirs, "fps"),
            f(&ours, "peak_rss_mb") / f(&theirs, "peak_rss_mb"),
        );
        println!(
            "| {run} | {:.1} | {:.1} | {fr:.2} | {:.0} MB | {:.0} MB | {rr:.2} |",
            f(&ours, "fps"),
            f(&theirs, "fps"),
            f(&ours, "peak_rss_mb"),
            f(&theirs, "peak_rss_mb")
        );
        fps.push(fr);
        rss.push(rr);
    }
    let (fr, rr) = (median(fps), median(rss));
    summary.push(Row {
        item: "watchpost vs OpenCV + onnxruntime".into(),
        result: format!("fps ×{fr:.2}, peak RSS ×{rr:.2}"),
        target: "reported".into(),
        met: None,
    });
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
