//! One camera with several frames in inference at once: replies from the
//! model's sessions come back in any order, and the camera gets them back in
//! the order its frames were submitted, so tracking and rules see the same
//! stream as with one frame at a time.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watchpost::app::analysis::FrameAnalyzer;
use watchpost::config::Diagnostics;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::infer::preprocess::ImageView;
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelPlan, ModelService, manifest};
use watchpost::plan::CameraPlan;
use watchpost::vocab::{Frame, FrameLayout, Geometry};

fn settings() -> RuntimeConfig {
    RuntimeConfig {
        intra_threads: 1,
        ..RuntimeConfig::default()
    }
}

fn sessions(plan: &Arc<ModelPlan>, n: usize) -> ModelService {
    let rt = runtime::init(&settings()).expect("ONNX Runtime (run scripts/setup)");
    let mut plan = (**plan).clone();
    plan.batch.sessions = n;
    let detectors = Detector::load_sessions(&Arc::new(plan), rt, &settings()).unwrap();
    assert_eq!(detectors.len(), n);
    ModelService::spawn_sessions(detectors).unwrap()
}

/// Every frame of `clip` (up to `most`), scaled for the camera's model by its pipeline.
fn frames(camera: &CameraPlan, clip: &Path, most: usize) -> Vec<Frame> {
    gstreamer::init().unwrap();
    let input = &camera.detect.model.manifest.input;
    let spec = StreamSpec::new(
        "clip",
        camera.source.clone(),
        input.width,
        input.height,
        input.resize,
        camera.detect.keys.fps,
    );
    assert!(clip.is_file());
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let decode = {
        let slot = slot.clone();
        std::thread::spawn(move || Stream::new(spec, slot).run(&CancellationToken::new()))
    };
    let mut out = Vec::new();
    while let Taken::Frame(frame) = slot.take(Duration::from_secs(60)) {
        if out.len() < most {
            out.push(frame);
        }
    }
    decode.join().unwrap().unwrap();
    out
}

fn camera(dir: &Path, clip: &Path) -> CameraPlan {
    let text = common::camera_config(1883, clip, false, dir) + "\n[cameras.motion]\nenabled = false\n";
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    let plan = watchpost::plan::load(&path).unwrap_or_else(|e| panic!("{e}"));
    plan.cameras[0].clone()
}

#[test]
fn a_reply_that_overtakes_an_older_frame_is_held_back_until_that_frame_is_returned() {
    gstreamer::init().unwrap();
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(&common::root().join("models/ssd_mobilenet_v2_coco.toml"), &mut diags).unwrap();
    let plan = Arc::new(ModelPlan::new("coco", manifest, 0.5, 0.45));
    let service = sessions(&plan, 2);
    let mut client = service.client_with_depth(2);
    assert_eq!(client.depth(), 2);

    let dir = tempfile::tempdir().unwrap();
    let cam = camera(dir.path(), &common::media("vtest.avi"));
    let real = frames(&cam, &common::media("vtest.avi"), 1).remove(0);
    // A frame whose buffer is too short: its session answers at once with
    // an error, while the older frame is still being inferred.
    let short = Frame {
        buffer: gstreamer::Buffer::from_slice(vec![0u8; 300]),
        layout: FrameLayout {
            width: 300,
            height: 300,
            stride: 900,
        },
        geometry: Geometry::STRETCH,
        pts: Duration::ZERO,
        number: 1,
        arrived: std::time::Instant::now(),
    };
    let rt = runtime::init(&settings()).unwrap();
    let mut reference = Detector::load(plan.clone(), rt, &settings()).unwrap();
    let expected = {
        let map = real.buffer.map_readable().unwrap();
        let image = ImageView::new(map.as_slice(), &real.layout);
        reference.detect(&image, &real.geometry).unwrap().to_vec()
    };
    assert!(expected.len() >= 3, "vtest.avi's first frame has people in it");

    client.submit(&real).unwrap();
    client.submit(&short).unwrap();
    assert_eq!(client.in_flight(), 2);
    assert!(client.submit(&real).is_err(), "a third frame is beyond the depth");
    let first = client.receive().unwrap().to_vec();
    assert_eq!(first, expected, "the older frame's detections come first");
    let second = client.receive().unwrap_err().to_string();
    assert!(second.contains("buffer holds 300 bytes"), "{second}");
    assert_eq!(client.reordered(), 1, "the short frame's reply arrived first");
    assert_eq!(client.in_flight(), 0);
    assert!(client.receive().is_err(), "nothing left in flight");
}

#[test]
fn cameras_share_a_budget_of_one_frame_more_than_the_sessions() {
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(&common::root().join("models/ssd_mobilenet_v2_coco.toml"), &mut diags).unwrap();
    let service = sessions(&Arc::new(ModelPlan::new("coco", manifest, 0.5, 0.45)), 2);
    let lone = service.camera_client();
    assert_eq!(
        lone.depth(),
        3,
        "a lone camera keeps both sessions busy and one frame waiting"
    );
    let second = service.camera_client();
    assert_eq!((lone.depth(), second.depth()), (2, 2));
    let more: Vec<_> = (0..4).map(|_| service.camera_client()).collect();
    assert!(
        more.iter().chain([&lone, &second]).all(|c| c.depth() == 1),
        "six cameras keep one frame each"
    );
    drop(more);
    drop(second);
    assert_eq!(lone.depth(), 3, "the share grows back as cameras are removed");
    assert_eq!(
        service.client_with_depth(2).depth(),
        2,
        "a fixed-depth client is not counted"
    );
    assert_eq!(lone.depth(), 3);
}

/// (stream time, rule, kind, targets) of every event, and the frames completed.
fn run(camera: &CameraPlan, frames: &[Frame], service: &ModelService, depth: usize) -> (Vec<String>, u64) {
    let mut analyzer = FrameAnalyzer::new(camera, service.client_with_depth(depth));
    let mut events = Vec::new();
    let mut done = Vec::new();
    let mut frames_done = 0;
    let mut next = frames.iter();
    loop {
        while analyzer.can_submit() {
            let Some(frame) = next.next() else { break };
            analyzer.submit(frame.clone()).unwrap();
        }
        let Some(outcome) = analyzer.complete(&mut events) else {
            break;
        };
        assert!(outcome.unwrap().verdict.infer());
        frames_done += 1;
        let tracks: Vec<String> = analyzer
            .tracks()
            .iter()
            .map(|t| format!("{}:{:.4}", t.id, t.bbox.x1))
            .collect();
        done.push(format!("frame {frames_done}: tracks {tracks:?}"));
    }
    analyzer.finish(&mut events);
    for e in &events {
        done.push(format!(
            "{:?} {} {:?} {}",
            e.stream_time,
            e.rule,
            e.kind,
            e.targets.len()
        ));
    }
    (done, frames_done)
}

#[test]
fn sessions_sharing_one_copy_of_the_weights_compute_what_a_session_with_its_own_computes() {
    let rt = runtime::init(&settings()).expect("ONNX Runtime (run scripts/setup)");
    let dir = tempfile::tempdir().unwrap();
    // The INT8 model's convolutions repack their weights per session, so
    // its sessions load the plain way; they must still compute the same.
    for (manifest, clip, sharing) in [
        ("models/ssd_mobilenet_v2_coco.toml", "vtest.avi", true),
        ("models/ssd_mobilenet_v2_coco_int8.toml", "bikes.mp4", false),
    ] {
        let mut diags = Diagnostics::default();
        let manifest = manifest::load(&common::root().join(manifest), &mut diags).unwrap();
        let mut plan = ModelPlan::new("coco", manifest, 0.5, 0.45);
        plan.batch.sessions = 2;
        let plan = Arc::new(plan);
        let mut shared = Detector::load_sessions(&plan, rt, &settings()).unwrap();
        assert!(
            shared.iter().all(|d| d.shares_weights() == sharing),
            "{clip}: the CPU sessions share their weights: {sharing}"
        );
        let mut own = Detector::load(plan.clone(), rt, &settings()).unwrap();
        assert!(!own.shares_weights());

        let cam = camera(dir.path(), &common::media(clip));
        let frames = frames(&cam, &common::media(clip), 40);
        assert_eq!(frames.len(), 40);
        for frame in &frames {
            let map = frame.buffer.map_readable().unwrap();
            let image = ImageView::new(map.as_slice(), &frame.layout);
            own.preprocess(&image).unwrap();
            let expected = own.run_raw().unwrap();
            assert!(
                expected.iter().any(|o| o.data.iter().any(|&v| v > 0.5)),
                "{clip}: something is detected"
            );
            for session in &mut shared {
                session.preprocess(&image).unwrap();
                let got = session.run_raw().unwrap();
                for (g, e) in got.iter().zip(&expected) {
                    assert_eq!((&g.name, &g.shape), (&e.name, &e.shape));
                    assert!(g.data == e.data, "{clip}, frame {}: `{}` differs", frame.number, e.name);
                }
            }
        }
    }
}

#[test]
fn a_camera_with_two_frames_in_flight_tracks_and_alerts_as_with_one() {
    let clip = common::media("vtest.avi");
    let dir = tempfile::tempdir().unwrap();
    let cam = camera(dir.path(), &clip);
    let frames = frames(&cam, &clip, 200);
    assert_eq!(frames.len(), 200);
    let service = sessions(&cam.detect.model, 2);
    let (one, n1) = run(&cam, &frames, &service, 1);
    let (two, n2) = run(&cam, &frames, &service, 2);
    assert_eq!((n1, n2), (200, 200));
    assert!(one.iter().any(|l| l.contains("Start")), "the clip raises incidents");
    assert_eq!(one, two);
}
