//! Per-frame costs of the detect path on the shipped SSD model: preprocessing
//! a 300×300 RGB frame, NMS on a realistic candidate set, and one inference
//! (single-threaded and with two intra-op threads); and the same inference
//! for CenterFace at its manifest's 640×384, one frame and a batch of 4. Run with
//! `cargo bench --bench detect`; results go to docs/benchmarks.md as medians.

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use watchpost::config::Diagnostics;
use watchpost::infer::preprocess::{ImageView, Preprocessor};
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelPlan, manifest, nms};
use watchpost::vocab::Geometry;
use watchpost::vocab::{BBox, Detection};

fn model() -> Arc<ModelPlan> {
    load("models/ssd_mobilenet_v2_coco.toml", "coco")
}

fn load(path: &str, key: &str) -> Arc<ModelPlan> {
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(Path::new(path), &mut diags).expect("manifest");
    Arc::new(ModelPlan::new(key, manifest, 0.5, 0.45))
}

/// A deterministic, textured 300×300 frame (the content does not change the cost).
fn frame() -> Vec<u8> {
    (0..300 * 300 * 3)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn benches(c: &mut Criterion) {
    let model = model();
    let pixels = frame();
    let image = ImageView {
        data: &pixels,
        width: 300,
        height: 300,
        stride: 900,
    };

    let pre = Preprocessor::new(&model.manifest.input);
    let mut tensor = vec![0.0f32; pre.len()];
    c.bench_function("preprocess 300x300 rgb", |b| {
        b.iter(|| pre.fill(&image, &mut tensor).unwrap())
    });

    // 400 candidates in clusters of 8 over 3 labels, like a busy frame before NMS.
    let candidates: Vec<Detection> = (0..400)
        .map(|i| {
            let cluster = (i / 8) as f32;
            let jitter = (i % 8) as f32 * 0.002;
            let x = (cluster * 0.037) % 0.9;
            Detection {
                label: 1 + (i % 3) as u32,
                score: 0.5 + (i % 50) as f32 / 100.0,
                bbox: BBox {
                    x1: x + jitter,
                    y1: 0.2,
                    x2: x + 0.08 + jitter,
                    y2: 0.5,
                },
            }
        })
        .collect();
    let mut work = Vec::with_capacity(candidates.len());
    c.bench_function("nms per class, 400 candidates", |b| {
        b.iter(|| {
            work.clear();
            work.extend_from_slice(&candidates);
            nms::per_class(&mut work, 0.45, 100);
        })
    });

    let rt = runtime::init(&RuntimeConfig::default()).expect("ONNX Runtime (run scripts/setup)");
    for threads in [1, 2] {
        let settings = RuntimeConfig {
            intra_threads: threads,
            ..RuntimeConfig::default()
        };
        let mut detector = Detector::load(model.clone(), rt, &settings).unwrap();
        detector.preprocess(&image).unwrap();
        c.bench_function(&format!("ssd inference, {threads} intra-op thread(s)"), |b| {
            b.iter(|| detector.detect_prepared(&Geometry::STRETCH).unwrap().len())
        });
    }

    let faces = load("models/centerface.toml", "faces");
    let (w, h) = (
        faces.manifest.input.width as usize,
        faces.manifest.input.height as usize,
    );
    let big: Vec<u8> = (0..w * h * 3)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let face_image = ImageView {
        data: &big,
        width: w,
        height: h,
        stride: w * 3,
    };
    let settings = RuntimeConfig {
        intra_threads: 2,
        ..RuntimeConfig::default()
    };
    let mut detector = Detector::load(faces, rt, &settings).unwrap();
    for slot in 0..detector.batch_capacity().min(4) {
        detector.preprocess_at(slot, &face_image).unwrap();
    }
    let mut outputs = vec![Vec::new(); 4];
    for batch in [1, 4] {
        let geometries = vec![Geometry::STRETCH; batch];
        c.bench_function(
            &format!("centerface {w}x{h}, batch of {batch}, 2 intra-op threads"),
            |b| b.iter(|| detector.run_batch(&geometries, &mut outputs[..batch]).unwrap()),
        );
    }
}

criterion_group! {
    name = detect;
    config = Criterion::default().sample_size(30);
    targets = benches
}
criterion_main!(detect);
