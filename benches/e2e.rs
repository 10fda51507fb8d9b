//! End to end on one camera, against the limits the same run measures.
//!
//! `throughput` (default): vtest.avi (795 frames at 10 fps) as fast as
//! possible through a real camera — GStreamer decode and scale, the model's
//! inference service, tracker, rules, the outbox and a real Mosquitto — with
//! motion gating off and every frame inferred. In the same run, three
//! references: the decode-only CPU per frame (the same pipeline, frames
//! dropped), the detect CPU per frame (preprocess + inference + decode + NMS
//! on decoded frames, the same threads), and bare `session.run` throughput.
//! The compute limit is the cores divided by decode + detect CPU per frame.
//!
//! `gating`: the static clip and vtest.avi at detect 5 fps, with motion
//! gating off and on, as fast as possible; inferences saved per second of
//! stream.
//!
//! Run with `cargo bench --bench e2e [-- throughput|gating]`. Three runs of
//! each; the medians go to docs/benchmarks.md.

mod support;

use std::time::{Duration, Instant};

use support::one_camera::{config, decode_alone, detect_frame, run_camera};
use support::{Broker, cpu_time, median};
use watchpost::decode::StreamSpec;
use watchpost::infer::Detector;
use watchpost::infer::runtime;
use watchpost::plan::Plan;

const RUNS: usize = 3;

/// The cores; the camera runs with the product's defaults (one single-threaded
/// session per core), the references on one thread.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Decode CPU per frame: the camera's pipeline alone, frames dropped. Keeps
/// the first `keep` frames for the detect reference.
fn decode_only(plan: &Plan, keep: usize) -> (Duration, Vec<watchpost::vocab::Frame>) {
    let camera = &plan.cameras[0];
    let input = &camera.detect.model.manifest.input;
    let spec = StreamSpec::new(
        "bench",
        camera.source.clone(),
        input.width,
        input.height,
        input.resize,
        camera.detect.keys.fps,
    );
    let run = decode_alone(spec, keep);
    (run.cpu / run.delivered.max(1), run.kept)
}

/// Detect CPU and wall time per frame on decoded frames, and bare
/// `session.run` wall time, with the camera's model and threads.
fn detect_only(plan: &Plan, frames: &[watchpost::vocab::Frame]) -> (Duration, Duration, Duration) {
    const ROUNDS: u32 = 200;
    let rt = runtime::init(&plan.runtime).unwrap();
    let model = plan.cameras[0].detect.model.clone();
    let mut detector = Detector::load(model, rt, &plan.runtime).unwrap();
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    for i in 0..ROUNDS as usize {
        detect_frame(&mut detector, &frames[i % frames.len()]);
    }
    let (detect_wall, detect_cpu) = (wall0.elapsed() / ROUNDS, (cpu_time() - cpu0) / ROUNDS);
    let wall0 = Instant::now();
    for _ in 0..ROUNDS {
        detector.run_bare().unwrap();
    }
    (detect_cpu, detect_wall, wall0.elapsed() / ROUNDS)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn throughput(broker: &Broker) {
    let cores = threads() as f64;
    println!("throughput: vtest.avi, every frame, gating off, {cores} single-threaded sessions, {cores} cores");
    println!(
        "| run | e2e fps | decode CPU ms/frame | detect CPU ms/frame | limit fps | e2e/limit | bare session.run fps | e2e/bare |"
    );
    let (mut efficiency, mut vs_bare, mut fps_all, mut limits, mut bares) = (vec![], vec![], vec![], vec![], vec![]);
    for run in 1..=RUNS {
        let dir = tempfile::tempdir().unwrap();
        let plan = config(dir.path(), broker.port, &support::media("vtest.avi"), 10, false);
        let e2e = run_camera(&plan);
        assert_eq!(e2e.skipped, 0, "gating is off");
        let fps = e2e.inferred as f64 / e2e.wall.as_secs_f64();
        let (decode_cpu, frames) = decode_only(&plan, 40);
        let (detect_cpu, _detect_wall, bare) = detect_only(&plan, &frames);
        let limit = cores / (decode_cpu + detect_cpu).as_secs_f64();
        let bare_fps = 1.0 / bare.as_secs_f64();
        println!(
            "| {run} | {fps:.1} | {:.2} | {:.1} | {limit:.1} | {:.1}% | {bare_fps:.1} | {:.2} |",
            ms(decode_cpu),
            ms(detect_cpu),
            100.0 * fps / limit,
            fps / bare_fps
        );
        eprintln!(
            "  run {run}: {} frames inferred in {:.1} s, {:.1} CPU-s ({:.0}% of the cores), {} incident events",
            e2e.inferred,
            e2e.wall.as_secs_f64(),
            e2e.cpu.as_secs_f64(),
            100.0 * e2e.cpu.as_secs_f64() / e2e.wall.as_secs_f64() / cores,
            e2e.events
        );
        efficiency.push(fps / limit);
        vs_bare.push(fps / bare_fps);
        fps_all.push(fps);
        limits.push(limit);
        bares.push(bare_fps);
    }
    println!(
        "median: e2e {:.1} fps, limit {:.1} fps, e2e/limit {:.1}%, bare {:.1} fps, e2e/bare {:.2}",
        median(fps_all),
        median(limits),
        100.0 * median(efficiency),
        median(bares),
        median(vs_bare)
    );
}

fn gating(broker: &Broker) {
    println!(
        "gating: detect at 5 fps, as fast as possible, {} single-threaded sessions",
        threads()
    );
    println!("| clip | gating | frames | inferred | skipped | inferences saved per stream second |");
    for clip in ["static_640x360_10fps.mp4", "vtest.avi"] {
        let mut inferred_off = 0;
        for gate in [false, true] {
            let mut runs = Vec::new();
            for _ in 0..RUNS {
                let dir = tempfile::tempdir().unwrap();
                let plan = config(dir.path(), broker.port, &support::media(clip), 5, gate);
                runs.push(run_camera(&plan));
            }
            runs.sort_by_key(|r| r.inferred);
            let r = &runs[RUNS / 2];
            if !gate {
                inferred_off = r.inferred;
            }
            let seconds = r.frames as f64 / 5.0;
            let saved = inferred_off.saturating_sub(r.inferred) as f64 / seconds;
            println!(
                "| {clip} | {} | {} | {} | {} | {saved:.2} of 5 |",
                if gate { "on" } else { "off" },
                r.frames,
                r.inferred,
                r.skipped
            );
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    gstreamer::init().unwrap();
    let broker = Broker::start();
    let wants = |name: &str| args.iter().any(|a| a == name);
    let all = !wants("throughput") && !wants("gating");
    if all || wants("throughput") {
        throughput(&broker);
    }
    if all || wants("gating") {
        gating(&broker);
    }
}
