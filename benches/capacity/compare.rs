//! `compare`: vtest.avi, every frame, through watchpost and through
//! benches/compare_opencv.py, each in a fresh process.

use super::*;

/// One camera on vtest.avi, every frame, in this process; prints JSON. The
/// `compare` mode runs it in a fresh process so its peak RSS is its own.
pub(crate) fn compare_child(port: u16) {
    let broker_port = port;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"site = "bench"
box_id = "box-1"
state_dir = "{state}"

[runtime]
intra_threads = {intra}

[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"

[models.coco]
manifest = "{manifest}"

[[cameras]]
name = "walkway"

[cameras.source]
url = "{clip}"

[cameras.detect]
model = "coco"
fps = 10

[cameras.motion]
enabled = false

[[cameras.zones]]
name = "lawn"
polygon = [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]

[[cameras.rules]]
name = "lawn-intrusion"
kind = "intrusion"
zone = "lawn"
labels = ["person"]
"#,
        state = dir.path().display(),
        intra = cores(),
        manifest = support::root().join("models/ssd_mobilenet_v2_coco.toml").display(),
        clip = support::media("vtest.avi").display(),
    );
    let path = dir.path().join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    let plan = watchpost::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let _guard = tokio.enter();
    let rt = runtime::init(&plan.runtime).unwrap();
    let camera = &plan.cameras[0];
    let service =
        Arc::new(ModelService::spawn(Detector::load(camera.detect.model.clone(), rt, &plan.runtime).unwrap()).unwrap());
    let outbox = Arc::new(Outbox::open(&plan.outbox).unwrap());
    let publisher = Publisher::spawn(plan.mqtt.clone(), outbox.clone(), Arc::new(|| serde_json::json!({}))).unwrap();
    while !publisher.status().connected.load(Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (snapshots, _worker) = Snapshots::spawn(None, outbox.clone(), plan.mqtt.topics.clone()).unwrap();
    let shared = Shared {
        models: [(camera.detect.model.key.clone(), service)].into(),
        outbox,
        topics: plan.mqtt.topics.clone(),
        snapshots,
    };
    let (wall0, cpu0) = (Instant::now(), cpu_time());
    let running = Camera::start(camera, &shared, CancellationToken::new()).unwrap();
    while !running.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (wall, cpu) = (wall0.elapsed().as_secs_f64(), (cpu_time() - cpu0).as_secs_f64());
    let inferred = running.stats.inferred.load(Relaxed);
    running.join().unwrap();
    let (_, peak) = rss_mb();
    tokio.block_on(publisher.shutdown(Duration::from_secs(5)));
    println!(
        "{}",
        serde_json::json!({"frames": inferred, "seconds": wall, "fps": inferred as f64 / wall, "cpu_seconds": cpu, "peak_rss_mb": peak})
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
        "compare: vtest.avi, every frame, SSD-MobileNetV2, {intra} intra-op threads, no spinning, each in a fresh process"
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
                .arg(support::root().join("models/ssd_mobilenet_v2_coco.onnx"))
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
