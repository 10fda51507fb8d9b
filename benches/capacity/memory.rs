//! `memory`: resident memory with no camera, then with 1, 8 and 24 cameras,
//! each measured in a fresh process.

use super::*;

/// Resident and peak memory of this process, MB, from /proc/self/status.
pub(crate) fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap()
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

const SETTLE: Duration = Duration::from_secs(10);
const STEPS: [usize; 3] = [1, 8, 24];

/// Runs the memory mode, each run in a fresh process, so that memory an
/// earlier mode or run freed (and the allocator kept) does not hide the
/// cameras' own.
pub(crate) fn memory(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    println!(
        "memory: VmRSS after {} s with each count of cameras ({LIVE_CLIP}, real time, detect {DETECT_FPS} fps, default \
         gating), {}",
        SETTLE.as_secs(),
        many_cameras()
    );
    println!("| run | no camera | 1 | 8 | 24 | first camera | per camera, 1→8 | per camera, 8→24 |");
    let mut worst: f64 = 0.0;
    for run in 1..=runs {
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["memory-child", &broker.port.to_string(), &run.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "the memory mode failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let (row, last) = text.trim_end().rsplit_once('\n').unwrap();
        println!("{row}");
        worst = worst.max(last.parse().unwrap());
    }
    summary.push(Row {
        item: "memory per added camera (after the first)".into(),
        result: format!("≤ {worst:.1} MB"),
        target: "≤ 8 MB".into(),
        met: Some(worst <= 8.0),
    });
}

/// One run of the memory mode; prints its table row, then its worst
/// per-camera MB.
pub(crate) fn memory_child(port: u16, run: usize) {
    let setup = Setup {
        clip: LIVE_CLIP,
        cameras: 24,
        gating: true,
        busy_rules: false,
        threads: many_cameras(),
    };
    let rig = Rig::new(port, &setup);
    std::thread::sleep(Duration::from_secs(2));
    let base = rss_mb().0;
    let mut fleet = Fleet::new();
    let mut rss = Vec::new();
    for n in STEPS {
        fleet.grow(&rig, n);
        std::thread::sleep(SETTLE);
        rss.push(rss_mb().0);
    }
    fleet.stop();
    rig.shutdown();
    let (first, to8, to24) = (rss[0] - base, (rss[1] - rss[0]) / 7.0, (rss[2] - rss[1]) / 16.0);
    println!(
        "| {run} | {base:.0} MB | {:.0} MB | {:.0} MB | {:.0} MB | {first:.1} MB | {to8:.1} MB | {to24:.1} MB |",
        rss[0], rss[1], rss[2]
    );
    // The first camera also loads GStreamer's plugins and codecs, once.
    println!("{}", to8.max(to24));
}
