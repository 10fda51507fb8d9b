//! A random-mutation fuzz of configs and model manifests: the shipped
//! configs, the test corpus and every manifest, mutated with a seeded RNG
//! (bytes, lines, numbers, strings, TOML punctuation), each checked
//! in-process by the same entry points `check-config` uses
//! (`plan::check_text`, `infer::manifest::check_text`) and every problem
//! rendered as `file:line:col`; a config that passes is also printed as
//! `run --print-config` does and its cameras' pipeline specs and rule
//! engines built and stepped. Bad input must give diagnostics, never a
//! panic. A failing case is written to `target/fuzz-failures/` to replay.
//!
//! The inputs are checked inside a copy of the files they point at (a
//! sandbox), where the big model file is replaced by a tiny one with its
//! own sha256 in the manifest: the check is the same, without hashing
//! 18 MB per case.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use watchpost::config::Diagnostics;

const SEED: u64 = 0x5eed_c0f1_9000_0020;
const CONFIG_CASES: usize = 12_000;
const MANIFEST_CASES: usize = 6_000;

/// Numbers that have broken parsers and checks before.
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "-1",
    "1",
    "0.0",
    "-0.5",
    "1e309",
    "-1e309",
    "1e-320",
    "nan",
    "inf",
    "-inf",
    "255",
    "256",
    "65535",
    "65536",
    "4096",
    "4097",
    "2147483647",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "99999999999999999999999",
    "0x7fffffff",
    "1_000",
];

/// Strings and TOML punctuation spliced in.
const TOKENS: &[&str] = &[
    "\"\"",
    "\"\\u0000\"",
    "\"ü/../..\"",
    "[]",
    "[[]]",
    "{}",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "\"",
    "'''",
    "#",
    "\n",
    "\n[[cameras]]\n",
    "\n[[cameras.zones]]\n",
    "\n[[cameras.rules]]\n",
    "\n[models.x]\n",
    "\n[output]\n",
    "\n[labels]\n",
    "true",
    "false",
    "[[0.0, 0.0], [1.0, 0.0]]",
    "[[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]",
    "[0]",
    "[0, 0, 0]",
    "1979-05-27T07:32:00Z",
];

/// The sandbox: the corpus's folders as they are in the repository, with
/// the manifests' model files replaced by a tiny one.
struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = tempfile::tempdir().unwrap();
        let copy_dir = |from: &Path, to: &Path| {
            std::fs::create_dir_all(to).unwrap();
            for entry in std::fs::read_dir(from).unwrap().flatten() {
                let path = entry.path();
                if path.is_file() && path.metadata().unwrap().len() < 1 << 20 {
                    std::fs::copy(&path, to.join(entry.file_name())).unwrap();
                }
            }
        };
        for sub in [
            "configs",
            "tests/configs/valid",
            "tests/configs/invalid",
            "tests/configs/models",
            "tests/configs/secrets",
            "tests/models",
            "models",
        ] {
            copy_dir(&root.join(sub), &dir.path().join(sub));
        }
        // The demo's console password hash, made by scripts/setup (any hash will do).
        std::fs::create_dir_all(dir.path().join("var")).unwrap();
        std::fs::write(
            dir.path().join("var/console.hash"),
            watchpost::console::auth::hash_password("sandbox").unwrap(),
        )
        .unwrap();
        // A tiny stand-in for each big model, with its sha256 in the manifest.
        let tiny = root.join("tests/models/yolov5_test.onnx");
        let tiny_sha = watchpost::infer::manifest::sha256_file(&tiny).unwrap();
        for manifest in [
            "models/ssd_mobilenet_v2_coco.toml",
            "models/ssd_mobilenet_v2_coco_int8.toml",
            "models/centerface.toml",
        ] {
            let path = dir.path().join(manifest);
            let text = std::fs::read_to_string(&path).unwrap();
            let mut out = String::new();
            for line in text.lines() {
                if line.starts_with("sha256") {
                    out += &format!("sha256 = \"{tiny_sha}\"\n");
                } else {
                    out += line;
                    out.push('\n');
                    if let Some(file) = line.strip_prefix("file = \"").and_then(|l| l.strip_suffix('"')) {
                        std::fs::copy(&tiny, dir.path().join("models").join(file)).unwrap();
                    }
                }
            }
            std::fs::write(&path, out).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("media")).unwrap();
        std::fs::write(dir.path().join("media/vtest.avi"), b"not a video").unwrap();
        Self { dir }
    }

    /// The sandbox's copies of the `.toml` files in `sub`.
    fn seeds(&self, subs: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
        let mut seeds = Vec::new();
        for sub in subs {
            let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join(sub))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            files.sort();
            seeds.extend(files.into_iter().map(|p| {
                let bytes = std::fs::read(&p).unwrap();
                (p, bytes)
            }));
        }
        seeds
    }
}

/// Spans of ASCII digits (with a sign, dot or exponent) in `text`.
fn number_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_digit() {
            let start = if i > 0 && text[i - 1] == b'-' { i - 1 } else { i };
            let mut end = i;
            while end < text.len() && (text[end].is_ascii_digit() || b".eE_+-".contains(&text[end])) {
                end += 1;
            }
            spans.push((start, end));
            i = end;
        } else {
            i += 1;
        }
    }
    spans
}

/// Spans of `"…"` strings on one line.
fn string_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut open = None;
    for (i, &b) in text.iter().enumerate() {
        match (b, open) {
            (b'"', None) => open = Some(i),
            (b'"', Some(start)) => {
                spans.push((start, i + 1));
                open = None;
            }
            (b'\n', _) => open = None,
            _ => {}
        }
    }
    spans
}

/// One random mutation of `text`.
fn mutate_once(rng: &mut fastrand::Rng, text: &mut Vec<u8>) {
    let len = text.len().max(1);
    match rng.u8(0..10) {
        // A byte flipped, or set to something odd.
        0 => {
            if !text.is_empty() {
                let i = rng.usize(0..text.len());
                let any = rng.u8(..);
                text[i] = *rng.choice(&[0u8, b'"', b'[', b'=', b'\n', 0xff, b'\\', any]).unwrap();
            }
        }
        // A range deleted.
        1 => {
            let a = rng.usize(0..len);
            let b = (a + rng.usize(0..64)).min(text.len());
            if a < b {
                text.drain(a..b);
            }
        }
        // A range copied elsewhere.
        2 => {
            let a = rng.usize(0..len);
            let b = (a + rng.usize(0..200)).min(text.len());
            let piece = text.get(a..b).unwrap_or_default().to_vec();
            let at = rng.usize(0..=text.len());
            text.splice(at..at, piece);
        }
        // A number replaced.
        3 | 4 => {
            let spans = number_spans(text);
            if let Some(&(a, b)) = rng.choice(&spans) {
                let n = rng.choice(NUMBERS).unwrap().as_bytes();
                text.splice(a..b, n.iter().copied());
            }
        }
        // A string replaced: emptied, grown, or given odd bytes.
        5 => {
            let spans = string_spans(text);
            if let Some(&(a, b)) = rng.choice(&spans) {
                let new: Vec<u8> = match rng.u8(0..3) {
                    0 => b"\"\"".to_vec(),
                    1 => {
                        let mut s = text[a..b - 1].to_vec();
                        s.extend(std::iter::repeat_n(b'x', rng.usize(1..5000)));
                        s.push(b'"');
                        s
                    }
                    _ => "\"\u{0}\u{202e}/../..\\n\"".as_bytes().to_vec(),
                };
                text.splice(a..b, new);
            }
        }
        // A token spliced in.
        6 | 7 => {
            let at = rng.usize(0..=text.len());
            let token = rng.choice(TOKENS).unwrap().as_bytes();
            text.splice(at..at, token.iter().copied());
        }
        // A line deleted or doubled.
        8 => {
            let lines: Vec<usize> = std::iter::once(0)
                .chain(
                    text.iter()
                        .enumerate()
                        .filter(|(_, b)| **b == b'\n')
                        .map(|(i, _)| i + 1),
                )
                .collect();
            let i = rng.usize(0..lines.len());
            let a = lines[i];
            let b = lines.get(i + 1).copied().unwrap_or(text.len()).min(text.len());
            if a < b {
                if rng.bool() {
                    text.drain(a..b);
                } else {
                    let line = text[a..b].to_vec();
                    text.splice(b..b, line);
                }
            }
        }
        // Cut short.
        _ => {
            let at = rng.usize(0..=text.len());
            text.truncate(at);
        }
    }
}

/// Runs `check` on `cases` mutants of the seeds; returns the failures
/// (seed file and case number), each written to target/fuzz-failures/.
/// `check` returns whether it got as far as a whole plan or manifest.
fn fuzz(
    name: &str,
    seeds: &[(PathBuf, Vec<u8>)],
    cases: usize,
    check: impl Fn(&Path, String, &mut Diagnostics) -> bool,
) -> Vec<String> {
    assert!(!seeds.is_empty());
    // A longer or different search: FUZZ_SCALE=10 FUZZ_SEED=7 cargo test --release --test suite fuzz_config::
    let env = |key: &str| std::env::var(key).ok().and_then(|v| v.parse::<u64>().ok());
    let cases = cases * env("FUZZ_SCALE").unwrap_or(1) as usize;
    let mut rng = fastrand::Rng::with_seed(SEED ^ env("FUZZ_SEED").unwrap_or(0) ^ name.len() as u64);
    let mut failures = Vec::new();
    let (mut clean, mut built, mut problems) = (0, 0, 0);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
    for case in 0..cases {
        let (path, seed) = &seeds[case % seeds.len()];
        let mut text = seed.clone();
        for _ in 0..rng.usize(1..=4) {
            mutate_once(&mut rng, &mut text);
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut diags = Diagnostics::default();
            let whole = check(path, text.clone(), &mut diags);
            // Every problem renders with its place.
            (whole, diags.into_sorted().iter().map(ToString::to_string).count())
        }));
        match result {
            Ok((true, 0)) => clean += 1,
            Ok((true, n)) => (built, problems) = (built + 1, problems + n),
            Ok((false, n)) => problems += n,
            Err(_) => {}
        }
        if result.is_err() {
            let _ = std::fs::create_dir_all(&out);
            let saved = out.join(format!("{name}-{case}.toml"));
            let _ = std::fs::write(&saved, &text);
            failures.push(format!(
                "{} (case {case}, saved as {})",
                path.display(),
                saved.display()
            ));
        }
    }
    println!(
        "{name}: {cases} mutants of {} seeds: {clean} still valid, {built} more checked through with problems, \
         {problems} problems rendered, {} panics",
        seeds.len(),
        failures.len()
    );
    failures
}

#[test]
fn mutated_configs_never_panic_the_check() {
    let sandbox = Sandbox::new();
    let seeds = sandbox.seeds(&["configs", "tests/configs/valid", "tests/configs/invalid"]);
    assert!(seeds.len() >= 40, "{} seeds", seeds.len());
    // The sandbox is faithful: its valid configs pass as they are.
    for (path, text) in seeds
        .iter()
        .filter(|(p, _)| !p.starts_with(sandbox.dir.path().join("tests/configs/invalid")))
    {
        let mut diags = Diagnostics::default();
        let plan = watchpost::plan::check_text(path, String::from_utf8(text.clone()).unwrap(), &mut diags);
        let shown: Vec<String> = diags.into_sorted().iter().map(ToString::to_string).collect();
        assert!(plan.is_some() && shown.is_empty(), "{}: {shown:#?}", path.display());
    }
    // Mutants of a valid config get furthest into the checks: most cases start from one.
    let valid: Vec<_> = seeds
        .iter()
        .filter(|(p, _)| !p.starts_with(sandbox.dir.path().join("tests/configs/invalid")))
        .cloned()
        .collect();
    let mut weighted = seeds.clone();
    for _ in 0..15 {
        weighted.extend(valid.iter().cloned());
    }
    let failures = fuzz("config", &weighted, CONFIG_CASES, |path, text, diags| {
        let plan = watchpost::plan::check_text(path, text.clone(), diags);
        // What `run --print-config` shows of it, and what a camera builds from it.
        if let Some(plan) = &plan {
            let _ = watchpost::plan::effective::render(plan, &text);
            for camera in &plan.cameras {
                let _ = camera.stream_spec();
                let labels = camera.detect.model.manifest.labels.clone();
                let mut engine = watchpost::rules::RuleEngine::new(&camera.rules, labels);
                let (mut out, wall) = (Vec::new(), std::time::SystemTime::now());
                for secs in [0, 1, 3600] {
                    engine.step(&[], std::time::Duration::from_secs(secs), wall, &mut out);
                }
                engine.finish(std::time::Duration::from_secs(7200), wall, &mut out);
            }
        }
        plan.is_some()
    });
    assert!(
        failures.is_empty(),
        "{} of {CONFIG_CASES} mutated configs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn mutated_manifests_never_panic_the_check() {
    let sandbox = Sandbox::new();
    let seeds = sandbox.seeds(&["models", "tests/models", "tests/configs/models"]);
    // The sandbox is faithful: the shipped manifests pass as they are.
    for (path, text) in seeds
        .iter()
        .filter(|(p, _)| !p.starts_with(sandbox.dir.path().join("tests/configs")))
    {
        let mut diags = Diagnostics::default();
        let manifest =
            watchpost::infer::manifest::check_text(path, String::from_utf8(text.clone()).unwrap(), &mut diags);
        let shown: Vec<String> = diags.into_sorted().iter().map(ToString::to_string).collect();
        assert!(manifest.is_some() && shown.is_empty(), "{}: {shown:#?}", path.display());
    }
    assert!(seeds.len() >= 6, "{} seeds", seeds.len());
    let failures = fuzz("manifest", &seeds, MANIFEST_CASES, |path, text, diags| {
        watchpost::infer::manifest::check_text(path, text, diags).is_some()
    });
    assert!(
        failures.is_empty(),
        "{} of {MANIFEST_CASES} mutated manifests panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
