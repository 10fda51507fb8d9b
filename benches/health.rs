//! Camera health analysis cost per frame: real frames of vtest.avi (the
//! 640×360 clip `scripts/setup` derives), turned to grayscale and scaled by
//! GStreamer as the camera's motion branch does — 320×180, what
//! `[cameras.health]` alone asks for, and 640×360, what a camera that also
//! has a `thrown_object` rule delivers. Each iteration is one frame through
//! `HealthWatch::analyse` (measures, baseline, conditions, lifecycles),
//! frames 200 ms apart so each is analysed, as at the default 5 fps, after
//! the baseline has been learnt. Run with `cargo bench --bench health`;
//! the median goes to docs/benchmarks.md.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use watchpost::rules::blobs::GrayFrame;
use watchpost::rules::{HealthPlan, HealthWatch};

const FRAMES: usize = 100;

/// FRAMES grayscale frames `width` wide (stride = width) from the clip.
fn frames(width: u32, height: u32) -> Vec<Vec<u8>> {
    gst::init().unwrap();
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("media/vtest_640x360_10fps.mp4");
    assert!(clip.is_file(), "{} is missing: run scripts/setup", clip.display());
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,format=GRAY8,width={width},height={height} \
         ! appsink name=sink sync=false",
        clip.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    while out.len() < FRAMES {
        let Ok(sample) = sink.pull_sample() else { break };
        let buffer = sample.buffer().unwrap().map_readable().unwrap();
        // GRAY8 rows are padded to 4 bytes; both widths here are multiples of 4
        out.push(buffer.as_slice()[..(width * height) as usize].to_vec());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(out.len(), FRAMES);
    out
}

fn bench(c: &mut Criterion) {
    for (w, h) in [(320u32, 180u32), (640, 360)] {
        let frames = frames(w, h);
        let mut watch = HealthWatch::new(&HealthPlan::default());
        let mut out = Vec::new();
        let mut n = 0u64;
        let mut step = |watch: &mut HealthWatch, out: &mut Vec<_>| {
            let data = &frames[n as usize % FRAMES];
            let frame = GrayFrame {
                width: w,
                height: h,
                stride: w as usize,
                data,
                pts: Duration::from_millis(n * 200),
            };
            n += 1;
            watch.analyse(black_box(&frame), SystemTime::UNIX_EPOCH, out)
        };
        // learn the baseline first (5 s of a steady picture)
        for _ in 0..40 {
            step(&mut watch, &mut out);
        }
        assert!(watch.has_baseline());
        c.bench_function(&format!("health analyse, {w}x{h}"), |b| {
            b.iter(|| {
                let analysed = step(&mut watch, &mut out);
                out.clear();
                analysed
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
