//! Parity of the shipped model between watchpost and Python onnxruntime.
//!
//! Frames of vtest.avi go through watchpost's own GStreamer pipeline (decode,
//! rate limit, scale) and preprocessing; the exact input tensors are dumped
//! and run by tests/parity/ssd_reference.py with Python onnxruntime of the
//! pinned version. Every output value must match within 1e-5. The outputs are
//! also checked against the committed golden record, tests/golden/ssd_vtest.json
//! (regenerate with WATCHPOST_UPDATE_GOLDEN=1).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use watchpost::config::Diagnostics;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::infer::preprocess::ImageView;
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelPlan, RawOutput, manifest};
use watchpost::source::SourcePlan;

/// Frames (at 5 fps) compared: the start, and two busy moments later on.
const FRAMES: [u64; 3] = [0, 40, 120];
const TOLERANCE: f32 = 1e-5;

fn pinned_ort_version() -> String {
    let versions = std::fs::read_to_string(common::root().join("scripts/versions.env")).unwrap();
    versions
        .lines()
        .find_map(|l| l.strip_prefix("ORT_VERSION="))
        .expect("ORT_VERSION in scripts/versions.env")
        .trim()
        .to_string()
}

fn load_model() -> Arc<ModelPlan> {
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(&common::manifest(), &mut diags).expect("the shipped manifest loads");
    assert!(diags.is_empty(), "{diags:?}");
    Arc::new(ModelPlan::new("coco", manifest, 0.5, 0.45))
}

struct Dumped {
    number: u64,
    input: Vec<f32>,
    outputs: Vec<RawOutput>,
    /// (label, score, box) after watchpost's decoding and NMS.
    detections: Vec<(u32, f32, [f32; 4])>,
}

/// Runs vtest.avi through the real pipeline and the model, keeping FRAMES.
fn run_watchpost(model: &Arc<ModelPlan>) -> Vec<Dumped> {
    gstreamer::init().unwrap();
    let settings = RuntimeConfig {
        intra_threads: 1,
        ..RuntimeConfig::default()
    };
    let rt = runtime::init(&settings).expect("ONNX Runtime loads (run scripts/setup)");
    let mut detector = Detector::load(model.clone(), rt, &settings).unwrap();
    let clip = common::media("vtest.avi");
    let input = &model.manifest.input;
    let source = SourcePlan::file(clip, false, false);
    let spec = StreamSpec::new("parity", source, input.width, input.height, input.resize, 5);
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let cancel = CancellationToken::new();
    let decode = {
        let (slot, cancel) = (slot.clone(), cancel.clone());
        std::thread::spawn(move || Stream::new(spec, slot).run(&cancel))
    };
    let mut dumped = Vec::new();
    while dumped.len() < FRAMES.len() {
        let frame = match slot.take(common::SOON) {
            Taken::Frame(frame) => frame,
            other => panic!("the clip ended early or stalled: {other:?}"),
        };
        if !FRAMES.contains(&frame.number) {
            continue;
        }
        let map = frame.buffer.map_readable().unwrap();
        let image = ImageView::new(map.as_slice(), &frame.layout);
        detector.preprocess(&image).unwrap();
        let outputs = detector.run_raw().unwrap();
        let detections = detector
            .detect_prepared(&frame.geometry)
            .unwrap()
            .iter()
            .map(|d| (d.label, d.score, [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2]))
            .collect();
        dumped.push(Dumped {
            number: frame.number,
            input: detector.input().to_vec(),
            outputs,
            detections,
        });
    }
    cancel.cancel();
    slot.close();
    decode.join().unwrap().unwrap();
    dumped
}

fn write_f32(path: &Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn ssd_outputs_match_python_onnxruntime_on_the_same_input_tensors() {
    let model = load_model();
    let dumped = run_watchpost(&model);
    let dir = tempfile::tempdir().unwrap();
    let spec = &model.manifest.input;
    let labels: Vec<u32> = (0..=90).filter(|id| model.labels().contains_id(*id)).collect();
    let meta = serde_json::json!({
        "nms": {"confidence": model.keys.confidence, "iou": model.keys.nms_iou, "class_offset": 1, "labels": labels},
        "input": spec.name,
        "shape": [1, spec.height, spec.width, 3],
        "frames": dumped.iter().map(|d| serde_json::json!({"name": format!("frame-{}", d.number), "number": d.number})).collect::<Vec<_>>(),
    });
    std::fs::write(dir.path().join("meta.json"), meta.to_string()).unwrap();
    for d in &dumped {
        write_f32(&dir.path().join(format!("frame-{}.input.f32", d.number)), &d.input);
    }

    let golden_path = common::root().join("tests/golden/ssd_vtest.json");
    let update = std::env::var_os("WATCHPOST_UPDATE_GOLDEN").is_some();
    let python = common::root().join(".venv/bin/python");
    assert!(python.is_file(), "{} is missing: run scripts/setup", python.display());
    let mut cmd = Command::new(&python);
    cmd.arg(common::root().join("tests/parity/ssd_reference.py"))
        .arg(&model.manifest.model_path)
        .arg(dir.path())
        .arg(pinned_ort_version());
    if update {
        cmd.arg("--golden").arg(&golden_path);
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "the Python reference run failed");

    // Live parity: every value of every output.
    let mut compared = 0;
    let mut worst = 0.0f32;
    for d in &dumped {
        for out in &d.outputs {
            let reference = read_f32(&dir.path().join(format!("frame-{}.{}.f32", d.number, out.name)));
            let diff = max_abs_diff(&out.data, &reference);
            assert!(
                diff <= TOLERANCE,
                "frame {} output `{}` differs by {diff}",
                d.number,
                out.name
            );
            worst = worst.max(diff);
            compared += reference.len();
        }
    }
    eprintln!("{compared} output values compared; largest difference {worst:e}");

    // After decoding and NMS: the same detections, in the same order.
    let mut boxes = 0;
    for d in &dumped {
        let path = dir.path().join(format!("frame-{}.detections.json", d.number));
        let reference: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(
            reference.len(),
            d.detections.len(),
            "frame {}: {reference:?} vs {:?}",
            d.number,
            d.detections
        );
        for (r, (label, score, b)) in reference.iter().zip(&d.detections) {
            assert_eq!(r["label"].as_u64().unwrap() as u32, *label, "frame {}", d.number);
            assert_eq!(r["score"].as_f64().unwrap() as f32, *score, "frame {}", d.number);
            let rb: Vec<f32> = r["box"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(rb.as_slice(), b.as_slice(), "frame {}", d.number);
        }
        boxes += d.detections.len();
    }
    assert!(boxes > 0, "no detection to compare");
    eprintln!("{boxes} detections after NMS identical to the Python reference");
    assert_eq!(compared, FRAMES.len() * (1917 * 90 + 1917 * 4));

    // The committed golden record.
    let golden: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&golden_path).unwrap()).unwrap();
    let frames = golden["frames"].as_array().unwrap();
    assert_eq!(frames.len(), dumped.len());
    for (d, g) in dumped.iter().zip(frames) {
        assert_eq!(g["number"], d.number);
        let bytes: Vec<u8> = d.input.iter().flat_map(|v| v.to_le_bytes()).collect();
        let sha: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if g["input_sha256"] != sha.as_str() {
            // GStreamer on this machine scaled the frame differently from the
            // machine that made the record; the live comparison above still holds.
            eprintln!(
                "frame {}: input differs from the golden record's; its outputs are not compared",
                d.number
            );
            continue;
        }
        for out in &d.outputs {
            let rec = &g["outputs"][&out.name];
            let stride = rec["sample_stride"].as_u64().unwrap() as usize;
            let sample: Vec<f32> = rec["sample"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let ours: Vec<f32> = out.data.iter().step_by(stride).copied().collect();
            assert!(
                max_abs_diff(&ours, &sample) <= TOLERANCE,
                "frame {} `{}` differs from the golden sample",
                d.number,
                out.name
            );
        }
        let scores = &d.outputs.iter().find(|o| o.name == "scores").unwrap().data;
        let top = g["top"].as_array().unwrap();
        assert!(
            !top.is_empty(),
            "the golden frame {} has no confident detection",
            d.number
        );
        for entry in top {
            let (anchor, class) = (entry[0].as_u64().unwrap() as usize, entry[1].as_u64().unwrap() as usize);
            let expected = entry[2].as_f64().unwrap() as f32;
            assert!((scores[anchor * 90 + class] - expected).abs() <= TOLERANCE);
        }
    }
}
