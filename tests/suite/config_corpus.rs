//! The config corpus: every file in tests/configs/valid must pass the check,
//! and every file in tests/configs/invalid must fail with exactly the lines
//! in its `.expected` file (`file:line:col: message`).

use std::path::{Path, PathBuf};

use watchpost::plan;

fn files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(Path::new("tests/configs").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_valid_config_passes() {
    let valid = files("valid");
    assert!(valid.len() >= 2);
    for path in valid {
        if let Err(e) = plan::load(&path) {
            panic!("{} should be valid:\n{e}", path.display());
        }
    }
}

#[test]
fn every_invalid_config_fails_with_its_expected_lines() {
    let invalid = files("invalid");
    assert!(invalid.len() >= 10, "the corpus needs at least 10 invalid configs");
    let mut mismatches = Vec::new();
    for path in invalid {
        let expected_path = path.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no {}", path.display(), expected_path.display()));
        let expected: Vec<&str> = expected.lines().collect();
        assert!(!expected.is_empty(), "{} is empty", expected_path.display());
        let err = match plan::load(&path) {
            Ok(_) => panic!("{} should be invalid", path.display()),
            Err(e) => e,
        };
        let got: Vec<String> = err.diagnostics.iter().map(ToString::to_string).collect();
        if got != expected {
            mismatches.push(format!(
                "{}:\n  expected: {expected:#?}\n  got: {got:#?}",
                path.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_misspelled_key_is_named_in_the_error() {
    let err = plan::load(Path::new("tests/configs/invalid/misspelled_camera_key.toml")).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1);
    assert!(err.diagnostics[0].message.contains("`fsp`"), "{err}");
}

#[test]
fn the_shipped_demo_config_is_valid() {
    let plan = plan::load(Path::new("configs/demo.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.cameras.len(), 1);
    assert_eq!(plan.mqtt.url, "mqtt://127.0.0.1:1883");
    assert_eq!(
        plan.mqtt.topics.incidents("walkway"),
        "watchpost/demo-community/demo-box/walkway/incidents"
    );
}
