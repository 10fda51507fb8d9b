//! The `watchpost` command as installers meet it: one line per problem, exit
//! status 2 for a bad config, and a clear message — never a panic — when a
//! file it needs is missing.

use crate::common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::watchpost;
use tokio_util::sync::CancellationToken;
use watchpost::decode::{Delivery, FrameSlot, Stream, StreamSpec};
use watchpost::source::SourcePlan;
use watchpost::vocab::Resize;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = watchpost().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn check_config_on_a_missing_file_prints_one_line_and_exits_2() {
    let (code, stdout, stderr) = run(&["check-config", "--config", "/nonexistent"]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("/nonexistent: cannot read config"), "{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn check_config_names_a_misspelled_key() {
    let (code, _, stderr) = run(&[
        "check-config",
        "--config",
        "tests/configs/invalid/misspelled_camera_key.toml",
    ]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("tests/configs/invalid/misspelled_camera_key.toml:15:1: unknown key `fsp`"),
        "{stderr}"
    );
}

#[test]
fn run_refuses_an_invalid_config_the_same_way() {
    let (code, _, stderr) = run(&["run", "--config", "tests/configs/invalid/missing_camera_file.toml"]);
    assert_eq!(code, 2);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("camera `north-gate`") && stderr.contains("/srv/cameras/missing-clip.avi"),
        "{stderr}"
    );
}

#[test]
fn check_config_accepts_the_demo() {
    let (code, stdout, _) = run(&["check-config", "--config", "configs/demo.toml"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("OK (1 camera, 2 models)"), "{stdout}");
}

/// A valid config whose ONNX Runtime library is `library`.
fn config_with_library(dir: &Path, library: &Path) -> std::path::PathBuf {
    let text = format!(
        "{}\n[runtime]\nonnxruntime = \"{}\"\n",
        common::camera_config(1, &common::media("vtest.avi"), false, dir),
        library.display()
    );
    let path = dir.join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_missing_onnx_runtime_library_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_library(dir.path(), Path::new("/nonexistent/libonnxruntime.so"));
    let (code, _, stderr) = run(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("ONNX Runtime library /nonexistent/libonnxruntime.so does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_file_that_is_not_onnx_runtime_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"this is not a shared library").unwrap();
    let config = config_with_library(dir.path(), &fake);
    let (code, _, stderr) = run(&["run", "--config", config.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cannot load ONNX Runtime from") && stderr.contains("libonnxruntime.so"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_camera_file_that_vanished_fails_with_the_camera_and_path_named() {
    gstreamer::init().unwrap();
    let missing = Path::new("/nonexistent/recordings/gate.avi");
    let source = SourcePlan::file(missing.to_path_buf(), false, false);
    let spec = StreamSpec::new("gate", source, 300, 300, Resize::Stretch, 5);
    let slot = Arc::new(FrameSlot::new(Delivery::Every));
    let stream = Stream::new(spec, slot.clone());
    let err = stream.run(&CancellationToken::new()).unwrap_err().to_string();
    assert!(err.contains("camera `gate`"), "{err}");
    assert!(err.contains("/nonexistent/recordings/gate.avi"), "{err}");
    assert!(matches!(slot.take(Duration::ZERO), watchpost::decode::Taken::Closed));
}

#[test]
fn check_config_compares_the_manifest_with_the_model_it_describes() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(common::manifest()).unwrap();
    let model = common::root().join("models/ssd_mobilenet_v2_coco.onnx");
    let manifest = shipped
        .replace(
            "file = \"ssd_mobilenet_v2_coco.onnx\"",
            &format!("file = \"{}\"", model.display()),
        )
        .replace("name = \"image\"", "name = \"input_1\"");
    std::fs::write(dir.path().join("m.toml"), manifest).unwrap();
    let config = common::camera_config(1883, &common::media("vtest.avi"), false, dir.path()).replace(
        &common::manifest().display().to_string(),
        &dir.path().join("m.toml").display().to_string(),
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let (code, _, stderr) = run(&["check-config", "--config", dir.path().join("c.toml").to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("the manifest's input is `input_1`, but the model's inputs are `image` [1, 300, 300, 3]"),
        "{stderr}"
    );
}

/// `hash-password` on a terminal (a real pseudo-terminal, made by
/// util-linux's `script`): the password is asked twice and never echoed;
/// from a pipe it is read as one line.
#[test]
fn hash_password_never_echoes_the_password_on_a_terminal() {
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    const PASSWORD: &str = "tr0ub4dor-and-3";
    let binary = env!("CARGO_BIN_EXE_watchpost");
    let mut session = Command::new("script")
        .args(["-qfec", &format!("{binary} hash-password"), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux's script");
    let mut stdout = session.stdout.take().unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
    let mut stdin = session.stdin.take().unwrap();
    // Type each answer only once its prompt shows: echo is off by then.
    for prompt in ["Console password", "Again"] {
        assert!(
            common::wait_for(common::SOON, || text().contains(prompt)),
            "no prompt `{prompt}`: {}",
            text()
        );
        stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    assert!(
        common::wait_for(common::SOON, || text().contains("$argon2id$")),
        "{}",
        text()
    );
    drop(stdin);
    let _ = session.wait();
    reader.join().unwrap();
    let transcript = text();
    assert!(!transcript.contains(PASSWORD), "the password was echoed: {transcript}");

    // From a pipe: one line, no prompt.
    let mut piped = watchpost()
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    piped
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = piped.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("$argon2id$"));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("Console password"));
}

#[test]
fn probe_sends_device_paths_to_v4l2_in_both_spellings() {
    // No camera is plugged in here: a missing device is named as one.
    for uri in ["/dev/video0", "v4l2:///dev/video0"] {
        if Path::new("/dev/video0").exists() {
            break;
        }
        let (code, stdout, stderr) = run(&["probe", "--timeout-secs", "3", uri]);
        assert_eq!(code, 2, "{uri}: {stdout}{stderr}");
        assert!(
            stderr.contains("V4L2 video device /dev/video0 does not exist"),
            "{uri}: {stderr}"
        );
        assert!(
            !stderr.contains("no such file") && !stderr.contains("http"),
            "{uri}: {stderr}"
        );
    }
    // A device that exists but is no camera reaches GStreamer's v4l2src,
    // whose own error comes back.
    for uri in ["/dev/null", "v4l2:///dev/null"] {
        let (code, stdout, stderr) = run(&["probe", "--timeout-secs", "3", uri]);
        assert_eq!(code, 1, "{uri}: {stdout}{stderr}");
        assert!(stderr.starts_with("v4l2:///dev/null: "), "{uri}: {stderr}");
        assert!(stderr.contains("v4l2 driver"), "{uri}: {stderr}");
    }
}
