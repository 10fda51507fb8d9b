//! The appliance as an installer meets it, checked with offline tools: the
//! systemd unit (`systemd-analyze verify` and `security --offline=yes`), the
//! .deb's file list (`cargo deb` + `dpkg -c`), the example config it ships,
//! and the command line (`--help`, `version`, `run --print-config`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{root, watchpost};

/// The shipped unit with its binary pointed at the one just built.
fn unit_for_test(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(root().join("systemd/watchpost.service")).unwrap();
    let unit = unit.replace("/usr/bin/watchpost", env!("CARGO_BIN_EXE_watchpost"));
    let path = dir.join("watchpost.service");
    std::fs::write(&path, unit).unwrap();
    path
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze is missing: run scripts/setup (Debian package systemd)")
}

#[test]
fn the_unit_verifies_without_a_word_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_test(dir.path());
    let out = systemd_analyze(&["verify", unit.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze verify complained:\n{stderr}");
}

#[test]
fn the_unit_asks_for_what_the_issue_requires() {
    let unit = std::fs::read_to_string(root().join("systemd/watchpost.service")).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ExecStartPre=/usr/bin/watchpost check-config --config /etc/watchpost/watchpost.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "User=watchpost",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=",
        "SystemCallFilter=@system-service",
        "ReadWritePaths=/var/lib/watchpost\n",
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-drm rw",
        "DeviceAllow=/dev/nvidiactl rw",
        "LoadCredential=mqtt-password:",
    ] {
        assert!(unit.contains(line), "the unit lacks `{}`", line.trim_end());
    }
    assert_eq!(unit.matches("ReadWritePaths=").count(), 1);
}

/// The paths a unit lets the service write (`ReadWritePaths=`, `-` dropped).
fn writable_paths(unit: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix("ReadWritePaths="))
        .flat_map(|l| l.split_whitespace())
        .map(|p| p.trim_start_matches('-').trim_end_matches('/').to_string())
        .collect()
}

/// Issue 31: making the console's Save work must not hand the service any
/// secret. Neither the unit nor the Save drop-in lets it write a folder that
/// holds (or may hold) a secret, and the drop-in's config lies in the one
/// folder it may write.
#[test]
fn no_writable_path_covers_a_secret_and_the_save_drop_in_writes_only_its_folder() {
    let unit = std::fs::read_to_string(root().join("systemd/watchpost.service")).unwrap();
    let drop_in = std::fs::read_to_string(root().join("packaging/deb/console-save.conf")).unwrap();
    let secrets = [
        "/etc/watchpost/credentials/mqtt-password",
        "/etc/watchpost/mqtt-password",
        "/etc/watchpost/gate.password",
        "/etc/watchpost/console.hash",
        "/etc/watchpost/console.key",
        "/etc/watchpost/mqtt-ca.pem",
    ];
    let covers = |dir: &str, path: &str| Path::new(path).starts_with(dir);
    for (name, text) in [("unit", &unit), ("drop-in", &drop_in)] {
        for dir in writable_paths(text) {
            for secret in secrets {
                assert!(
                    !covers(&dir, secret),
                    "the {name} lets the service write {dir}, which holds {secret}"
                );
            }
            assert!(
                dir == "/var/lib/watchpost" || dir == "/etc/watchpost/site",
                "the {name} lets the service write {dir}"
            );
        }
    }
    assert_eq!(writable_paths(&unit), ["/var/lib/watchpost"]);
    assert_eq!(writable_paths(&drop_in), ["/etc/watchpost/site"]);
    for line in [
        "ExecStartPre=\n",
        "ExecStartPre=/usr/bin/watchpost check-config --config /etc/watchpost/site/watchpost.toml\n",
        "ExecStart=\n",
        "ExecStart=/usr/bin/watchpost run --config /etc/watchpost/site/watchpost.toml\n",
    ] {
        assert!(drop_in.contains(line), "the drop-in lacks `{}`", line.trim_end());
    }
    // the package lays the folders out so
    let postinst = std::fs::read_to_string(root().join("packaging/deb/postinst")).unwrap();
    assert!(postinst.contains("install -d -o root -g watchpost -m 0770 /etc/watchpost/site"));
    assert!(postinst.contains("chown root:watchpost /etc/watchpost\n"));
    assert!(postinst.contains("chmod 0750 /etc/watchpost\n"));
}

/// The unit with the Save drop-in applied verifies as cleanly as the unit.
#[test]
fn the_unit_with_the_save_drop_in_verifies_without_a_word_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_test(dir.path());
    let drop_in = std::fs::read_to_string(root().join("packaging/deb/console-save.conf")).unwrap();
    let both = std::fs::read_to_string(&unit).unwrap()
        + &drop_in.replace("/usr/bin/watchpost", env!("CARGO_BIN_EXE_watchpost"));
    std::fs::write(&unit, both).unwrap();
    let out = systemd_analyze(&["verify", unit.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze verify complained:\n{stderr}");
}

#[test]
fn the_unit_exposure_is_at_most_2_5() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_for_test(dir.path());
    let out = systemd_analyze(&["security", "--offline=yes", "--no-pager", unit.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for watchpost.service:").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(level <= 2.5, "exposure {level} > 2.5:\n{text}");
}

/// Builds the .deb from the release binary the tests run (`cargo deb --no-build`).
fn build_deb(out: &Path) -> PathBuf {
    let status = Command::new("cargo")
        .args(["deb", "--no-build", "--fast", "--output"])
        .arg(out)
        .current_dir(root())
        .status()
        .expect("cargo is missing");
    assert!(
        status.success(),
        "cargo deb failed (scripts/setup installs cargo-deb; the release build must exist)"
    );
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote no .deb")
}

#[test]
fn the_deb_holds_the_binary_unit_config_models_and_onnx_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb(dir.path());
    let list = Command::new("dpkg").arg("-c").arg(&deb).output().unwrap();
    assert!(list.status.success());
    let list = String::from_utf8_lossy(&list.stdout);
    let files: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.'))
        .collect();
    for expected in [
        "/usr/bin/watchpost",
        "/lib/systemd/system/watchpost.service",
        "/etc/watchpost/watchpost.toml",
        "/usr/share/watchpost/models/ssd_mobilenet_v2_coco.onnx",
        "/usr/share/watchpost/models/ssd_mobilenet_v2_coco.toml",
        "/usr/share/watchpost/models/centerface.onnx",
        "/usr/share/watchpost/models/centerface.toml",
        "/usr/lib/watchpost/libonnxruntime.so",
        "/usr/share/doc/watchpost/install.md",
        "/usr/share/doc/watchpost/console.md",
        "/usr/share/doc/watchpost/examples/console-save.conf",
        "/usr/share/doc/watchpost/integrations.md",
        "/usr/share/doc/watchpost/examples/mosquitto/watchpost-box.conf",
        "/usr/share/doc/watchpost/examples/mosquitto/watchpost.acl",
    ] {
        assert!(files.contains(&expected), "{expected} is not in the .deb:\n{list}");
    }
    let field = |name: &str| {
        let out = Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(field("Architecture"), "amd64");
    assert!(field("Depends").contains("mosquitto"), "{}", field("Depends"));
    let control = dir.path().join("control");
    let status = Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(&control)
        .status()
        .unwrap();
    assert!(status.success());
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert!(
        conffiles.lines().any(|l| l == "/etc/watchpost/watchpost.toml"),
        "{conffiles}"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");
    assert!(postinst.contains("WATCHPOST-EXAMPLE-CONFIG"), "{postinst}");
    assert!(
        std::fs::read_to_string(control.join("postrm"))
            .unwrap()
            .contains("purge")
    );
}

/// Purge deletes every secret the package or the console leaves in
/// /etc/watchpost (the console's password hash and TLS key, the editor's
/// backups of the config) and the state: the real postrm, run on a copy of
/// those folders.
#[test]
fn purge_leaves_no_secret_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (etc, state) = (dir.path().join("etc-watchpost"), dir.path().join("var-lib-watchpost"));
    std::fs::create_dir_all(etc.join("credentials")).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    for file in [
        "credentials/mqtt-password",
        "mqtt-password",
        "front-gate.password",
        "console.hash",
        "console.key",
        "console.crt",
        "watchpost.toml.bak",
    ] {
        std::fs::write(etc.join(file), "secret").unwrap();
    }
    std::fs::write(state.join("outbox.redb"), "x").unwrap();
    let script = std::fs::read_to_string(root().join("packaging/deb/postrm"))
        .unwrap()
        .replace("/etc/watchpost", &etc.display().to_string())
        .replace("/var/lib/watchpost", &state.display().to_string())
        // Leave this machine's units and users alone.
        .replace("/run/systemd/system", "/nonexistent")
        .replace("getent ", "false ")
        .replace("command -v deb-systemd-helper", "false");
    let path = dir.path().join("postrm");
    std::fs::write(&path, script).unwrap();
    let status = Command::new("sh").arg(&path).arg("purge").status().unwrap();
    assert!(status.success());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, vec!["postrm".to_string()], "purge left {left:?}");
}

/// The example config shows no credentials in a camera URL (a command line
/// with one is visible to every user in `ps`).
#[test]
fn the_example_config_shows_no_password_in_a_url() {
    let text = std::fs::read_to_string(root().join("packaging/deb/watchpost.toml")).unwrap();
    for scheme in ["rtsp://", "http://", "https://", "mqtt://", "mqtts://"] {
        for (i, _) in text.match_indices(scheme) {
            let rest = &text[i + scheme.len()..];
            let authority = rest.split(['/', ' ', '"', '\n']).next().unwrap_or("");
            assert!(!authority.contains('@'), "a URL with credentials: {scheme}{authority}");
        }
    }
}

/// The shipped example passes check-config (with the models where the
/// package puts them, here the repository's), and carries the marker that
/// keeps postinst from starting the service.
#[test]
fn the_example_config_is_valid_and_marked_as_the_example() {
    let text = std::fs::read_to_string(root().join("packaging/deb/watchpost.toml")).unwrap();
    assert!(text.starts_with("# WATCHPOST-EXAMPLE-CONFIG"));
    let dir = tempfile::tempdir().unwrap();
    let local = text
        .replace(
            "/usr/share/watchpost/models",
            &root().join("models").display().to_string(),
        )
        .replace("/var/lib/watchpost", &dir.path().display().to_string());
    let config = dir.path().join("watchpost.toml");
    std::fs::write(&config, local).unwrap();
    let out = watchpost()
        .args(["check-config", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK (1 camera, 1 model)"));
}

#[test]
fn every_command_has_help() {
    for command in ["run", "check-config", "probe", "version"] {
        let out = watchpost().args([command, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command} --help failed");
        assert!(text.contains("Usage: watchpost"), "{command}: {text}");
    }
    let out = watchpost().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--print-config") && text.contains("--log-format"),
        "{text}"
    );
    let out = watchpost().arg("version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("watchpost {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn print_config_fills_in_the_defaults_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::media("vtest.avi");
    let text = common::camera_config(1883, &clip, false, dir.path())
        .replace(
            "url = \"mqtt://127.0.0.1:1883\"",
            "url = \"mqtt://127.0.0.1:1883\"\nusername = \"box\"\npassword_credential = \"mqtt-password\"",
        )
        .replace(
            &format!("url = \"{}\"", clip.display()),
            "url = \"rtsp://viewer:s3cret@192.0.2.10:554/stream1\"",
        );
    let config = dir.path().join("c.toml");
    std::fs::write(&config, text).unwrap();
    let out = watchpost()
        .args(["run", "--print-config", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains("s3cret"), "{printed}");
    let effective: toml::Table = toml::from_str(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(effective["metrics"]["listen"].as_str(), Some("127.0.0.1:9464"));
    assert_eq!(effective["metrics"]["enabled"].as_bool(), Some(true));
    assert_eq!(effective["mqtt"]["keep_alive_secs"].as_integer(), Some(30), "{printed}");
    assert_eq!(
        effective["mqtt"]["topic_prefix"].as_str(),
        Some("watchpost/test-site/box-1883")
    );
    let camera = &effective["cameras"][0];
    assert_eq!(camera["decode"]["stall_secs"].as_integer(), Some(10));
    assert_eq!(camera["motion"]["enabled"].as_bool(), Some(true));
    assert!(camera["track"]["iou"].as_float().is_some(), "{printed}");
    assert_eq!(camera["rules"][0]["name"].as_str(), Some("lawn-intrusion"));
    assert_eq!(camera["source"]["latency_ms"].as_integer(), Some(200));
    assert_eq!(effective["mqtt"]["password_credential"].as_str(), Some("mqtt-password"));
    // The printed config is itself a valid config.
    let again = dir.path().join("effective.toml");
    std::fs::write(&again, printed.as_bytes()).unwrap();
    let out = watchpost()
        .args(["check-config", "--config", again.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{printed}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let out = watchpost()
        .args([
            "--log-format",
            "json",
            "--log",
            "info",
            "check-config",
            "--config",
            "/nonexistent",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    // check-config prints problems, not logs; run a command that logs.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let text = format!(
        "{}\n[runtime]\nonnxruntime = \"/nonexistent/libonnxruntime.so\"\n",
        common::camera_config(1883, &common::media("vtest.avi"), false, dir.path())
    );
    std::fs::write(&config, text).unwrap();
    let out = watchpost()
        .args(["--log-format", "json", "run", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value["level"].is_string() && value["message"].is_string(), "{line}");
    }
}
