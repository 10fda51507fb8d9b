//! Decode cost per camera: CPU-milliseconds per second of stream for the
//! derived clips, through the camera's real pipeline (parse, software decode,
//! rate limit to 5 fps, scale and convert to the 300×300 model input), with
//! frames taken as fast as they come. CPU time is the process's user+system
//! time (/proc/self/stat) over the run; stream time is the clip's length.
//! Three runs per clip; the median goes to docs/benchmarks.md.
//! Run with `cargo bench --bench decode`.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec, Taken};
use watchpost::source::SourcePlan;
use watchpost::vocab::Resize;

use support::cpu_time;

/// Returns (frames delivered to the detector, last frame time).
fn decode_once(clip: &Path) -> (u64, Duration) {
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let spec = StreamSpec::new(
        "bench",
        SourcePlan::file(clip.to_path_buf(), false, false),
        300,
        300,
        Resize::Stretch,
        5,
    );
    let stream = Stream::new(spec, slot.clone());
    let cancel = CancellationToken::new();
    let decode = std::thread::spawn(move || stream.run(&cancel));
    let (mut frames, mut last) = (0, Duration::ZERO);
    while let Taken::Frame(f) = slot.take(Duration::from_secs(30)) {
        frames += 1;
        last = f.pts;
    }
    decode.join().unwrap().unwrap();
    (frames, last)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    gstreamer::init().unwrap();
    for (clip, label) in [
        ("vtest_640x360_10fps.mp4", "H.264 640x360 @ 10 fps"),
        ("vtest_1280x720_25fps.mp4", "H.264 1280x720 @ 25 fps"),
    ] {
        let path = support::media(clip);
        let mut per_sec = Vec::new();
        for run in 1..=3 {
            let before = cpu_time();
            let (frames, length) = decode_once(&path);
            let cpu = cpu_time() - before;
            let ms = cpu.as_secs_f64() * 1e3 / length.as_secs_f64();
            println!(
                "{label}, run {run}: {frames} frames to the detector, {:.1} s of stream, {:.0} CPU-ms, {ms:.1} CPU-ms per stream second",
                length.as_secs_f64(),
                cpu.as_secs_f64() * 1e3
            );
            per_sec.push(ms);
        }
        per_sec.sort_by(f64::total_cmp);
        println!("{label}: median {:.1} CPU-ms per second of stream", per_sec[1]);
    }
}
