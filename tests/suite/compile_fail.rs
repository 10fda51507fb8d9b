//! The type-level privacy guarantee: the publisher (and anything that stores
//! images) accepts only a redacted image, which only the redaction module can
//! make, so a raw frame cannot reach MQTT or disk. Each file in
//! tests/compile_fail/ must fail to compile with the error in its .stderr.
//!
//! The cases are type-checked by `rustc` against the watchpost library this
//! test binary was built with (`--emit=metadata`: no code is generated), so
//! no second build of the dependency tree is needed; the first `error[…]:`
//! line of each must match the one in its .stderr.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest watchpost rlib beside this test binary, and its folder.
fn library() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    let rlib = std::fs::read_dir(&deps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libwatchpost-") && n.ends_with(".rlib"))
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
        .expect("no libwatchpost rlib beside the test binary");
    (rlib, deps)
}

/// The first `error[…]: …` line of a compiler's output.
fn first_error(text: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with("error[") || l.starts_with("error:"))
        .map(str::to_string)
}

#[test]
fn an_unredacted_picture_cannot_reach_the_publisher() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (rlib, deps) = library();
    let out = tempfile::tempdir().unwrap();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tests/compile_fail"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "{cases:?}");
    for case in cases {
        let output = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .args([
                "--edition",
                "2024",
                "--crate-type",
                "bin",
                "--emit=metadata",
                "--color=never",
            ])
            .arg("--out-dir")
            .arg(out.path())
            .arg("-L")
            .arg(format!("dependency={}", deps.display()))
            .arg("--extern")
            .arg(format!("watchpost={}", rlib.display()))
            .arg(&case)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{} compiled", case.display());
        let expected = std::fs::read_to_string(case.with_extension("stderr")).unwrap();
        assert_eq!(
            first_error(&stderr),
            first_error(&expected),
            "{}: the compiler said\n{stderr}",
            case.display()
        );
    }
}
