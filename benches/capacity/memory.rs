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

/// Runs the memory mode in a fresh process, so that memory an earlier mode
/// freed (and the allocator kept) does not hide the cameras' own.
pub(crate) fn memory(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["memory-child", &broker.port.to_string(), &runs.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the memory mode failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let (table, last) = text.trim_end().rsplit_once('\n').unwrap();
    println!("{table}");
    let worst: f64 = last.parse().unwrap();
    summary.push(Row {
        item: "memory per added camera (after the first)".into(),
        result: format!("≤ {worst:.1} MB"),
        target: "≤ 8 MB".into(),
        met: Some(worst <= 8.0),
    });
}

/// The memory mode itself; prints its table, then the worst per-camera MB.
pub(crate) fn memory_child(port: u16, runs: usize) {
    const SETTLE: Duration = Duration::from_secs(10);
    const STEPS: [usize; 3] = [1, 8, 24];
    let threads = many_cameras();
    println!(
        "memory: VmRSS after {} s with each count of cameras ({LIVE_CLIP}, real time, detect {DETECT_FPS} fps, default \
         gating), {threads}",
        SETTLE.as_secs()
    );
    println!("| run | no camera | 1 | 8 | 24 | first camera | per camera, 1→8 | per camera, 8→24 |");
    let mut per_camera = Vec::new();
    for run in 1..=runs {
        let setup = Setup {
            clip: LIVE_CLIP,
            cameras: 24,
            gating: true,
            busy_rules: false,
            threads,
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
        per_camera.push(to8.max(to24));
    }
    println!("{}", per_camera.iter().copied().fold(0.0, f64::max));
}
