//! One model session for many cameras: frames from several cameras run as one
//! batch when the model's batch is dynamic, each camera gets back exactly its
//! own frame's detections, and a model with a fixed batch runs frames one at a
//! time, or several at a time with more than one session. Also the CenterFace
//! family, whose model is batchable, on a real face.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use watchpost::config::Diagnostics;
use watchpost::infer::preprocess::ImageView;
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{BatchPlan, Detector, ModelPlan, ModelService, manifest};
use watchpost::vocab::{BBox, Detection};
use watchpost::vocab::{Frame, FrameLayout, Geometry};

fn plan(manifest_path: &Path, confidence: f32, nms_iou: f32, batch: BatchPlan) -> Arc<ModelPlan> {
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(manifest_path, &mut diags).unwrap_or_else(|| panic!("{diags:?}"));
    assert!(diags.is_empty(), "{:?}", diags.into_sorted());
    let mut plan = ModelPlan::new("test", manifest, confidence, nms_iou);
    plan.batch = batch;
    Arc::new(plan)
}

fn load(plan: &Arc<ModelPlan>) -> Detector {
    let settings = RuntimeConfig {
        intra_threads: 1,
        ..RuntimeConfig::default()
    };
    let rt = runtime::init(&settings).expect("ONNX Runtime (run scripts/setup)");
    Detector::load(plan.clone(), rt, &settings).unwrap()
}

/// A 64×64 RGB frame whose red channel is `red` everywhere.
fn frame(red: u8, number: u64) -> Frame {
    let pixels: Vec<u8> = (0..64 * 64).flat_map(|_| [red, 0, 0]).collect();
    Frame {
        buffer: gstreamer::Buffer::from_slice(pixels),
        layout: FrameLayout {
            width: 64,
            height: 64,
            stride: 64 * 3,
        },
        geometry: Geometry::STRETCH,
        pts: Duration::ZERO,
        number,
        arrived: std::time::Instant::now(),
    }
}

/// What a detector alone finds on a frame, one frame per run.
fn alone(detector: &mut Detector, frame: &Frame) -> Vec<Detection> {
    let map = frame.buffer.map_readable().unwrap();
    let image = ImageView::new(map.as_slice(), &frame.layout);
    detector.detect(&image, &frame.geometry).unwrap().to_vec()
}

/// Each frame handed in at the same moment by its own camera thread.
fn from_cameras(service: &ModelService, frames: Vec<Frame>) -> Vec<Result<Vec<Detection>, String>> {
    let start = Arc::new(Barrier::new(frames.len()));
    let cameras: Vec<_> = frames
        .into_iter()
        .map(|frame| {
            let (mut client, start) = (service.client(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                client
                    .detect(&frame)
                    .map(<[Detection]>::to_vec)
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    cameras.into_iter().map(|c| c.join().unwrap()).collect()
}

#[test]
fn frames_of_several_cameras_run_as_one_batch_and_each_gets_its_own_detections() {
    gstreamer::init().unwrap();
    let manifest = common::root().join("tests/models/yolov8_batch_test.toml");
    // The wait is long so that all three cameras' frames land in one batch
    // however the threads are scheduled; a full batch runs at once.
    let batch = BatchPlan {
        max_size: 3,
        max_wait: Duration::from_secs(10),
        ..BatchPlan::default()
    };
    let plan = plan(&manifest, 0.5, 0.45, batch);
    let mut reference = load(&plan);
    let service = ModelService::spawn(load(&plan)).unwrap();
    assert_eq!(service.batch_capacity(), 3);

    // Bright, dark and half-bright frames find different things.
    let frames = [frame(255, 0), frame(0, 1), frame(180, 2)];
    let expected: Vec<Vec<Detection>> = frames.iter().map(|f| alone(&mut reference, f)).collect();
    assert!(!expected[0].is_empty() && expected[1].is_empty());
    assert_ne!(expected[0], expected[2]);

    let got: Vec<Vec<Detection>> = from_cameras(&service, frames.to_vec())
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got, expected);
    assert_eq!(service.stats.runs.load(Ordering::Relaxed), 1);
    assert_eq!(service.stats.largest.load(Ordering::Relaxed), 3);
}

#[test]
fn a_model_with_a_fixed_batch_runs_frames_one_at_a_time() {
    gstreamer::init().unwrap();
    let batch = BatchPlan {
        max_size: 8,
        max_wait: Duration::from_millis(50),
        ..BatchPlan::default()
    };
    let plan = plan(&common::root().join("tests/models/yolov8_test.toml"), 0.5, 0.45, batch);
    let mut reference = load(&plan);
    let service = ModelService::spawn(load(&plan)).unwrap();
    assert_eq!(service.batch_capacity(), 1);
    let frames = [frame(255, 0), frame(0, 1)];
    for (got, frame) in from_cameras(&service, frames.to_vec()).into_iter().zip(&frames) {
        assert_eq!(got.unwrap(), alone(&mut reference, frame));
    }
    assert_eq!(service.stats.runs.load(Ordering::Relaxed), 2);
    assert_eq!(service.stats.largest.load(Ordering::Relaxed), 1);
}

#[test]
fn sessions_side_by_side_give_each_camera_its_own_detections() {
    gstreamer::init().unwrap();
    let batch = BatchPlan {
        sessions: 2,
        ..BatchPlan::default()
    };
    let plan = plan(&common::root().join("tests/models/yolov8_test.toml"), 0.5, 0.45, batch);
    let mut reference = load(&plan);
    let service = ModelService::spawn_sessions(vec![load(&plan), load(&plan)]).unwrap();
    let frames: Vec<Frame> = (0..6).map(|n| frame(if n % 2 == 0 { 255 } else { 0 }, n)).collect();
    for (got, frame) in from_cameras(&service, frames.clone()).into_iter().zip(&frames) {
        assert_eq!(got.unwrap(), alone(&mut reference, frame));
    }
    assert_eq!(service.stats.frames.load(Ordering::Relaxed), 6);
}

#[test]
fn a_frame_that_cannot_be_read_fails_alone_and_its_batch_still_runs() {
    gstreamer::init().unwrap();
    let manifest = common::root().join("tests/models/yolov8_batch_test.toml");
    let batch = BatchPlan {
        max_size: 2,
        max_wait: Duration::from_millis(500),
        ..BatchPlan::default()
    };
    let plan = plan(&manifest, 0.5, 0.45, batch);
    let mut reference = load(&plan);
    let service = ModelService::spawn(load(&plan)).unwrap();
    let good = frame(255, 0);
    let mut torn = frame(255, 1);
    torn.buffer = gstreamer::Buffer::from_slice(vec![0u8; 64 * 3]); // one row of 64
    let expected = alone(&mut reference, &good);

    let results = from_cameras(&service, vec![torn, good.clone()]);
    let error = results[0].as_ref().unwrap_err();
    assert!(error.contains("model `test`"), "{error}");
    assert_eq!(results[1].as_ref().unwrap(), &expected);
    // The good frame still ran, and alone.
    assert_eq!(service.stats.frames.load(Ordering::Relaxed), 1);
}

/// messi5.jpg letterboxed to the model input inside GStreamer, as RGB.
fn letterboxed(path: &Path, width: u32, height: u32) -> (Vec<u8>, Geometry) {
    let tail = format!(
        "videoconvert ! videoscale add-borders=true ! video/x-raw,format=RGB,width={width},height={height},pixel-aspect-ratio=1/1"
    );
    let sample = common::samples(path, &tail, 1).remove(0);
    let (pixels, _, _) = common::rgb(&sample);
    (pixels, Geometry::letterbox(548, 342, (1, 1), width, height))
}

#[test]
fn centerface_finds_the_face_in_messi5_as_python_onnxruntime_does() {
    gstreamer::init().unwrap();
    let manifest = common::root().join("models/centerface.toml");
    let plan = plan(&manifest, 0.5, 0.3, BatchPlan::default());
    let input = &plan.manifest.input;
    let mut detector = load(&plan);
    assert!(
        detector.batch_capacity() > 1,
        "the converted CenterFace has a dynamic batch"
    );
    let (pixels, geometry) = letterboxed(&common::media("messi5.jpg"), input.width, input.height);
    let image = ImageView {
        data: &pixels,
        width: input.width as usize,
        height: input.height as usize,
        stride: input.width as usize * 3,
    };
    // In model-input coordinates, to compare with the reference.
    let faces = detector.detect(&image, &Geometry::STRETCH).unwrap().to_vec();

    let dir = tempfile::tempdir().unwrap();
    let tensor: Vec<u8> = detector.input().iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(dir.path().join("input.f32"), tensor).unwrap();
    let out = Command::new(common::root().join(".venv/bin/python"))
        .arg(common::root().join("tests/parity/centerface_reference.py"))
        .arg(common::root().join("models/centerface.onnx"))
        .arg(dir.path().join("input.f32"))
        .args([
            input.height.to_string(),
            input.width.to_string(),
            "0.5".into(),
            "0.3".into(),
        ])
        .output()
        .expect("the reference runs (scripts/setup makes .venv)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference: Vec<[f32; 5]> = serde_json::from_slice(&out.stdout).unwrap();

    assert!(!reference.is_empty(), "the reference finds the face (positive control)");
    assert_eq!(faces.len(), reference.len(), "{faces:?} vs {reference:?}");
    for (face, r) in faces.iter().zip(&reference) {
        let b = [face.bbox.x1, face.bbox.y1, face.bbox.x2, face.bbox.y2, face.score];
        for (mine, theirs) in b.iter().zip(r) {
            assert!((mine - theirs).abs() < 1e-4, "{b:?} vs {r:?}");
        }
    }
    // In the photo, the face is in the upper half, left of centre.
    let face = geometry.to_source(&faces[0].bbox);
    let centre = BBox {
        x1: (face.x1 + face.x2) / 2.0,
        y1: (face.y1 + face.y2) / 2.0,
        ..face
    };
    assert!(centre.y1 < 0.5 && centre.x1 < 0.6, "{face:?}");
}
