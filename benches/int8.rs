//! The INT8 SSD-MobileNetV2 against the FP32 one it was made from, in one
//! run: CPU per inference on 1 and 2 intra-op threads, and agreement on
//! every frame of vtest.avi and bikes.mp4.
//!
//! Frames are decoded and scaled by a camera's own pipeline and detected by
//! watchpost's own `Detector` (same preprocessing, box decoding and NMS for
//! both models). Agreement, per score threshold: every FP32 detection at or
//! above it is matched, greedily by IoU, to an INT8 detection of the same
//! label at or above it with IoU ≥ 0.5; unmatched FP32 detections are
//! *missing*, unmatched INT8 ones *extra*. CPU is this process's user +
//! system time over 100 inferences on decoded frames, the two models taking
//! turns, three rounds; medians.
//!
//! Run with `cargo bench --bench int8 [-- --rounds N]`; results go to
//! docs/benchmarks.md ("The INT8 detector").

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use support::{cpu_time, median};
use watchpost::config::Diagnostics;
use watchpost::infer::preprocess::ImageView;
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelPlan, manifest};
use watchpost::vocab::{Detection, Frame};

const FP32: &str = "models/ssd_mobilenet_v2_coco.toml";
const INT8: &str = "models/ssd_mobilenet_v2_coco_int8.toml";
/// Kept by the detector; the thresholds below are applied on top.
const FLOOR: f32 = 0.3;
/// The default model confidence (0.5) and the quality labels' rules (0.4).
const THRESHOLDS: [f32; 3] = [0.4, 0.5, 0.6];
const IOU: f32 = 0.5;
const TIMED: usize = 100;

fn plan(path: &str, key: &str) -> Arc<ModelPlan> {
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(&support::root().join(path), &mut diags).expect("manifest");
    Arc::new(ModelPlan::new(key, manifest, FLOOR, 0.45))
}

/// Every frame of `clip`, decoded and scaled to 300×300 by a camera's pipeline.
fn frames(clip: &str) -> Vec<Frame> {
    let dir = tempfile::tempdir().unwrap();
    // 60 fps: above both clips' rates, so videorate keeps every frame.
    let plan = support::one_camera::config(dir.path(), 1, &support::media(clip), 60, false);
    support::one_camera::decode_alone(plan.cameras[0].stream_spec(), usize::MAX).kept
}

fn detect(detector: &mut Detector, frame: &Frame) -> Vec<Detection> {
    let map = frame.buffer.map_readable().unwrap();
    let image = ImageView::new(map.as_slice(), &frame.layout);
    detector.detect(&image, &frame.geometry).unwrap().to_vec()
}

#[derive(Default, Clone, Copy)]
struct Agreement {
    reference: usize,
    matched: usize,
    extra: usize,
}

impl Agreement {
    fn add(&mut self, fp32: &[Detection], int8: &[Detection], threshold: f32) {
        let a: Vec<&Detection> = fp32.iter().filter(|d| d.score >= threshold).collect();
        let b: Vec<&Detection> = int8.iter().filter(|d| d.score >= threshold).collect();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (i, x) in a.iter().enumerate() {
            for (j, y) in b.iter().enumerate() {
                let iou = x.bbox.iou(&y.bbox);
                if x.label == y.label && iou >= IOU {
                    pairs.push((iou, i, j));
                }
            }
        }
        pairs.sort_by(|p, q| q.0.total_cmp(&p.0));
        let (mut used_a, mut used_b) = (vec![false; a.len()], vec![false; b.len()]);
        let mut matched = 0;
        for (_, i, j) in pairs {
            if !used_a[i] && !used_b[j] {
                used_a[i] = true;
                used_b[j] = true;
                matched += 1;
            }
        }
        self.reference += a.len();
        self.matched += matched;
        self.extra += b.len() - matched;
    }
}

fn cpu_per_inference(detector: &mut Detector, frames: &[Frame]) -> f64 {
    let start = cpu_time();
    for frame in frames.iter().cycle().take(TIMED) {
        detect(detector, frame);
    }
    (cpu_time() - start).as_secs_f64() * 1000.0 / TIMED as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(3usize);
    gstreamer::init().unwrap();
    let rt = runtime::init(&RuntimeConfig::default()).expect("ONNX Runtime (run scripts/setup)");
    let (fp32, int8) = (plan(FP32, "fp32"), plan(INT8, "int8"));
    let load = |plan: &Arc<ModelPlan>, threads: usize| {
        let settings = RuntimeConfig {
            intra_threads: threads,
            ..RuntimeConfig::default()
        };
        Detector::load(plan.clone(), rt, &settings).unwrap()
    };

    println!("agreement of INT8 with FP32, every frame, IoU ≥ {IOU} per label");
    println!("| clip | frames | threshold | FP32 detections | matched | missing | extra | matched % |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut a32, mut a8) = (load(&fp32, 1), load(&int8, 1));
    let mut timing_frames = Vec::new();
    let mut totals = [Agreement::default(); THRESHOLDS.len()];
    // Per clip and label, at the default confidence 0.5.
    let mut labels: BTreeMap<(&str, u32), Agreement> = BTreeMap::new();
    for clip in ["vtest.avi", "bikes.mp4"] {
        let frames = frames(clip);
        let mut per = [Agreement::default(); THRESHOLDS.len()];
        for frame in &frames {
            let (x, y) = (detect(&mut a32, frame), detect(&mut a8, frame));
            for (k, t) in THRESHOLDS.iter().enumerate() {
                per[k].add(&x, &y, *t);
                totals[k].add(&x, &y, *t);
            }
            let ids: std::collections::BTreeSet<u32> = x.iter().chain(&y).map(|d| d.label).collect();
            for id in ids {
                let (xl, yl): (Vec<Detection>, Vec<Detection>) = (
                    x.iter().filter(|d| d.label == id).copied().collect(),
                    y.iter().filter(|d| d.label == id).copied().collect(),
                );
                labels.entry((clip, id)).or_default().add(&xl, &yl, 0.5);
            }
        }
        for (k, t) in THRESHOLDS.iter().enumerate() {
            row(clip, frames.len(), *t, per[k]);
        }
        timing_frames.extend(frames.into_iter().step_by(8));
    }
    for (k, t) in THRESHOLDS.iter().enumerate() {
        row("both", 0, *t, totals[k]);
    }
    println!();
    println!("per label at 0.5 (labels with at least 10 detections by either model)");
    println!("| clip | label | FP32 detections | matched | missing | extra | matched % |");
    println!("|---|---|---|---|---|---|---|");
    for ((clip, id), a) in labels
        .iter()
        .filter(|(_, a)| a.reference.max(a.matched + a.extra) >= 10)
    {
        println!(
            "| {clip} | {} | {} | {} | {} | {} | {:.1}% |",
            fp32.labels().name(*id).map_or("?", |n| n.as_ref()),
            a.reference,
            a.matched,
            a.reference - a.matched,
            a.extra,
            100.0 * a.matched as f64 / a.reference.max(1) as f64
        );
    }

    println!();
    println!(
        "CPU per inference (preprocess + session.run + decode + NMS), {TIMED} runs on decoded frames, {rounds} rounds, models taking turns"
    );
    println!("| threads | FP32 CPU ms | INT8 CPU ms | INT8 / FP32 | FP32 wall ms | INT8 wall ms |");
    println!("|---|---|---|---|---|---|");
    for threads in [1, 2] {
        let (mut d32, mut d8) = (load(&fp32, threads), load(&int8, threads));
        let (mut c32, mut c8, mut w32, mut w8) = (vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let t = std::time::Instant::now();
            c32.push(cpu_per_inference(&mut d32, &timing_frames));
            w32.push(t.elapsed().as_secs_f64() * 1000.0 / TIMED as f64);
            let t = std::time::Instant::now();
            c8.push(cpu_per_inference(&mut d8, &timing_frames));
            w8.push(t.elapsed().as_secs_f64() * 1000.0 / TIMED as f64);
        }
        let (c32, c8) = (median(c32), median(c8));
        println!(
            "| {threads} | {c32:.1} | {c8:.1} | {:.2} | {:.1} | {:.1} |",
            c8 / c32,
            median(w32),
            median(w8)
        );
    }
    println!("load average at the end: {}", load_average());
    std::thread::sleep(Duration::from_millis(10));
}

fn row(clip: &str, frames: usize, threshold: f32, a: Agreement) {
    let frames = if frames == 0 { String::new() } else { frames.to_string() };
    println!(
        "| {clip} | {frames} | {threshold:.1} | {} | {} | {} | {} | {:.1}% |",
        a.reference,
        a.matched,
        a.reference - a.matched,
        a.extra,
        100.0 * a.matched as f64 / a.reference.max(1) as f64
    );
}

fn load_average() -> String {
    std::fs::read_to_string(Path::new("/proc/loadavg"))
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
