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

pub(crate) fn compare(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    let intra = cores();
    let python: PathBuf = support::root().join(".venv/bin/python");
    println!(
        "compare: vtest.avi, every frame, {}, no spinning, each in a fresh process; watchpost with its defaults ({intra} single-threaded sessions, the camera's frames in flight on all), OpenCV + onnxruntime with one session of {intra} intra-op threads",
        support::model_file().file_name().unwrap().to_string_lossy()
    );
    println!(
        "| run | watchpost fps | OpenCV+onnxruntime fps | fps ratio | watchpost peak RSS | OpenCV peak RSS | RSS ratio |"
    );
    let (mut fps, mut rss) = (vec![], vec![]);
    for run in 1..=runs {
        let ours = run_json(
            Command::new(std::env::current_exe().unwrap())
                .arg("compare-child")
                .arg(broker.port.to_string()),
        );
        let theirs = run_json(
            Command::new(&python)
                .arg(support::root().join("benches/compare_opencv.py"))
                .arg(support::media("vtest.avi"))
                .arg(support::model_file())
                .arg("--threads")
                .arg(intra.to_string()),
        );
        let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
        let (fr, rr) = (
            f(&ours, "fps") / f(&theirs, "fps"),
            f(&ours, "peak_rss_mb") / f(&theirs, "peak_rss_mb"),
        );
        println!(
            "| {run} | {:.1} | {:.1} | {fr:.2} | {:.0} MB | {:.0} MB | {rr:.2} |",
            f(&ours, "fps"),
            f(&theirs, "fps"),
            f(&ours, "peak_rss_mb"),
            f(&theirs, "peak_rss_mb")
        );
        fps.push(fr);
        rss.push(rr);
    }
    let (fr, rr) = (median(fps), median(rss));
    summary.push(Row {
        item: "watchpost vs OpenCV + onnxruntime".into(),
        result: format!("fps ×{fr:.2}, peak RSS ×{rr:.2}"),
        target: "reported".into(),
        met: None,
    });
}
