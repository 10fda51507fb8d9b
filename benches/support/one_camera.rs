//! One camera end to end in this process, as the benches that time it (e2e,
//! and capacity's `compare`) run it: a config on a clip with one intrusion
//! rule, the model's inference service, the durable outbox, a publisher
//! connected to a real Mosquitto, then the camera from its start to the end
//! of the clip; and the references the benches measure beside it: the
//! pipeline alone, and one detection on a decoded frame.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use watchpost::app::camera::{Camera, Shared};
use watchpost::app::snapshot::Snapshots;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::infer::preprocess::ImageView;
use watchpost::infer::runtime;
use watchpost::infer::{Detector, ModelService};
use watchpost::plan::Plan;
use watchpost::publish::{Outbox, Publisher};
use watchpost::vocab::Frame;

use super::cpu_time;

pub fn config(dir: &Path, port: u16, clip: &Path, fps: u32, gating: bool) -> Plan {
    let text = format!(
        r#"site = "bench"
box_id = "box-1"
state_dir = "{state}"

[mqtt]
url = "mqtt://127.0.0.1:{port}"

[models.coco]
manifest = "{manifest}"

[[cameras]]
name = "walkway"

[cameras.source]
url = "{clip}"

[cameras.detect]
model = "coco"
fps = {fps}

[cameras.motion]
enabled = {gating}

[[cameras.zones]]
name = "lawn"
polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]

[[cameras.rules]]
name = "lawn-intrusion"
kind = "intrusion"
zone = "lawn"
labels = ["person"]
"#,
        state = dir.display(),
        manifest = super::model_manifest().display(),
        clip = clip.display(),
    );
    let path = dir.join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    watchpost::plan::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// One camera run to the end of its clip.
pub struct CameraRun {
    pub frames: u64,
    pub inferred: u64,
    pub skipped: u64,
    pub events: u64,
    pub wall: Duration,
    pub cpu: Duration,
}

/// The product's defaults for threads: `[runtime] intra_threads = 1` and one
/// session of the model per core, which one camera keeps busy with its
/// frames in flight.
/// Loads the model and connects the publisher first, then times the camera
/// from its start to the end of the clip.
pub fn run_camera(plan: &Plan) -> CameraRun {
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let _guard = tokio.enter();
    let rt = runtime::init(&plan.runtime).unwrap();
    let camera = &plan.cameras[0];
    let detectors = Detector::load_sessions(&camera.detect.model, rt, &plan.runtime).unwrap();
    let service = Arc::new(ModelService::spawn_sessions(detectors).unwrap());
    let outbox = Arc::new(Outbox::open(&plan.outbox).unwrap());
    let publisher = Publisher::spawn(plan.mqtt.clone(), outbox.clone(), Arc::new(|| serde_json::json!({}))).unwrap();
    let status = publisher.status();
    while !status.connected.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (snapshots, _worker) = Snapshots::spawn(None, outbox.clone(), plan.mqtt.topics.clone()).unwrap();
    let shared = Shared {
        models: [(camera.detect.model.key.clone(), service)].into(),
        outbox: outbox.clone(),
        topics: plan.mqtt.topics.clone(),
        snapshots,
        evidence: None,
        arming: Default::default(),
        control: None,
        console: None,
    };
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    let running = Camera::start(camera, &shared, CancellationToken::new()).unwrap();
    while !running.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (wall, cpu) = (wall0.elapsed(), cpu_time() - cpu0);
    let (stats, slot) = (running.view.stats.clone(), running.view.slot.clone());
    running.join().unwrap();
    tokio.block_on(publisher.shutdown(Duration::from_secs(5)));
    CameraRun {
        frames: slot.stats.delivered.load(Relaxed),
        inferred: stats.inferred.load(Relaxed),
        skipped: stats.skipped.load(Relaxed),
        events: stats.events.load(Relaxed),
        wall,
        cpu,
    }
}

/// What a camera pipeline did alone, with nothing but this process's CPU
/// counted: see [`decode_alone`].
pub struct Decoded {
    /// CPU time of the whole run.
    pub cpu: Duration,
    /// Frames the detect branch delivered.
    pub delivered: u32,
    /// Frames out of the decoder (before rate limiting).
    pub decoded: u64,
    /// The first frames delivered, for an inference reference.
    pub kept: Vec<Frame>,
}

/// Runs `spec`'s pipeline alone, as fast as it goes, frames dropped after
/// scaling except the first `keep`.
pub fn decode_alone(spec: StreamSpec, keep: usize) -> Decoded {
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let stream = Arc::new(Stream::new(spec, slot.clone()));
    let status = stream.status();
    let cpu0 = cpu_time();
    let decode = {
        let stream = stream.clone();
        std::thread::spawn(move || stream.run(&CancellationToken::new()))
    };
    let (mut delivered, mut kept) = (0u32, Vec::new());
    while let Taken::Frame(frame) = slot.take(Duration::from_secs(30)) {
        delivered += 1;
        if kept.len() < keep {
            kept.push(frame);
        }
    }
    decode.join().unwrap().unwrap();
    Decoded {
        cpu: cpu_time() - cpu0,
        delivered,
        decoded: status.decoded.load(Relaxed),
        kept,
    }
}

/// One detection on a decoded frame, as the camera's detect thread runs it.
pub fn detect_frame(detector: &mut Detector, frame: &Frame) {
    let map = frame.buffer.map_readable().unwrap();
    let image = ImageView::new(map.as_slice(), &frame.layout);
    detector.detect(&image, &frame.geometry).unwrap();
}
