//! Privacy by construction, on real pictures and the real pipeline:
//! - redaction hides every face that a second, independent face detector
//!   (BlazeFace, run by tests/privacy/blazeface_check.py) finds before it;
//! - privacy-masked pixels are black in the frames the detector gets and in
//!   the snapshot;
//! - an incident goes out first and its redacted JPEG follows on its topic.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watchpost::anonymize::privacy::CameraPrivacyPlan;
use watchpost::anonymize::redact::{RedactLabels, RedactSet};
use watchpost::anonymize::{Picture, Redactor};
use watchpost::config::Diagnostics;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelPlan, ModelService, manifest};
use watchpost::source::SourcePlan;

fn load_model(path: &Path, key: &str, confidence: f32, nms_iou: f32) -> Detector {
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(path, &mut diags).unwrap_or_else(|| panic!("{diags:?}"));
    assert!(diags.is_empty(), "{:?}", diags.into_sorted());
    let plan = Arc::new(ModelPlan::new(key, manifest, confidence, nms_iou));
    let settings = RuntimeConfig::default();
    let rt = runtime::init(&settings).expect("ONNX Runtime (run scripts/setup)");
    Detector::load(plan, rt, &settings).unwrap()
}

const RGB: &str = "videoconvert ! video/x-raw,format=RGB";

#[test]
fn an_independent_face_detector_finds_no_face_after_redaction() {
    gstreamer::init().unwrap();
    let root = common::root();
    let faces = load_model(&root.join("models/centerface.toml"), "faces", 0.5, 0.3);
    let faces = ModelService::spawn(faces).unwrap();
    let mut redactor = Redactor::new(Some(&faces));
    let mut people = load_model(&common::manifest(), "coco", 0.5, 0.45);
    let person = people.plan().labels().ids_of("person");
    let policy = CameraPrivacyPlan {
        redact: RedactSet::default(),
        labels: RedactLabels {
            persons: person,
            vehicles: Vec::new(),
        },
        masks: Vec::new(),
        keys: Default::default(),
    };

    let mut pictures: Vec<(String, gstreamer::Sample)> = Vec::new();
    for name in ["astronaut.png", "messi5.jpg"] {
        pictures.push((
            name.replace('.', "_"),
            common::samples(&common::media(name), RGB, 1).remove(0),
        ));
    }
    for (i, frame) in common::samples(&common::media("carphone_pristine.mp4"), RGB, 30)
        .into_iter()
        .enumerate()
    {
        pictures.push((format!("carphone_{i}"), frame));
    }
    assert!(pictures.len() >= 5, "the pictures decode");

    let dir = tempfile::tempdir().unwrap();
    let mut meta = Vec::new();
    for (name, sample) in &pictures {
        let picture = Picture::detect(sample.clone(), &mut people).unwrap();
        let redacted = redactor.redact(&picture, &policy).unwrap();
        assert!(
            redacted.covered() >= 1,
            "{name}: CenterFace or a head region covered something"
        );
        let (original, w, h) = common::rgb(sample);
        assert_eq!((redacted.width(), redacted.height()), (w, h));
        std::fs::write(dir.path().join(format!("{name}.orig.rgb")), &original).unwrap();
        std::fs::write(dir.path().join(format!("{name}.redacted.rgb")), redacted.rgb()).unwrap();
        meta.push(serde_json::json!({"name": name, "width": w, "height": h}));
    }
    std::fs::write(dir.path().join("meta.json"), serde_json::to_vec(&meta).unwrap()).unwrap();

    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/privacy/blazeface_check.py"))
        .arg(common::media("blazeface_back_256.onnx"))
        .arg(dir.path())
        .output()
        .expect("the check runs (scripts/setup makes .venv and fetches BlazeFace)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report.len(), pictures.len());
    for image in &report {
        let found = image["faces"].as_array().unwrap();
        let after = image["after"].as_array().unwrap();
        assert!(
            !found.is_empty(),
            "positive control: BlazeFace finds a face in {}",
            image["name"]
        );
        assert!(
            after.is_empty(),
            "a face survived redaction in {}: {after:?}",
            image["name"]
        );
    }
}

#[test]
fn masked_pixels_are_black_before_detection_and_in_the_snapshot() {
    gstreamer::init().unwrap();
    // The left third of vtest.avi, where people walk.
    let mask = vec![[0.0, 0.0], [1.0 / 3.0, 0.0], [1.0 / 3.0, 1.0], [0.0, 1.0]];
    let mut spec = StreamSpec::new(
        "masked",
        SourcePlan::file(common::media("vtest.avi"), false, false),
        300,
        300,
        watchpost::vocab::Resize::Stretch,
        5,
    );
    spec.masks = vec![mask];
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let stream = Arc::new(Stream::new(spec, slot.clone()));
    let cancel = CancellationToken::new();
    let decode = {
        let (stream, cancel) = (stream.clone(), cancel.clone());
        std::thread::spawn(move || stream.run(&cancel))
    };
    let mut checked = 0;
    let mut snapshot = None;
    while let Taken::Frame(frame) = slot.take(Duration::from_secs(30)) {
        let map = frame.buffer.map_readable().unwrap();
        let (w, stride) = (frame.layout.width, frame.layout.stride);
        // Inside the mask (a margin off its edge for scaling): black.
        let mut unmasked_sum = 0u64;
        for y in 0..frame.layout.height {
            let row = &map.as_slice()[y * stride..y * stride + w * 3];
            for x in 0..w / 3 - 3 {
                assert!(
                    row[x * 3..x * 3 + 3].iter().all(|&v| v <= 2),
                    "frame {} ({x}, {y})",
                    frame.number
                );
            }
            unmasked_sum += row[(w / 2) * 3..].iter().map(|&v| v as u64).sum::<u64>();
        }
        assert!(unmasked_sum > 0, "the rest of the picture is still there");
        checked += 1;
        if checked == 20 {
            snapshot = stream.held().picture(frame.pts, 1280);
            break;
        }
    }
    cancel.cancel();
    slot.close();
    decode.join().unwrap().unwrap();
    assert_eq!(checked, 20);
    let (pixels, w, h) = common::rgb(&snapshot.expect("a snapshot of the masked stream"));
    assert_eq!((w, h), (768, 576), "source resolution");
    for y in 0..h {
        for x in 0..w / 3 - 2 {
            let px = &pixels[(y * w + x) * 3..(y * w + x) * 3 + 3];
            assert!(px.iter().all(|&v| v <= 2), "snapshot ({x}, {y}) = {px:?}");
        }
    }
}

#[test]
fn an_incident_goes_out_first_and_its_redacted_snapshot_follows() {
    let broker = common::Broker::start();
    let subscriber = common::Subscriber::connect(broker.port);
    assert!(subscriber.wait_subscribed(common::SOON));
    let dir = tempfile::tempdir().unwrap();
    let base = common::camera_config(broker.port, &common::media("vtest.avi"), false, dir.path());
    let faces = common::root().join("models/centerface.toml");
    let config = base.replace(
        "[[cameras]]",
        &format!(
            "[models.faces]\nmanifest = \"{}\"\n\n[privacy]\nface_model = \"faces\"\n\n[[cameras]]",
            faces.display()
        ),
    ) + "snapshot = true\n";
    let path = dir.path().join("watchpost.toml");
    std::fs::write(&path, config).unwrap();
    assert!(subscriber.run_until_snapshot(&path), "no snapshot arrived");

    let messages = subscriber.messages.lock().unwrap().clone();
    let images = subscriber.images.lock().unwrap().clone();
    for (topic, jpeg) in &images {
        let incident = topic.rsplit('/').next().unwrap();
        let start = messages
            .iter()
            .position(|(t, p)| t.ends_with("/incidents") && p.contains(incident) && p.contains("\"event\":\"start\""));
        let shot = messages.iter().position(|(t, _)| t == topic);
        assert!(
            start.is_some() && start < shot,
            "the incident {incident} went out before its snapshot"
        );
        let picture = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg).expect("a JPEG");
        assert_eq!(picture.width(), 768, "vtest.avi at source size (under the 1280 cap)");
        assert!(jpeg.len() <= 200 * 1024, "within the default cap");
    }
    assert!(topic_prefix_ok(&images[0].0));
}

fn topic_prefix_ok(topic: &str) -> bool {
    topic.starts_with("watchpost/test-site/") && topic.contains("/walkway/snapshots/")
}
