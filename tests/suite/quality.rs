//! The alert-quality guard: `watchpost eval` on the labelled recordings
//! (tests/truth/) must not fall more than 5 points of precision or recall
//! (or one incident, where a rule has so few that one is worth more) below
//! the figures recorded in docs/quality.md, and the labels it scores must be
//! the ones the table was made from.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// How far (percentage points) a figure may fall below the recorded one.
const SLACK: f64 = 5.0;

/// How far a figure over `count` incidents may fall: [`SLACK`], or one
/// incident where that is worth more. Detections differ in their last bits
/// from one CPU to another (ONNX Runtime picks kernels by instruction set),
/// which can move one borderline incident; on a rule with 11 labelled
/// crossings one is 9 points, and the guard is there to catch a fall in
/// quality, not a single wobble.
fn slack(count: u64) -> f64 {
    SLACK.max(100.0 / count.max(1) as f64 + 0.01)
}

/// The recorded rows between the guard's markers: (rule, labelled, precision %, recall %).
fn recorded(doc: &str, marker: &str) -> Vec<(String, u64, f64, f64)> {
    let start = doc
        .find(marker)
        .unwrap_or_else(|| panic!("docs/quality.md has no `{marker}`"));
    let table = &doc[start..];
    let end = table.find("<!-- end quality-guard -->").expect("end marker");
    table[..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2) // header and rule
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            let pct = |s: &str| s.trim_end_matches('%').parse::<f64>().expect("a percentage");
            (
                cells[0].to_string(),
                cells[1].parse().expect("labelled"),
                pct(cells[6]),
                pct(cells[7]),
            )
        })
        .collect()
}

/// Runs `watchpost eval --json` on `clip` (under media/) with the camera
/// `config` and the labels `labels` (under tests/truth/ unless a path with a
/// folder) at `fps`, and compares every rule with the rows recorded under
/// `marker` in docs/quality.md.
fn guard(marker: &str, config: &str, labels: &str, clip: &str, fps: u32) {
    let root = Path::new(ROOT);
    let clip = root.join("media").join(clip);
    assert!(clip.is_file(), "{} is missing: run scripts/setup", clip.display());
    let doc = std::fs::read_to_string(root.join("docs/quality.md")).expect("docs/quality.md");
    let table = recorded(&doc, marker);
    assert!(!table.is_empty(), "the guard table `{marker}` lists no rule");
    let out = Command::new(env!("CARGO_BIN_EXE_watchpost"))
        .args(["eval", "--json", "--fps", &fps.to_string(), "--config"])
        .arg(root.join(config))
        .arg("--labels")
        .arg(root.join("tests/truth").join(labels))
        .arg(&clip)
        .output()
        .expect("run watchpost eval");
    assert!(
        out.status.success(),
        "eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("eval --json prints JSON");
    let rules = report["rules"].as_array().expect("rules");
    let mut failures = Vec::new();
    for (rule, labelled, precision, recall) in &table {
        let Some(got) = rules.iter().find(|r| r["rule"] == rule.as_str()) else {
            failures.push(format!("{rule}: not scored"));
            continue;
        };
        assert_eq!(
            got["labelled"].as_u64(),
            Some(*labelled),
            "{rule}: the labels changed; re-measure and update docs/quality.md"
        );
        let p = got["precision"].as_f64().unwrap() * 100.0;
        let r = got["recall"].as_f64().unwrap() * 100.0;
        let raised = got["raised"].as_u64().unwrap_or(0);
        if p < precision - slack(raised) {
            failures.push(format!("{rule}: precision {p:.0}% (recorded {precision}%)"));
        }
        if r < recall - slack(*labelled) {
            failures.push(format!("{rule}: recall {r:.0}% (recorded {recall}%)"));
        }
    }
    assert!(
        failures.is_empty(),
        "alert quality fell ({marker}):\n{}",
        failures.join("\n")
    );
}

#[test]
fn counting_lines_on_vtest_keep_their_recorded_precision_and_recall() {
    guard(
        "<!-- quality-guard: vtest_lines 10 fps -->",
        "tests/truth/vtest_lines_eval.toml",
        "vtest_lines.toml",
        "vtest.avi",
        10,
    );
}

#[test]
fn zone_entries_on_vtest_keep_their_recorded_precision_and_recall() {
    guard(
        "<!-- quality-guard: vtest_zones 10 fps -->",
        "tests/truth/vtest_zones_eval.toml",
        "vtest_zones.toml",
        "vtest.avi",
        10,
    );
}

#[test]
fn the_hard_lines_and_zone_on_vtest_keep_their_recorded_precision_and_recall() {
    guard(
        "<!-- quality-guard: vtest_hard 10 fps -->",
        "tests/truth/vtest_hard_eval.toml",
        "vtest_hard.toml",
        "vtest.avi",
        10,
    );
}

#[test]
fn the_second_walkway_scene_keeps_its_recorded_precision_and_recall() {
    guard(
        "<!-- quality-guard: mirror_walkway 10 fps -->",
        "tests/truth/mirror_walkway_eval.toml",
        "mirror_walkway.toml",
        "walkway_mirror_v2_640x428_15fps.mp4",
        10,
    );
}

#[test]
fn restricted_objects_on_bikes_keep_their_recorded_precision_and_recall() {
    guard(
        "<!-- quality-guard: bikes_objects 25 fps -->",
        "tests/truth/bikes_objects_eval.toml",
        "bikes_objects.toml",
        "bikes.mp4",
        25,
    );
}

#[test]
fn throws_on_the_facade_clips_keep_their_recorded_precision_and_recall() {
    for (marker, labels, clip) in [
        (
            "<!-- quality-guard: facade_throws -->",
            "facade_throws.toml",
            "throw_parabola_640x360_25fps.mp4",
        ),
        (
            "<!-- quality-guard: facade_sideways -->",
            "facade_sideways.toml",
            "throw_sideways_640x360_25fps.mp4",
        ),
    ] {
        guard(marker, "tests/replay/facade_throw.toml", labels, clip, 5);
    }
}

#[test]
fn the_guard_reads_the_recorded_table() {
    let doc = "x\n<!-- quality-guard: t -->\n| rule | labelled | raised | tp | fp | missed | precision | recall | d |\n|--|--|--|--|--|--|--|--|--|\n| a | 4 | 4 | 4 | 0 | 0 | 100% | 75% | 0.4 |\n<!-- end quality-guard -->\n| b | 1 |";
    assert_eq!(
        recorded(doc, "<!-- quality-guard: t -->"),
        vec![("a".to_string(), 4, 100.0, 75.0)]
    );
}
