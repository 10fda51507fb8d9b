//! `compare`: vtest.avi, every frame, through watchpost and through
//! benches/compare_opencv.py, each in a fresh process.

use super::*;

/// One camera on vtest.avi, every frame, in this process; prints JSON. The
/// `compare` mode runs it in a fresh process so its peak RSS is its own.
pub(crate) fn compare_child(port: u16) {
    let dir = tempfile::tempdir().unwrap();
    let plan = support::one_camera::config(dir.path(), port, &support::media("vtest.avi"), 10, false);
    let run = support::one_camera::run_camera(&plan);
    let (wall, cpu) = (run.wall.as_secs_f64(), run.cpu.as_secs_f64());
    let (_, peak) = rss_mb();
    println!(
        "{}",
        serde_json::json!({"frames": run.inferred, "seconds": wall, "fps": run.inferred as f64 / wall, "cpu_seconds": cpu, "peak_rss_mb": peak})
    );
}

pub(crate) fn run_json(command: &mut Command) -> serde_json::Value {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

/// The loop's settings: ONNX Runtime's defaults, then tuned.
const LOOP_SETTINGS: [(&str, &[&str]); 5] = [
    ("defaults", &[]),
    ("1 thread, spin on", &["--threads", "1", "--spin", "on"]),
    ("1 thread, spin off", &["--threads", "1", "--spin", "off"]),
    ("2 threads, spin on", &["--threads", "2", "--spin", "on"]),
    ("2 threads, spin off", &["--threads", "2", "--spin", "off"]),
];

pub(crate) fn compare(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    let python: PathBuf = support::root().join(".venv/bin/python");
    println!(
        "compare: vtest.avi, every frame, {}, each in a fresh process, interleaved; watchpost with its defaults ({} single-threaded sessions, the camera's frames in flight on all), OpenCV + onnxruntime with ONNX Runtime's defaults and tuned (1 and 2 intra-op threads, spinning on and off); the ratio is against the loop's best setting in the same run",
        support::model_file().file_name().unwrap().to_string_lossy(),
        cores()
    );
    println!(
        "| run | watchpost fps | loop fps, defaults | loop fps, best setting | fps ratio vs best | watchpost peak RSS | loop peak RSS, least | RSS ratio |"
    );
    let (mut fps, mut rss) = (vec![], vec![]);
    for run in 1..=runs {
        let ours = run_json(
            Command::new(std::env::current_exe().unwrap())
                .arg("compare-child")
                .arg(broker.port.to_string()),
        );
        let theirs: Vec<(&str, serde_json::Value)> = LOOP_SETTINGS
            .iter()
            .map(|(name, args)| {
                let result = run_json(
                    Command::new(&python)
                        .arg(support::root().join("benches/compare_opencv.py"))
                        .arg(support::media("vtest.avi"))
                        .arg(support::model_file())
                        .args(*args),
                );
                (*name, result)
            })
            .collect();
        let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
        let (best, best_fps) = theirs
            .iter()
            .map(|(name, v)| (*name, f(v, "fps")))
            .fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a });
        let least_rss = theirs.iter().map(|(_, v)| f(v, "peak_rss_mb")).fold(f64::MAX, f64::min);
        let (fr, rr) = (f(&ours, "fps") / best_fps, f(&ours, "peak_rss_mb") / least_rss);
        println!(
            "| {run} | {:.1} | {:.1} | {best_fps:.1} ({best}) | {fr:.2} | {:.0} MB | {least_rss:.0} MB | {rr:.2} |",
            f(&ours, "fps"),
            f(&theirs[0].1, "fps"),
            f(&ours, "peak_rss_mb"),
        );
        fps.push(fr);
        rss.push(rr);
    }
    let (fr, rr) = (median(fps), median(rss));
    summary.push(Row {
        item: "watchpost vs OpenCV + onnxruntime (its best setting)".into(),
        result: format!("fps ×{fr:.2}, peak RSS ×{rr:.2}"),
        target: "fps ≥ 1.25×".into(),
        met: Some(fr >= 1.25),
    });
}
