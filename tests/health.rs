//! Camera health on real video: the tamper clips that `scripts/setup`
//! derives from vtest.avi with GStreamer (a black overlay growing over the
//! picture, a gaussian blur ramp, a shifted crop, brightness turned down, a
//! frozen frame) each raise their condition within 5 s of stream time of
//! the tamper (at 7 s) and end once the picture is back; the plain clips
//! raise nothing. Frames come from the camera's own pipeline (decode and its
//! grayscale motion branch, at 5 fps), as on a live camera.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::plan::{self, CameraPlan};
use watchpost::rules::blobs::GrayFrame;
use watchpost::rules::{EventKind, IncidentEvent, RuleEngine};
use watchpost::source::SourcePlan;
use gstreamer as gst;

const CONFIG: &str = "tests/replay/health.toml";

fn camera() -> CameraPlan {
    let plan = plan::load(&common::root().join(CONFIG)).expect("a valid config");
    plan.cameras[0].clone()
}

/// One event: kind, labels, stream seconds.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    kind: EventKind,
    labels: Vec<String>,
    secs: f64,
}

/// Runs `clip` through `camera`'s pipeline and health watch; every event raised.
fn watch(camera: &CameraPlan, clip: &str) -> Vec<Seen> {
    gst::init().unwrap();
    let spec = StreamSpec {
        source: SourcePlan::file(common::media(clip), false, false),
        ..camera.stream_spec()
    };
    assert!(spec.gray.is_some(), "health asks for the motion branch");
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let gray = Arc::new(FrameSlot::new(Delivery::Every));
    let decode = {
        let (slot, gray) = (slot.clone(), gray.clone());
        std::thread::spawn(move || {
            let cancel = tokio_util::sync::CancellationToken::new();
            Stream::new(spec, slot).with_gray_slot(gray).run(&cancel)
        })
    };
    let drain = {
        let slot = slot.clone();
        std::thread::spawn(move || while !matches!(slot.take(Duration::from_millis(100)), Taken::Closed) {})
    };
    let labels = camera.detect.model.manifest.labels.clone();
    let mut engine = RuleEngine::new(&[], labels).with_health(camera.health.as_ref());
    let mut events: Vec<IncidentEvent> = Vec::new();
    let mut last = Duration::ZERO;
    loop {
        match gray.take(Duration::from_millis(200)) {
            Taken::Frame(frame) => {
                let map = frame.buffer.map_readable().unwrap();
                let g = GrayFrame {
                    width: frame.layout.width as u32,
                    height: frame.layout.height as u32,
                    stride: frame.layout.stride,
                    data: map.as_slice(),
                    pts: frame.pts,
                };
                last = frame.pts;
                engine.step_motion(&g, SystemTime::now(), &mut events);
            }
            Taken::Closed => break,
            Taken::Empty if decode.is_finished() => break,
            Taken::Empty => {}
        }
    }
    engine.finish(last, SystemTime::now(), &mut events);
    slot.close();
    decode.join().unwrap().expect("the clip decodes");
    drain.join().unwrap();
    events
        .iter()
        .map(|e| Seen {
            kind: e.kind,
            labels: e.targets.iter().map(|t| t.label.to_string()).collect(),
            secs: e.stream_time.as_secs_f64(),
        })
        .collect()
}

/// When the tamper starts in every tamper clip, in stream seconds.
const TAMPER_AT: f64 = 7.0;
/// When the picture is back.
const BACK_AT: f64 = 15.0;
const FROZEN_BACK_AT: f64 = 13.0;

/// The clip raises exactly one incident, of `label` (the other labels are
/// notes), starting within 5 s of the tamper and ending after the picture
/// is back, within `end_after_secs` and a little more.
fn raises(clip: &str, label: &str, back_at: f64) -> Vec<Seen> {
    let seen = watch(&camera(), clip);
    let kinds: Vec<EventKind> = seen.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [EventKind::Start, EventKind::End], "{clip}: {seen:#?}");
    let (start, end) = (&seen[0], &seen[1]);
    assert_eq!(start.labels[0], label, "{clip}: {seen:#?}");
    assert!(
        start.secs > TAMPER_AT && start.secs <= TAMPER_AT + 5.0,
        "{clip}: {label} raised at {:.1} s, the tamper starts at {TAMPER_AT} s",
        start.secs
    );
    assert!(
        end.secs > back_at && end.secs <= back_at + 4.0,
        "{clip}: {label} ended at {:.1} s, the picture is back at {back_at} s",
        end.secs
    );
    seen
}

#[test]
fn a_black_overlay_growing_over_the_picture_is_covered() {
    raises("health_covered_640x360_10fps.mp4", "covered", BACK_AT);
}

#[test]
fn a_gaussian_blur_ramp_is_blurred() {
    raises("health_blurred_640x360_10fps.mp4", "blurred", BACK_AT);
}

#[test]
fn a_shifted_view_is_moved_and_says_the_zones_may_not_fit() {
    let seen = raises("health_moved_640x360_10fps.mp4", "moved", BACK_AT);
    assert_eq!(seen[0].labels, ["moved", "zones_may_not_fit"]);
}

#[test]
fn brightness_turned_down_is_too_dark() {
    raises("health_dark_640x360_10fps.mp4", "too_dark", BACK_AT);
}

#[test]
fn a_frozen_frame_is_frozen() {
    raises("health_frozen_640x360_10fps.mp4", "frozen", FROZEN_BACK_AT);
}

#[test]
fn the_plain_clips_raise_nothing() {
    let camera = camera();
    for clip in [
        "vtest_640x360_10fps.mp4",
        "bikes.mp4",
        "throw_parabola_640x360_25fps.mp4",
        "throw_sideways_640x360_25fps.mp4",
        "static_640x360_10fps.mp4",
        "health_night_640x360_10fps.mp4",
    ] {
        let seen = watch(&camera, clip);
        assert!(seen.is_empty(), "{clip} raised {seen:#?}");
    }
}
