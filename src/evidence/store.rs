//! Where the box keeps its evidence: `<state_dir>/evidence/` holds the key
//! pair ([`super::keys`]), `clips/` the MP4s with their signed manifests,
//! and `chain.json` the sequence number and hash of the last manifest, so
//! the chain goes on across restarts. [`ClipStore::sweep`] deletes clips
//! older than the retention (logged, one line each): nothing outlives it
//! silently.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::keys;
use super::manifest::{Body, Manifest, sha256_hex};
use super::verify::MANIFEST_SUFFIX;

/// The evidence folder under the state directory.
pub const DIR: &str = "evidence";
const CLIPS: &str = "clips";
const CHAIN: &str = "chain.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Head {
    seq: u64,
    manifest_sha256: Option<String>,
}

/// The sealed clip of `incident` the box keeps under `state_dir`: the MP4
/// whose signed manifest lies beside it (one still being encoded, or
/// whose manifest is gone, is not handed out). `None` also for anything
/// but an incident id, which is a UUID: nothing else can name a file.
pub fn sealed_clip(state_dir: &Path, incident: &str) -> Option<PathBuf> {
    let id = uuid::Uuid::parse_str(incident).ok()?.hyphenated().to_string();
    let clips = state_dir.join(DIR).join(CLIPS);
    let suffix = format!("_{id}.mp4");
    std::fs::read_dir(&clips)
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().to_str().map(str::to_string))
        .filter(|name| name.ends_with(&suffix))
        .find(|name| {
            let stem = name.trim_end_matches(".mp4");
            clips.join(format!("{stem}{MANIFEST_SUFFIX}")).is_file()
        })
        .map(|name| clips.join(name))
}

/// The box's clips, their chain and its key.
pub struct ClipStore {
    dir: PathBuf,
    key: SigningKey,
    head: Head,
}

impl ClipStore {
    /// Opens (making when missing) the evidence folder under `state_dir`,
    /// the key pair included.
    pub fn open(state_dir: &Path) -> Result<Self, String> {
        let dir = state_dir.join(DIR);
        std::fs::create_dir_all(dir.join(CLIPS)).map_err(|e| format!("{}: {e}", dir.display()))?;
        let key = keys::load_or_create(&dir).map_err(|e| e.to_string())?;
        let head = match std::fs::read(dir.join(CHAIN)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", dir.join(CHAIN).display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Head::default(),
            Err(e) => return Err(format!("{}: {e}", dir.join(CHAIN).display())),
        };
        Ok(Self { dir, key, head })
    }

    /// The folder new clips are encoded into.
    pub fn clips(&self) -> PathBuf {
        self.dir.join(CLIPS)
    }

    /// The public key, hex, as `box.pub` holds it.
    pub fn public_key(&self) -> String {
        keys::hex(self.key.verifying_key().as_bytes())
    }

    /// Signs `body` as the next manifest of the chain and writes it beside
    /// its clip; returns it and its file's SHA-256.
    pub fn seal(&mut self, mut body: Body) -> Result<(Manifest, String), String> {
        body.seq = self.head.seq + 1;
        body.prev_manifest_sha256 = self.head.manifest_sha256.clone();
        let stem = body
            .clip_file
            .strip_suffix(".mp4")
            .unwrap_or(&body.clip_file)
            .to_string();
        let manifest = Manifest::sign(body, &self.key);
        let bytes = manifest.to_bytes();
        let path = self.clips().join(format!("{stem}{MANIFEST_SUFFIX}"));
        write_atomic(&path, &bytes)?;
        let sha = sha256_hex(&bytes);
        let head = Head {
            seq: manifest.body.seq,
            manifest_sha256: Some(sha.clone()),
        };
        write_atomic(
            &self.dir.join(CHAIN),
            &serde_json::to_vec(&head).map_err(|e| e.to_string())?,
        )?;
        self.head = head;
        Ok((manifest, sha))
    }

    /// Deletes the clips and manifests last written more than `retention`
    /// ago, each logged; returns how many clips went.
    pub fn sweep(&self, retention: Duration) -> usize {
        let Ok(entries) = std::fs::read_dir(self.clips()) else {
            return 0;
        };
        let now = SystemTime::now();
        let mut deleted = 0;
        for path in entries.flatten().map(|e| e.path()) {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let Some(stem) = name.strip_suffix(MANIFEST_SUFFIX) else {
                // a clip whose manifest was never written (the box stopped
                // while it was encoded) goes after the retention too
                if name.ends_with(".mp4")
                    && !self
                        .clips()
                        .join(format!("{}{MANIFEST_SUFFIX}", name.trim_end_matches(".mp4")))
                        .exists()
                    && older(&path, now, retention)
                {
                    let _ = std::fs::remove_file(&path);
                    tracing::info!(clip = %name, "an unsealed evidence clip is deleted after the retention");
                }
                continue;
            };
            if !older(&path, now, retention) {
                continue;
            }
            let clip = self.clips().join(format!("{stem}.mp4"));
            let removed = std::fs::remove_file(&clip).or_else(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(e),
            });
            match removed.and_then(|()| std::fs::remove_file(&path)) {
                Ok(()) => {
                    deleted += 1;
                    tracing::info!(clip = %stem, retention_days = retention.as_secs() / 86_400,
                        "evidence clip deleted: older than the retention");
                }
                Err(e) => tracing::warn!(clip = %stem, error = %e, "cannot delete an evidence clip past the retention"),
            }
        }
        deleted
    }
}

fn older(path: &Path, now: SystemTime, retention: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| now.duration_since(t).ok())
        .is_some_and(|age| age > retention)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(path: &Path, by: Duration) {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn clips_older_than_the_retention_are_deleted_and_the_chain_goes_on() {
        let state = tempfile::tempdir().unwrap();
        let mut store = ClipStore::open(state.path()).unwrap();
        let clips = store.clips();
        for name in ["old", "new"] {
            std::fs::write(clips.join(format!("{name}.mp4")), name).unwrap();
            let manifest = Manifest::parse(
                br#"{"body":{"version":1,"seq":0,"incident_id":"i","site":"s","box_id":"b","camera":"c","rule":"r",
                "incident_start":"t","from":"t","to":"t","frames":1,"fps":5,"width":640,"height":360,
                "redaction":{"covers":["heads"],"detector":"d","detector_sha256":"0","face_model":null,
                "face_model_sha256":null,"face_search_every":3,"covered_whole":0},"clip_file":"x.mp4","clip_bytes":1,
                "clip_sha256":"0","prev_manifest_sha256":null},"signature":""}"#,
            )
            .unwrap();
            let mut body = manifest.body;
            body.clip_file = format!("{name}.mp4");
            store.seal(body).unwrap();
        }
        let week = Duration::from_secs(7 * 86_400);
        age(
            &clips.join(format!("old{MANIFEST_SUFFIX}")),
            week + Duration::from_secs(60),
        );
        age(&clips.join("old.mp4"), week + Duration::from_secs(60));
        assert_eq!(store.sweep(week), 1);
        assert!(!clips.join("old.mp4").exists() && !clips.join(format!("old{MANIFEST_SUFFIX}")).exists());
        assert!(clips.join("new.mp4").exists());
        // reopened, the chain goes on from the last manifest
        let mut again = ClipStore::open(state.path()).unwrap();
        let bytes = std::fs::read(clips.join(format!("new{MANIFEST_SUFFIX}"))).unwrap();
        let mut next = Manifest::parse(&bytes).unwrap().body;
        next.clip_file = "third.mp4".into();
        let (sealed, _) = again.seal(next).unwrap();
        assert_eq!(sealed.body.seq, 3);
        assert_eq!(sealed.body.prev_manifest_sha256, Some(sha256_hex(&bytes)));
    }

    #[test]
    fn a_sealed_clip_is_found_by_its_incident_and_nothing_else_names_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let clips = dir.path().join(DIR).join(CLIPS);
        std::fs::create_dir_all(&clips).unwrap();
        let sealed = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        let encoding = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";
        for id in [sealed, encoding] {
            std::fs::write(clips.join(format!("20261207T001500Z_gate_{id}.mp4")), b"mp4").unwrap();
        }
        std::fs::write(
            clips.join(format!("20261207T001500Z_gate_{sealed}{MANIFEST_SUFFIX}")),
            b"{}",
        )
        .unwrap();
        let found = sealed_clip(dir.path(), sealed).expect("the sealed clip");
        assert_eq!(std::fs::read(found).unwrap(), b"mp4");
        assert!(
            sealed_clip(dir.path(), &sealed.to_uppercase()).is_some(),
            "any spelling of the id"
        );
        assert!(
            sealed_clip(dir.path(), encoding).is_none(),
            "no manifest yet: not handed out"
        );
        for bad in ["../../etc/passwd", "gate", "", "*"] {
            assert!(sealed_clip(dir.path(), bad).is_none(), "{bad}");
        }
    }
}
