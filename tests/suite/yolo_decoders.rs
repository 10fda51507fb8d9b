//! The YOLOv5, YOLOv8 and YOLOX decoders, end to end through ONNX Runtime, on
//! tiny models whose constant outputs encode known boxes
//! (tests/models/make_models.py). Exact boxes, labels and scores after NMS.

use std::path::Path;
use std::sync::Arc;

use watchpost::config::Diagnostics;
use watchpost::infer::preprocess::ImageView;
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{DetectionFilter, Detector, ModelPlan, manifest};
use watchpost::vocab::BBox;
use watchpost::vocab::Geometry;

/// Detections (label, score, box) of a test model on a black 64×64 frame.
fn detect(name: &str) -> Vec<(u32, f32, BBox)> {
    detect_with(
        name,
        DetectionFilter {
            max_area: 1.0,
            ..DetectionFilter::default()
        },
    )
}

fn detect_with(name: &str, filter: DetectionFilter) -> Vec<(u32, f32, BBox)> {
    let mut diags = Diagnostics::default();
    let path = Path::new("tests/models").join(format!("{name}.toml"));
    let manifest = manifest::load(&path, &mut diags).unwrap_or_else(|| panic!("{diags:?}"));
    assert!(diags.is_empty(), "{:?}", diags.into_sorted());
    let mut plan = ModelPlan::new(name, manifest, 0.5, 0.45);
    plan.filter = filter;
    let plan = Arc::new(plan);
    let settings = RuntimeConfig::default();
    let rt = runtime::init(&settings).expect("ONNX Runtime (run scripts/setup)");
    let mut detector = Detector::load(plan, rt, &settings).unwrap();
    let pixels = vec![0u8; 64 * 64 * 3];
    let image = ImageView {
        data: &pixels,
        width: 64,
        height: 64,
        stride: 64 * 3,
    };
    let mut out: Vec<_> = detector
        .detect(&image, &Geometry::STRETCH)
        .unwrap()
        .iter()
        .map(|d| (d.label, d.score, d.bbox))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// A box from centre and size in 64-pixel input coordinates.
fn cxcywh(cx: f32, cy: f32, w: f32, h: f32) -> BBox {
    BBox {
        x1: (cx - w / 2.0) / 64.0,
        y1: (cy - h / 2.0) / 64.0,
        x2: (cx + w / 2.0) / 64.0,
        y2: (cy + h / 2.0) / 64.0,
    }
}

fn assert_detections(got: &[(u32, f32, BBox)], want: &[(u32, f32, BBox)]) {
    assert_eq!(got.len(), want.len(), "got {got:?}");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.0, w.0, "label: got {got:?}");
        assert!((g.1 - w.1).abs() < 1e-5, "score: got {got:?}");
        for (a, b) in [(g.2.x1, w.2.x1), (g.2.y1, w.2.y1), (g.2.x2, w.2.x2), (g.2.y2, w.2.y2)] {
            assert!((a - b).abs() < 1e-5, "box: got {:?}, want {:?}", g.2, w.2);
        }
    }
}

#[test]
fn yolov5_scores_are_objectness_times_class_and_overlaps_are_suppressed() {
    assert_detections(
        &detect("yolov5_test"),
        &[
            (1, 0.95 * 0.9, cxcywh(10.0, 10.0, 4.0, 4.0)),
            (0, 0.9 * 0.8, cxcywh(32.0, 32.0, 16.0, 32.0)),
        ],
    );
}

#[test]
fn yolov8_channels_first_output_decodes() {
    assert_detections(
        &detect("yolov8_test"),
        &[
            (0, 0.95, cxcywh(32.0, 16.0, 32.0, 8.0)),
            (1, 0.70, cxcywh(48.0, 48.0, 8.0, 8.0)),
        ],
    );
}

#[test]
fn yolox_grid_offsets_and_log_sizes_decode_per_stride() {
    assert_detections(
        &detect("yolox_test"),
        &[
            // stride 8, cell (3, 4): centre ((0.5 + 3) × 8, (0.5 + 4) × 8), size (2 × 8, 4 × 8)
            (0, 0.9 * 0.9, cxcywh(28.0, 36.0, 16.0, 32.0)),
            // stride 32, cell (1, 0): centre ((0 + 1) × 32, (0.5 + 0) × 32), size (32, 32)
            (1, 0.8 * 0.9, cxcywh(32.0, 16.0, 32.0, 32.0)),
        ],
    );
}

#[test]
fn a_manifest_that_does_not_match_its_model_is_rejected_with_what_the_model_has() {
    let mut diags = Diagnostics::default();
    let mut manifest = manifest::load(Path::new("tests/models/yolov8_test.toml"), &mut diags).unwrap();
    manifest.input.name = "image".into();
    let settings = RuntimeConfig::default();
    let rt = runtime::init(&settings).unwrap();
    let plan = |m| Arc::new(ModelPlan::new("wrong", m, 0.5, 0.45));
    let err = Detector::load(plan(manifest.clone()), rt, &settings)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("the model's inputs are `images` [1, 3, 64, 64]"), "{err}");
    manifest.input.name = "images".into();
    manifest.input.width = 32;
    let err = Detector::load(plan(manifest), rt, &settings).err().unwrap().to_string();
    assert!(err.contains("but the model takes [1, 3, 64, 64]"), "{err}");
}

#[test]
fn label_filters_per_label_thresholds_box_areas_and_agnostic_nms_apply() {
    let all = DetectionFilter {
        max_area: 1.0,
        ..DetectionFilter::default()
    };
    // only people
    let people = detect_with(
        "yolov5_test",
        DetectionFilter {
            allowed: Some(vec![0]),
            ..all.clone()
        },
    );
    assert_eq!(people.iter().map(|d| d.0).collect::<Vec<_>>(), vec![0]);
    // a stricter threshold for people drops the 0.72 person, keeps the bicycle
    let strict = detect_with(
        "yolov5_test",
        DetectionFilter {
            label_confidence: vec![(0, 0.75)],
            ..all.clone()
        },
    );
    assert_eq!(strict.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1]);
    // the bicycle is 4×4 of 64×64 = 0.0039 of the frame
    let big = detect_with(
        "yolov5_test",
        DetectionFilter {
            min_area: 0.01,
            ..all.clone()
        },
    );
    assert_eq!(big.iter().map(|d| d.0).collect::<Vec<_>>(), vec![0]);
    let small = detect_with(
        "yolov5_test",
        DetectionFilter {
            max_area: 0.01,
            ..all.clone()
        },
    );
    assert_eq!(small.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1]);
    // yolox's two boxes overlap by IoU 0.14: agnostic NMS at 0.45 keeps both (cross-label suppression is unit-tested)
    assert_eq!(
        detect_with(
            "yolox_test",
            DetectionFilter {
                class_agnostic_nms: true,
                ..all
            }
        )
        .len(),
        2
    );
}

#[test]
fn providers_are_tried_in_order_and_a_missing_one_falls_through_to_the_next() {
    use watchpost::infer::providers::Provider;
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(Path::new("tests/models/yolov8_test.toml"), &mut diags).unwrap();
    let plan = Arc::new(ModelPlan::new("p", manifest, 0.5, 0.45));
    let rt = runtime::init(&RuntimeConfig::default()).unwrap();
    // No CUDA device or library here: it is skipped, the CPU runs the model.
    let fallback = RuntimeConfig {
        providers: vec![Provider::Cuda, Provider::Cpu],
        ..RuntimeConfig::default()
    };
    assert!(Detector::load(plan.clone(), rt, &fallback).is_ok());
    let only_cuda = RuntimeConfig {
        providers: vec![Provider::Cuda],
        ..RuntimeConfig::default()
    };
    let err = Detector::load(plan, rt, &only_cuda).err().unwrap().to_string();
    assert!(err.contains("no execution provider could run it (cuda: "), "{err}");
}
