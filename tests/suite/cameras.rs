//! Cameras that never stay down, with the real parts: a real RTSP server
//! (gstreamer-rtsp-server, in this process) that is stopped and restarted
//! five times while a second camera, a file, keeps delivering; the H.265
//! clip; corrupt files; a wrong RTSP path. States and counters are asserted,
//! never wall-clock times (time limits are only generous guards).

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::rtsp::{H264, RAW, RtspCamera};
use common::{media, wait_for};
use gstreamer as gst;
use tokio_util::sync::CancellationToken;
use watchpost::decode::probe::probe;
use watchpost::decode::{CameraState, DecoderChoice, Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::source::{SourcePlan, Transport};
use watchpost::vocab::Resize;

fn spec(camera: &str, source: SourcePlan) -> StreamSpec {
    let mut spec = StreamSpec::new(camera, source, 300, 300, Resize::Stretch, 5);
    spec.stall = Duration::from_secs(2);
    spec.retry_initial = Duration::from_millis(200);
    spec.retry_max = Duration::from_secs(1);
    spec
}

/// A running camera: its stream in one thread, and a consumer that keeps
/// every frame time it takes from the slot.
struct Running {
    stream: Arc<Stream>,
    cancel: CancellationToken,
    frames: Arc<Mutex<Vec<Duration>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(spec: StreamSpec, delivery: Delivery) -> Self {
        gstreamer::init().unwrap();
        let slot = Arc::new(FrameSlot::new(delivery));
        let stream = Arc::new(Stream::new(spec, slot.clone()));
        let cancel = CancellationToken::new();
        let frames = Arc::new(Mutex::new(Vec::new()));
        let decode = {
            let (stream, cancel) = (stream.clone(), cancel.clone());
            std::thread::spawn(move || {
                let _ = stream.run(&cancel);
            })
        };
        let consume = {
            let (frames, cancel) = (frames.clone(), cancel.clone());
            std::thread::spawn(move || {
                loop {
                    match slot.take(Duration::from_millis(100)) {
                        Taken::Frame(f) => frames.lock().unwrap().push(f.pts),
                        Taken::Closed => return,
                        Taken::Empty if cancel.is_cancelled() => return,
                        Taken::Empty => {}
                    }
                }
            })
        };
        Self {
            stream,
            cancel,
            frames,
            threads: vec![decode, consume],
        }
    }

    fn count(&self) -> usize {
        self.frames.lock().unwrap().len()
    }

    fn stop(self) -> Vec<Duration> {
        self.cancel.cancel();
        for t in self.threads {
            t.join().unwrap();
        }
        Arc::try_unwrap(self.frames).unwrap().into_inner().unwrap()
    }
}

#[test]
fn an_rtsp_camera_comes_back_after_five_server_restarts_while_a_file_camera_keeps_going() {
    let port = common::free_port();
    let mut server = Some(RtspCamera::start(port));
    let gate = Running::start(
        spec(
            "gate",
            SourcePlan::network(&format!("rtsp://viewer:pw@127.0.0.1:{port}/cam"), Transport::Tcp).unwrap(),
        ),
        Delivery::Latest,
    );
    let lobby = Running::start(
        spec("lobby", SourcePlan::file(media("vtest_640x360_10fps.mp4"), true, true)),
        Delivery::Latest,
    );
    let gate_status = gate.stream.status();
    let state = || gate_status.state();

    // The state history of the RTSP camera, sampled often enough to see backoff (≥ 200 ms).
    let history = Arc::new(Mutex::new(vec![state()]));
    let sampler_stop = CancellationToken::new();
    let sampler = {
        let (history, status, stop) = (history.clone(), gate.stream.status(), sampler_stop.clone());
        std::thread::spawn(move || {
            while !stop.is_cancelled() {
                // read under the lock, so a state the test itself records
                // below is never followed by an older one
                let mut h = history.lock().unwrap();
                let now = status.state();
                if h.last() != Some(&now) {
                    h.push(now);
                }
                drop(h);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };

    assert!(
        wait_for(common::SOON, || state() == CameraState::Streaming),
        "never streamed"
    );
    // Streaming may last less than a sampling period on a busy machine
    // before the next stop: keep what the test saw.
    let saw_streaming = || {
        let mut h = history.lock().unwrap();
        if h.last() != Some(&CameraState::Streaming) {
            h.push(CameraState::Streaming);
        }
    };
    saw_streaming();
    let mut lobby_windows = Vec::new();
    for cycle in 1..=5 {
        let before = lobby.count();
        server.take().unwrap().stop();
        assert!(
            wait_for(common::SOON, || state() == CameraState::Backoff),
            "cycle {cycle}: the lost camera was not noticed"
        );
        std::thread::sleep(Duration::from_millis(500));
        server = Some(RtspCamera::start(port));
        let frames_before = gate.count();
        assert!(
            wait_for(common::GUARD, || state() == CameraState::Streaming
                && gate.count() > frames_before),
            "cycle {cycle}: the camera did not come back"
        );
        saw_streaming();
        lobby_windows.push(lobby.count() - before);
    }
    sampler_stop.cancel();
    sampler.join().unwrap();

    // The sampler may stop between two samples: record the state it last missed.
    let mut history = history.lock().unwrap().clone();
    if history.last() != Some(&state()) {
        history.push(state());
    }
    let outages = history
        .windows(2)
        .filter(|w| w[0] == CameraState::Streaming && w[1] == CameraState::Backoff)
        .count();
    assert!(
        outages >= 5,
        "expected 5 streaming → backoff transitions, saw {history:?}"
    );
    assert_eq!(history.last(), Some(&CameraState::Streaming));
    assert!(gate_status.reconnects.load(Ordering::Relaxed) >= 5);

    // The file camera delivered in every window, and its frame times have no hole.
    assert!(
        lobby_windows.iter().all(|&n| n > 0),
        "the file camera stalled in a window: {lobby_windows:?}"
    );
    server.take().unwrap().stop();
    gate.stop();
    let lobby_times = lobby.stop();
    let worst_gap = lobby_times.windows(2).map(|w| w[1].saturating_sub(w[0])).max().unwrap();
    assert!(
        worst_gap < Duration::from_secs(1),
        "the file camera's frame times have a {worst_gap:?} hole"
    );
}

#[test]
fn the_h265_clip_decodes() {
    let report = probe(
        &SourcePlan::file(media("vtest_h265.mkv"), false, false),
        &DecoderChoice::Auto,
        common::SOON,
    )
    .unwrap();
    assert!(report.codec.starts_with("video/x-h265"), "{}", report.codec);
    assert_eq!((report.width, report.height), (640, 360));
    let run = Running::start(
        spec("h265", SourcePlan::file(media("vtest_h265.mkv"), false, false)),
        Delivery::Every,
    );
    assert!(wait_for(common::GUARD, || run.stream.status().state() == CameraState::Stopped));
    let frames = run.stop();
    // 79.5 s of video at detect 5 fps
    assert!(frames.len() > 350, "only {} frames", frames.len());
}

#[test]
fn corrupt_files_never_panic_the_camera_recovers_or_fails_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(media("vtest_640x360_10fps.mp4")).unwrap();
    let truncated = dir.path().join("truncated.mp4");
    std::fs::write(&truncated, &original[..original.len() * 2 / 5]).unwrap();
    let mut damaged = std::fs::read(media("vtest.avi")).unwrap();
    let middle = damaged.len() / 2;
    for (i, b) in damaged[middle..middle + 200_000].iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 7) as u8;
    }
    let garbage = dir.path().join("garbage.avi");
    std::fs::write(&garbage, &damaged).unwrap();

    for path in [truncated, garbage] {
        let run = Running::start(
            spec("damaged", SourcePlan::file(path.clone(), false, false)),
            Delivery::Every,
        );
        let status = run.stream.status();
        let settled = wait_for(common::GUARD, || {
            matches!(status.state(), CameraState::Stopped | CameraState::Failed)
        });
        assert!(settled, "{}: the camera neither finished nor failed", path.display());
        let state = status.state();
        let frames = run.stop();
        match state {
            CameraState::Failed => {
                let reason = status.failure.lock().unwrap().clone().unwrap_or_default();
                assert!(
                    reason.contains("camera `damaged`"),
                    "{}: unclear reason {reason:?}",
                    path.display()
                );
            }
            _ => assert!(
                !frames.is_empty(),
                "{}: recovered but delivered nothing",
                path.display()
            ),
        }
    }
}

#[test]
fn a_wrong_rtsp_path_names_the_uri_with_the_password_masked() {
    let port = common::free_port();
    let server = RtspCamera::start(port);
    let url = format!("rtsp://admin:hunter2@127.0.0.1:{port}/no-such-stream");
    let err = probe(
        &SourcePlan::network(&url, Transport::Tcp).unwrap(),
        &DecoderChoice::Auto,
        common::SOON,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("rtsp://admin:***@127.0.0.1:{port}/no-such-stream")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");

    let slot = Arc::new(FrameSlot::new(Delivery::Latest));
    let stream = Stream::new(spec("gate", SourcePlan::network(&url, Transport::Tcp).unwrap()), slot);
    let err = stream.run_once(&CancellationToken::new()).unwrap_err().to_string();
    assert!(
        err.contains("camera `gate`") && err.contains("rtsp://admin:***@"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    server.stop();
}

#[test]
fn pictures_of_analysed_frames_keep_the_source_size_capped_at_the_maximum_width() {
    let run = Running::start(
        spec("wide", SourcePlan::file(media("vtest_1280x720_25fps.mp4"), true, true)),
        Delivery::Latest,
    );
    assert!(wait_for(common::SOON, || run.count() > 2));
    // a picture of a frame the detect branch delivered, by its stream time
    let picture = |width| {
        let mut shot = None;
        wait_for(common::SOON, || {
            let last = *run.frames.lock().unwrap().last().unwrap();
            shot = run.stream.held().picture(last, width);
            shot.is_some()
        });
        shot
    };
    let shot = picture(640).expect("a picture");
    let info = gstreamer_video::VideoInfo::from_caps(shot.caps().unwrap()).unwrap();
    assert_eq!(
        (info.width(), info.height(), info.format()),
        (640, 360, gstreamer_video::VideoFormat::Rgb)
    );
    let full = picture(1920).expect("a picture");
    let info = gstreamer_video::VideoInfo::from_caps(full.caps().unwrap()).unwrap();
    assert_eq!((info.width(), info.height()), (1280, 720));
    run.stop();
}

#[test]
fn probe_names_wrong_credentials_and_an_unsupported_codec() {
    let port = common::free_port();
    let server = RtspCamera::serve(port, H264, Some(("viewer", "right-pw")));
    let url = |login: &str| format!("rtsp://{login}@127.0.0.1:{port}/cam");
    let ok = probe(
        &SourcePlan::network(&url("viewer:right-pw"), Transport::Tcp).unwrap(),
        &DecoderChoice::Auto,
        common::SOON,
    );
    let ok = ok.unwrap();
    assert_eq!((ok.width, ok.height), (320, 240));
    assert!(ok.codec.starts_with("video/x-h264"), "{}", ok.codec);
    let err = probe(
        &SourcePlan::network(&url("viewer:wrong-pw"), Transport::Tcp).unwrap(),
        &DecoderChoice::Auto,
        common::SOON,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(err.contains("viewer:***@") && !err.contains("wrong-pw"), "{err}");
    server.stop();

    let port = common::free_port();
    let server = RtspCamera::serve(port, RAW, None);
    let err = probe(
        &SourcePlan::network(&format!("rtsp://127.0.0.1:{port}/cam"), Transport::Tcp).unwrap(),
        &DecoderChoice::Auto,
        common::SOON,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unsupported RTP video encoding RAW"), "{err}");
    server.stop();
}

#[test]
fn an_http_mjpeg_camera_streams_through_rate_control_and_reconnects() {
    // MJPEG over HTTP carries no frame times: GStreamer 1.22's videorate
    // aborted the whole process on the first such frame.
    gst::init().unwrap();
    let port = common::free_port();
    common::serve_mjpeg_clients(port, 2, 20, 320, 240);
    let gate = Running::start(
        spec(
            "gate",
            SourcePlan::network(&format!("http://127.0.0.1:{port}/video.mjpg"), Transport::Tcp).unwrap(),
        ),
        Delivery::Every,
    );
    let status = gate.stream.status();
    let decoded = || status.decoded.load(std::sync::atomic::Ordering::Relaxed);
    // At most 20 frames a connection: more than 20 is a reconnect that streamed.
    assert!(wait_for(common::GUARD, || decoded() > 20), "decoded {}", decoded());
    assert!(status.reconnects.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert!(wait_for(common::SOON, || gate.count() >= 8), "{} frames", gate.count());
    let times = gate.stop();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
}

#[test]
fn an_http_mjpeg_camera_decodes() {
    let port = common::free_port();
    common::serve_mjpeg(port, 100, 320, 240);
    let report = probe(
        &SourcePlan::network(&format!("http://127.0.0.1:{port}/video.mjpg"), Transport::Tcp).unwrap(),
        &DecoderChoice::Auto,
        common::SOON,
    )
    .unwrap();
    assert!(report.codec.starts_with("image/jpeg"), "{}", report.codec);
    assert_eq!((report.width, report.height), (320, 240));
}
