//! `cameras`: the largest number of live cameras the box keeps up with,
//! gating off and on, against the compute limit measured in the same run.
//!
//! One inference on an idle core drifts by up to a third between
//! measurements on the same machine (the CPU's clock under other load), so
//! the limit takes the inference cost over the whole run: measured alone
//! before every gating-off trial, the median of those. Each trial also
//! reports what an analysed frame really cost in it (the process's CPU less
//! the decoding, per inferred frame), the cost the cores pay with both
//! sessions, the decoders and the rules sharing them.

use super::*;

/// What one trial with N cameras found.
pub(crate) struct Trial {
    decode_drops: u64,
    replaced: u64,
    delivered: u64,
    inferred: u64,
    skipped: u64,
    p99_age: f64,
    cpu_share: f64,
    /// Share of the cores other processes used meanwhile.
    others_share: f64,
    /// CPU-ms the process used in the window, the window's length, and the cameras.
    cpu_ms: f64,
    secs: f64,
    cameras: usize,
}

impl Trial {
    /// CPU-ms per analysed frame in this trial: the process's CPU less
    /// `decode_ms` per camera per stream second, per inferred frame.
    fn frame_ms(&self, decode_ms: f64) -> Option<f64> {
        (self.inferred > 0).then(|| (self.cpu_ms - decode_ms * self.cameras as f64 * self.secs) / self.inferred as f64)
    }

    fn keeps_up(&self) -> bool {
        self.decode_drops == 0
            && self.p99_age < MAX_AGE
            && (self.replaced as f64) <= MAX_REPLACED * self.delivered.max(1) as f64
    }
}

/// Runs `cameras` cameras for WARM_UP + MEASURE and checks that they kept up.
///
/// Decode drops: per camera, frames the decoder fell behind the camera's own
/// rate (10 per second of the window) plus frames detect was handed fewer
/// than its 5 per second, each with one frame of slack for where the window
/// edges fall.
pub(crate) fn trial(broker: &Broker, clip: &str, cameras: usize, gating: bool, threads: Threads) -> Trial {
    let rig = Rig::new(
        broker.port,
        &Setup {
            clip,
            cameras,
            gating,
            busy_rules: false,
            threads,
        },
    );
    let mut fleet = Fleet::new();
    fleet.grow(&rig, cameras);
    std::thread::sleep(WARM_UP);
    let a = fleet.counters();
    std::thread::sleep(MEASURE);
    let b = fleet.counters();
    fleet.stop();
    rig.shutdown();
    let secs = b.at.unwrap().duration_since(a.at.unwrap()).as_secs_f64();
    let decode_drops = a
        .per_camera
        .iter()
        .zip(&b.per_camera)
        .map(|(&(d0, h0), &(d1, h1))| {
            let behind = (SOURCE_FPS * secs - (d1 - d0) as f64 - 1.0).max(0.0).floor() as u64;
            let short = (DETECT_FPS as f64 * secs - (h1 - h0) as f64 - 1.0).max(0.0).floor() as u64;
            behind + short
        })
        .sum();
    let t = Trial {
        decode_drops,
        replaced: b.replaced - a.replaced,
        delivered: b.delivered - a.delivered,
        inferred: b.inferred - a.inferred,
        skipped: b.skipped - a.skipped,
        p99_age: age_quantile(&a.ages, &b.ages, 0.99),
        cpu_share: (b.cpu - a.cpu).as_secs_f64() / secs / cores() as f64,
        others_share: 0.0,
        cpu_ms: (b.cpu - a.cpu).as_secs_f64() * 1e3,
        secs,
        cameras,
    };
    let machine = (b.machine.0 - a.machine.0) as f64 / (b.machine.1 - a.machine.1).max(1) as f64;
    let t = Trial {
        others_share: (machine - t.cpu_share).max(0.0),
        ..t
    };
    eprintln!(
        "  {clip}, gating {}, {cameras} cameras: decode drops {}, detect handed {} frames, replaced {}, inferred {}, \
         skipped {}, p99 frame age {:.2} s, CPU {:.0}% of the cores (other processes {:.0}%) → {}",
        if gating { "on" } else { "off" },
        t.decode_drops,
        t.delivered,
        t.replaced,
        t.inferred,
        t.skipped,
        t.p99_age,
        100.0 * t.cpu_share,
        100.0 * t.others_share,
        if t.keeps_up() { "keeps up" } else { "falls behind" }
    );
    t
}

/// The largest N that keeps up, searching up from `start` (which is tried
/// first) and bisecting once a trial falls behind. At most `budget` trials,
/// each after `before` (a measurement to spread over the run); also returns
/// the smallest N seen falling behind, and the trial of the largest N.
pub(crate) fn largest(
    broker: &Broker,
    clip: &str,
    gating: bool,
    threads: Threads,
    start: usize,
    budget: usize,
    before: &mut dyn FnMut(),
) -> (usize, Option<usize>, Option<Trial>) {
    let mut trials = 0;
    let mut best = None;
    let (mut good, mut bad): (usize, Option<usize>) = (0, None);
    let mut n = start.max(1);
    while trials < budget {
        before();
        let t = trial(broker, clip, n, gating, threads);
        let ok = t.keeps_up();
        trials += 1;
        if ok && n > good {
            best = Some(t);
        }
        if ok {
            good = good.max(n);
        } else {
            bad = Some(bad.map_or(n, |b| b.min(n)));
        }
        n = match bad {
            None => (n * 3).div_ceil(2).max(n + 1),
            Some(b) if b <= good + 1 => break,
            Some(b) if good == 0 => (b / 2).max(1),
            Some(b) => (good + b) / 2,
        };
        if good == 0 && n == 1 && bad == Some(1) {
            break;
        }
    }
    (good, bad, best)
}

/// Decode CPU-ms per second of stream: the camera pipeline alone, as fast as
/// it goes, frames dropped after scaling. Keeps `keep` frames for inference.
pub(crate) fn decode_cost(plan: &Plan, clip: &str, keep: usize) -> (f64, Vec<watchpost::vocab::Frame>) {
    let camera = &plan.cameras[0];
    let input = &camera.detect.model.manifest.input;
    let source = watchpost::source::SourcePlan::file(support::media(clip), false, false);
    let spec = StreamSpec::new("decode", source, input.width, input.height, input.resize, DETECT_FPS);
    let run = support::one_camera::decode_alone(spec, keep);
    let stream_secs = run.decoded as f64 / SOURCE_FPS;
    (run.cpu.as_secs_f64() * 1e3 / stream_secs, run.kept)
}

/// CPU-ms of one inference (preprocess + run + decode + NMS) on one thread.
pub(crate) fn inference_cost(plan: &Plan, frames: &[watchpost::vocab::Frame]) -> f64 {
    const ROUNDS: usize = 100;
    let mut settings = plan.runtime.clone();
    settings.intra_threads = 1;
    let rt = runtime::init(&settings).unwrap();
    let mut detector = Detector::load(plan.cameras[0].detect.model.clone(), rt, &settings).unwrap();
    let mut run = |frame: &watchpost::vocab::Frame| support::one_camera::detect_frame(&mut detector, frame);
    run(&frames[0]);
    let cpu0 = cpu_time();
    for i in 0..ROUNDS {
        run(&frames[i % frames.len()]);
    }
    (cpu_time() - cpu0).as_secs_f64() * 1e3 / ROUNDS as f64
}

pub(crate) fn cameras(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    let threads = many_cameras();
    println!("cameras: 640×360 H.264 @ 10 fps played in real time, detect {DETECT_FPS} fps, {threads}");
    println!(
        "| run | decode CPU-ms/s | inference CPU-ms alone, first / median over the run (range) | limit N (median) | \
         N gating off | off/limit | CPU-ms per analysed frame at N | limit at that cost | \
         cores left by other processes at N | limit on those | off/that | N gating on (static) | on/off |"
    );
    let (mut offs, mut ons, mut limits, mut ratios, mut gains) = (vec![], vec![], vec![], vec![], vec![]);
    for run in 1..=runs {
        let dir = tempfile::tempdir().unwrap();
        let plan = config(
            dir.path(),
            broker.port,
            &Setup {
                clip: LIVE_CLIP,
                cameras: 1,
                gating: false,
                busy_rules: false,
                threads,
            },
        );
        let (decode_ms, frames) = decode_cost(&plan, LIVE_CLIP, 40);
        let limit_at = |infer_ms: f64| cores() as f64 * 1000.0 / (decode_ms + DETECT_FPS as f64 * infer_ms);
        let first_ms = inference_cost(&plan, &frames);
        let start = ((0.85 * limit_at(first_ms)).floor() as usize).max(1);
        // the inference cost alone, again before every gating-off trial
        let mut costs = vec![first_ms];
        let mut measure = || costs.push(inference_cost(&plan, &frames));
        let (off, _, best) = largest(broker, LIVE_CLIP, false, threads, start, 5, &mut measure);
        let (low, high) = costs.iter().fold((f64::MAX, 0f64), |(l, h), &c| (l.min(c), h.max(c)));
        let infer_ms = median(costs);
        let limit = limit_at(infer_ms);
        let frame_ms = best.as_ref().and_then(|t| t.frame_ms(decode_ms));
        // what the cores other processes left could carry, in the same trial
        let left = best.as_ref().map_or(1.0, |t| 1.0 - t.others_share);
        let (on, on_bad, _) = largest(broker, STATIC_CLIP, true, threads, (3 * off).max(1), 5, &mut || {});
        if on_bad.is_some_and(|b| b > on + 1) {
            eprintln!(
                "  gating on: at least {on}; the search ran out of trials below {}",
                on_bad.unwrap()
            );
        }
        let (frame, frame_limit) = frame_ms.map_or(("—".into(), "—".into()), |ms| {
            (format!("{ms:.1}"), format!("{:.1}", limit_at(ms)))
        });
        println!(
            "| {run} | {decode_ms:.1} | {first_ms:.1} / {infer_ms:.1} ({low:.1}–{high:.1}) | {limit:.1} | {off} | {:.0}% | \
             {frame} | {frame_limit} | {:.0}% | {:.1} | {:.0}% | {on} | {:.1}× |",
            100.0 * off as f64 / limit,
            100.0 * left,
            limit * left,
            100.0 * off as f64 / (limit * left),
            on as f64 / off.max(1) as f64
        );
        offs.push(off as f64);
        ons.push(on as f64);
        limits.push(limit);
        ratios.push(off as f64 / limit);
        gains.push(on as f64 / off.max(1) as f64);
    }
    let (off, on, limit, ratio, gain) = (median(offs), median(ons), median(limits), median(ratios), median(gains));
    println!(
        "median of {runs}: N off {off}, limit {limit:.1}, {:.0}%, N on {on}, {gain:.1}×",
        100.0 * ratio
    );
    summary.push(Row {
        item: "cameras per box, gating off".into(),
        result: format!("{off} (limit {limit:.1}: {:.0}%)", 100.0 * ratio),
        target: "≥ 85% of the limit".into(),
        met: Some(ratio >= 0.85),
    });
    summary.push(Row {
        item: "cameras per box, gating on, static scene".into(),
        result: format!("{on} ({gain:.1}× gating off)"),
        target: "≥ 3× gating off".into(),
        met: Some(gain >= 3.0),
    });
}
