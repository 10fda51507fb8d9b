//! Motion gating on real clips through the real pipeline and model: a still
//! scene costs almost no inference, a busy one loses almost none, and no frame
//! that raises an incident without gating is skipped with it.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watchpost::app::analysis::FrameAnalyzer;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelService};

/// (frame number, inferred, events raised) for every frame of a clip.
fn analyse(clip: &Path, gating: bool) -> Vec<(u64, bool, usize)> {
    let dir = tempfile::tempdir().unwrap();
    let text =
        common::camera_config(1883, clip, false, dir.path()) + &format!("\n[cameras.motion]\nenabled = {gating}\n");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, text).unwrap();
    let plan = watchpost::plan::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let camera = &plan.cameras[0];
    gstreamer::init().unwrap();
    let settings = RuntimeConfig::default();
    let rt = runtime::init(&settings).unwrap();
    let detector = Detector::load(camera.detect.model.clone(), rt, &settings).unwrap();
    let service = ModelService::spawn(detector).unwrap();
    let mut analyzer = FrameAnalyzer::new(camera, service.client());
    let input = &camera.detect.model.manifest.input;
    let spec = StreamSpec::new(
        "clip",
        camera.source.clone(),
        input.width,
        input.height,
        input.resize,
        camera.detect.keys.fps,
    );
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let cancel = CancellationToken::new();
    let decode = {
        let slot = slot.clone();
        std::thread::spawn(move || Stream::new(spec, slot).run(&cancel))
    };
    let mut events = Vec::new();
    let mut out = Vec::new();
    while let Taken::Frame(frame) = slot.take(Duration::from_secs(60)) {
        let outcome = analyzer.process(&frame, &mut events).unwrap();
        out.push((frame.number, outcome.verdict.infer(), outcome.events));
    }
    decode.join().unwrap().unwrap();
    out
}

fn inferred_share(frames: &[(u64, bool, usize)]) -> f64 {
    frames.iter().filter(|f| f.1).count() as f64 / frames.len() as f64
}

#[test]
fn a_still_scene_is_inferred_on_at_most_a_tenth_of_its_frames() {
    let frames = analyse(&common::media("static_640x360_10fps.mp4"), true);
    assert!(frames.len() >= 100, "{} frames", frames.len());
    let share = inferred_share(&frames);
    assert!(share <= 0.10, "inferred {:.1}% of a still scene", share * 100.0);
    assert!(share > 0.0, "the periodic refresh never ran");
}

#[test]
fn a_busy_scene_loses_at_most_a_tenth_and_no_incident_frame() {
    let clip = common::media("vtest.avi");
    let gated = analyse(&clip, true);
    let ungated = analyse(&clip, false);
    assert_eq!(gated.len(), ungated.len());
    assert!(ungated.iter().all(|f| f.1), "without gating every frame is inferred");
    let share = inferred_share(&gated);
    assert!(
        share >= 0.90,
        "gating skipped {:.1}% of a busy scene",
        (1.0 - share) * 100.0
    );
    let incident_frames: BTreeSet<u64> = ungated.iter().filter(|f| f.2 > 0).map(|f| f.0).collect();
    assert!(!incident_frames.is_empty(), "the ungated run raised no incident");
    let gated_inferred: BTreeSet<u64> = gated.iter().filter(|f| f.1).map(|f| f.0).collect();
    let missed: Vec<_> = incident_frames.difference(&gated_inferred).collect();
    assert!(
        missed.is_empty(),
        "frames {missed:?} raise incidents ungated but were skipped gated"
    );
}
