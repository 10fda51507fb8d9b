//! Redaction cost per 720p snapshot: scaling the picture to the face model's
//! input inside GStreamer, CenterFace through the shared inference service,
//! covering faces and heads with randomised blocks, and the JPEG encoding.
//! The picture is the first frame of vtest_1280x720_25fps.mp4 (made by
//! scripts/setup), with the shipped detector's persons as the scene.
//! 30 timed runs after 3 warm-up runs; the median goes to docs/benchmarks.md.
//! Run with `cargo bench --bench redact`.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer::prelude::*;
use watchpost::anonymize::privacy::CameraPrivacyPlan;
use watchpost::anonymize::redact::{RedactLabels, RedactSet};
use watchpost::anonymize::{Picture, Redactor};
use watchpost::config::Diagnostics;
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelPlan, ModelService, manifest};

const RUNS: usize = 30;

fn first_frame(path: &Path) -> gstreamer::Sample {
    let pipeline = gstreamer::parse::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=out sync=false",
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
    let sample = sink.pull_sample().unwrap();
    pipeline.set_state(gstreamer::State::Null).unwrap();
    sample
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    gstreamer::init().unwrap();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let settings = RuntimeConfig {
        intra_threads: threads,
        ..RuntimeConfig::default()
    };
    let rt = runtime::init(&settings).unwrap();
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(&support::root().join("models/centerface.toml"), &mut diags).unwrap();
    let plan = Arc::new(ModelPlan::new("faces", manifest, 0.5, 0.3));
    let faces = ModelService::spawn(Detector::load(plan, rt, &settings).unwrap()).unwrap();
    let mut redactor = Redactor::new(Some(&faces));
    let sample = first_frame(&support::media("vtest_1280x720_25fps.mp4"));
    // The persons the shipped detector finds on it: a picture is covered
    // only over a detector's pass.
    let mut diags = Diagnostics::default();
    let coco = manifest::load(&support::root().join("models/ssd_mobilenet_v2_coco.toml"), &mut diags).unwrap();
    let coco = Arc::new(ModelPlan::new("coco", coco, 0.3, 0.45));
    let mut people = Detector::load(coco, rt, &settings).unwrap();
    let picture = Picture::detect(sample, &mut people).unwrap();
    let policy = CameraPrivacyPlan {
        redact: RedactSet::default(),
        labels: RedactLabels::of(people.plan().labels()),
        masks: vec![],
        keys: Default::default(),
    };
    let mut redact_ms = Vec::new();
    let mut total_ms = Vec::new();
    let mut size = 0;
    for run in 0..RUNS + 3 {
        let start = Instant::now();
        let redacted = redactor.redact(&picture, &policy).unwrap();
        let redacted_at = start.elapsed();
        let jpeg = redacted.to_jpeg(80, 200 * 1024).unwrap();
        let total = start.elapsed();
        size = jpeg.as_bytes().len();
        if run >= 3 {
            redact_ms.push(ms(redacted_at));
            total_ms.push(ms(total));
        }
    }
    println!(
        "720p snapshot, CenterFace 640x384 with {threads} intra-op threads: redact {:.1} ms, redact + JPEG {:.1} ms (median of {RUNS}); JPEG {size} bytes",
        support::median(redact_ms),
        support::median(total_ms),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
