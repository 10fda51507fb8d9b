//! Office-managed config against a real Mosquitto and the real binary: the
//! office makes keys and signs bundles with `watchpost bundle`, publishes
//! them with `watchpost bundle publish` / `rollout`, and reads what the box
//! reports on its retained bundle status topic. A good bundle is applied and
//! confirmed; a retained one, one signed by a foreign key, tampered with, for
//! another box, older, expired, failing the config check or naming a model
//! whose manifest changed is refused with its reason and changes nothing on
//! the box; one that points the camera at a missing source is applied and
//! rolled back by the box itself, and so is one during whose health window
//! the box restarts; a rollout whose canary fails never reaches the next
//! group.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::config::{Camera, Config};
use crate::common::{self, Broker, Running, Subscriber, watchpost};

fn run(args: &[&str]) -> Output {
    watchpost().args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Makes an office key pair in `dir`; the public key's text.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    let out = run(&["bundle", "keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    (key, String::from_utf8(out.stdout).unwrap().trim().to_string())
}

/// The managed part of a config: the walkway camera on `url`, and the
/// detector through `manifest`.
fn managed(dir: &Path, name: &str, url: &str, manifest: &Path, confidence: f64) -> PathBuf {
    let file_source = !url.contains("://");
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "[models.coco]\nmanifest = \"{}\"\nconfidence = {confidence}\n\n[[cameras]]\nname = \"walkway\"\n\n[cameras.source]\nurl = \"{url}\"\n{}\n[cameras.detect]\nmodel = \"coco\"\nfps = 2\n",
            manifest.display(),
            if file_source { "loop = true\nrealtime = true\n" } else { "" }
        ),
    )
    .unwrap();
    path
}

/// Signs `config` with `key`: the bundle file.
fn sign(dir: &Path, key: &Path, target: &[&str], version: u64, extra: &[&str], config: &Path) -> PathBuf {
    let out_path = dir.join(format!("bundle-{version}-{}.json", fastrand_name()));
    let mut args = vec!["bundle", "sign", "--key", key.to_str().unwrap()];
    args.extend_from_slice(target);
    let version = version.to_string();
    args.extend_from_slice(&["--version", &version, "--out", out_path.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args.push(config.to_str().unwrap());
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out));
    out_path
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// `watchpost bundle publish` to the box: its JSON report, and whether it succeeded.
fn publish(port: u16, bundle: &Path, to: &str) -> (bool, serde_json::Value) {
    let broker = format!("mqtt://127.0.0.1:{port}");
    let out = run(&[
        "bundle",
        "publish",
        "--broker",
        &broker,
        "--bundle",
        bundle.to_str().unwrap(),
        "--to",
        to,
        "--discover-secs",
        "1",
        "--wait-secs",
        &common::GUARD.as_secs().to_string(),
        "--json",
    ]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    (out.status.success(), report)
}

/// The state and reasons the report gives the box.
fn outcome(report: &serde_json::Value) -> (String, String) {
    let b = &report["stages"][0]["boxes"][0];
    (b["state"].as_str().unwrap_or("").to_string(), b["reasons"].to_string())
}

#[test]
fn a_box_applies_a_signed_bundle_refuses_every_bad_one_and_rolls_back_a_broken_camera() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broker = Broker::start();
    let port = broker.port;
    let (office, public) = keygen(d, "office");
    let (foreign, _) = keygen(d, "foreign");
    let clip = common::media("vtest.avi");
    let clip = clip.to_str().unwrap();
    // A copy of the detector's manifest, its model named by absolute path, to change later.
    let manifest = d.join("coco.toml");
    let original = std::fs::read_to_string(common::manifest()).unwrap();
    let model = common::root().join("models/ssd_mobilenet_v2_coco.onnx");
    std::fs::write(
        &manifest,
        original.replace(
            "file = \"ssd_mobilenet_v2_coco.onnx\"",
            &format!("file = \"{}\"", model.display()),
        ),
    )
    .unwrap();

    let state = d.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let box_id = format!("box-{port}");
    let me = format!("test-site/{box_id}");
    let config = Config::new(&state)
        .mqtt(port)
        .model("coco", &manifest)
        .set("metrics", "enabled", false)
        .camera(
            Camera::new("walkway")
                .clip(Path::new(clip))
                .looped(true)
                .realtime(true)
                .detect("coco", 2),
        )
        .extra(&format!(
            "[fleet]\noffice_keys = [\"{public}\"]\ngroups = [\"canary\"]\nhealth_window_secs = 10\n"
        ))
        .write(&d.join("watchpost.toml"));
    let status_topic = format!("watchpost/test-site/{box_id}/bundle/status");

    // A bundle left retained on the broker before the box starts is handed
    // to it as retained: refused, and cleared on the broker.
    let good = managed(d, "good.toml", clip, &manifest, 0.6);
    let retained = sign(d, &office, &["--target", &me], 1, &[], &good);
    let out = std::process::Command::new("mosquitto_pub")
        .args(["-p", &port.to_string(), "-q", "1", "-r", "-t"])
        .arg(format!("watchpost/test-site/{box_id}/bundle"))
        .arg("-f")
        .arg(&retained)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let watcher = Subscriber::connect(port);
    assert!(watcher.wait_subscribed(common::SOON));
    let boxed = Running::start(&config);
    let refused_retained = || {
        watcher
            .on_topic(&status_topic)
            .iter()
            .any(|s| s.contains("\"refused\"") && s.contains("retained on the broker"))
    };
    assert!(
        common::wait_for(common::GUARD, refused_retained),
        "no refusal of the retained bundle: {:?}\n{}",
        watcher.on_topic(&status_topic),
        boxed.lines().join("\n")
    );
    let before = std::fs::read_to_string(&config).unwrap();
    assert!(
        !before.contains("confidence = 0.6"),
        "the retained bundle changed the file"
    );

    // A good bundle: applied through the reload, then confirmed after its window.
    let bundle = sign(d, &office, &["--target", &me], 2, &["--comment", "tighter"], &good);
    let (ok, report) = publish(port, &bundle, &me);
    assert!(ok, "{report:#}\n{}", boxed.lines().join("\n"));
    assert_eq!(outcome(&report).0, "confirmed");
    let applied = std::fs::read_to_string(&config).unwrap();
    assert!(applied.contains("confidence = 0.6"), "{applied}");
    assert!(applied.contains("[fleet]"), "the box's own [fleet] was kept: {applied}");
    assert!(boxed.count("config reloaded") >= 1);

    // Each of these is refused with its reason and changes nothing.
    let other_camera = managed(d, "other.toml", clip, &manifest, 0.7);
    let failing = d.join("failing.toml");
    std::fs::write(
        &failing,
        std::fs::read_to_string(&other_camera)
            .unwrap()
            .replace("model = \"coco\"", "model = \"cocoa\""),
    )
    .unwrap();
    let tampered = sign(d, &office, &["--target", &me], 6, &[], &other_camera);
    {
        let mut envelope: serde_json::Value = serde_json::from_slice(&std::fs::read(&tampered).unwrap()).unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = String::from_utf8(b64.decode(envelope["body"].as_str().unwrap()).unwrap()).unwrap();
        let body = body.replace("\"version\":6", "\"version\":7");
        envelope["body"] = b64.encode(body).into();
        std::fs::write(&tampered, envelope.to_string()).unwrap();
    }
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "a foreign key",
            sign(d, &foreign, &["--target", &me], 3, &[], &other_camera),
            "not among the pinned office keys",
        ),
        ("a changed body", tampered, "signature does not match"),
        (
            "another box",
            sign(d, &office, &["--target", "test-site/elsewhere"], 3, &[], &other_camera),
            "not for this box",
        ),
        (
            "an older version",
            sign(d, &office, &["--target", &me], 1, &[], &other_camera),
            "not newer than version 2",
        ),
        (
            "a config that fails the check",
            sign(d, &office, &["--target", &me], 3, &[], &failing),
            "check-config",
        ),
        (
            "an expired bundle",
            sign(
                d,
                &office,
                &["--target", &me],
                3,
                &["--expires-secs", "1"],
                &other_camera,
            ),
            "expired at",
        ),
    ];
    // The expired one must be past its time.
    std::thread::sleep(std::time::Duration::from_secs(2));
    for (what, bundle, reason) in cases {
        let (ok, report) = publish(port, &bundle, &me);
        let (state, reasons) = outcome(&report);
        assert!(!ok, "{what}: {report:#}");
        assert_eq!(state, "refused", "{what}: {report:#}");
        assert!(reasons.contains(reason), "{what}: `{reason}` not in {reasons}");
        assert_eq!(
            std::fs::read_to_string(&config).unwrap(),
            applied,
            "{what} changed the file"
        );
    }

    // A model whose manifest changed after the office signed: refused.
    let hashed = sign(d, &office, &["--target", &me], 3, &[], &other_camera);
    std::fs::write(
        &manifest,
        std::fs::read_to_string(&manifest).unwrap() + "\n# edited on the box\n",
    )
    .unwrap();
    let (ok, report) = publish(port, &hashed, &me);
    let (state, reasons) = outcome(&report);
    assert!(!ok && state == "refused", "{report:#}");
    assert!(reasons.contains("the bundle expects"), "{reasons}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), applied);
    // Signed again over the manifest as it now is: taken.
    let rehashed = sign(d, &office, &["--target", &me], 3, &[], &other_camera);
    let (ok, report) = publish(port, &rehashed, &me);
    assert!(ok, "{report:#}");
    let good_file = std::fs::read_to_string(&config).unwrap();
    assert!(good_file.contains("confidence = 0.7"));

    // A camera pointed at a source that is not there: applied, then rolled
    // back by the box within its window, with the reason.
    let missing = format!("rtsp://127.0.0.1:{}/missing", common::free_port());
    let broken = managed(d, "broken.toml", &missing, &manifest, 0.7);
    let bundle = sign(d, &office, &["--target", &me], 4, &[], &broken);
    let (ok, report) = publish(port, &bundle, &me);
    let (state, reasons) = outcome(&report);
    assert!(!ok, "{report:#}");
    assert_eq!(state, "rolled_back", "{report:#}");
    assert!(reasons.contains("camera `walkway`"), "{reasons}");
    assert!(
        common::wait_for(common::SOON, || std::fs::read_to_string(&config).unwrap() == good_file),
        "the last good config is not back in the file"
    );
    assert!(
        common::wait_for(common::SOON, || boxed.count("rolled back to the last good config") == 1),
        "{}",
        boxed.lines().join("\n")
    );

    // A rollout whose canary rolls back stops before the next group.
    let bundle = sign(d, &office, &["--group", "canary", "--group", "rest"], 5, &[], &broken);
    let broker_url = format!("mqtt://127.0.0.1:{port}");
    let out = run(&[
        "bundle",
        "rollout",
        "--broker",
        &broker_url,
        "--bundle",
        bundle.to_str().unwrap(),
        "--canary",
        "canary",
        "--then",
        "rest",
        "--discover-secs",
        "1",
        "--json",
    ]);
    assert!(!out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["stages"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["stages"][0]["boxes"][0]["state"], "rolled_back", "{report:#}");
    assert!(
        watcher.on_topic("watchpost/groups/canary/bundle").len() == 1
            && watcher.on_topic("watchpost/groups/rest/bundle").is_empty(),
        "the rest got the bundle"
    );
    assert!(common::wait_for(common::SOON, || std::fs::read_to_string(&config)
        .unwrap()
        == good_file));

    // A box that restarts inside a bundle's health window (here: killed)
    // rolls the bundle back when it comes up again.
    let newer = managed(d, "newer.toml", clip, &manifest, 0.8);
    let bundle = sign(d, &office, &["--target", &me], 7, &[], &newer);
    let out = std::process::Command::new("mosquitto_pub")
        .args(["-p", &port.to_string(), "-q", "1", "-t"])
        .arg(format!("watchpost/test-site/{box_id}/bundle"))
        .arg("-f")
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let status_is = |state: &str, needle: &str| {
        watcher
            .on_topic(&status_topic)
            .iter()
            .any(|s| s.contains(&format!("\"state\":\"{state}\"")) && s.contains(needle))
    };
    assert!(
        common::wait_for(common::SOON, || status_is("applied", "\"version\":7")),
        "{:?}",
        watcher.on_topic(&status_topic)
    );
    assert!(std::fs::read_to_string(&config).unwrap().contains("confidence = 0.8"));
    drop(boxed);
    let boxed = Running::start(&config);
    assert!(
        common::wait_for(common::GUARD, || status_is("rolled_back", "restarted during version 7")),
        "{:?}\n{}",
        watcher.on_topic(&status_topic),
        boxed.lines().join("\n")
    );
    assert!(common::wait_for(common::SOON, || std::fs::read_to_string(&config)
        .unwrap()
        == good_file));
}
