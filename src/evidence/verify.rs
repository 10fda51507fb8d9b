//! `watchpost verify CLIP|DIR --key box.pub`: checks evidence as the office
//! receives it. For one clip (its `.mp4` or its `.manifest.json`): the
//! manifest's signature with the box's public key, and that the MP4 is the
//! one it names (size and SHA-256). For a folder: every clip in it so, and
//! the chain — manifests in sequence, each naming the SHA-256 of the one
//! before — so a clip deleted or replaced in the middle is found. The
//! oldest manifest's predecessor may be gone (clips older than the
//! retention are deleted). Each kind of failure has its own exit code
//! ([`Failure::code`]), documented in docs/privacy.md.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;

use super::manifest::{Manifest, ManifestError, sha256_hex};
use crate::anonymize::video::sha256_file;
use crate::evidence::keys::hex;

/// A manifest's file name ends with this, beside its clip.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

/// Why evidence fails verification; each has its exit code.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("the public key: {0}")]
    Key(String),
    #[error("{path}: the manifest cannot be read: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{path}: the signature does not match (the manifest was altered, or signed by another key)")]
    Signature { path: PathBuf },
    #[error("{path}: the clip is not the one its manifest names: {reason}")]
    Content { path: PathBuf, reason: String },
    #[error("the chain is broken before seq {seq} ({path}): {reason}")]
    Chain { path: PathBuf, seq: u64, reason: String },
}

impl Failure {
    /// The process exit code: 2 usage, 3 key, 4 manifest unreadable,
    /// 5 signature, 6 content, 7 chain.
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Key(_) => 3,
            Failure::Manifest { .. } => 4,
            Failure::Signature { .. } => 5,
            Failure::Content { .. } => 6,
            Failure::Chain { .. } => 7,
        }
    }
}

/// What a successful verification checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Clips checked, with their manifests' sequence numbers.
    pub clips: Vec<(u64, PathBuf)>,
    /// For a folder: the first sequence number of the chain, when its
    /// predecessor is no longer there (deleted after the retention).
    pub chain_starts_after: Option<u64>,
}

/// Verifies a clip, a manifest or a folder of clips with `key`.
pub fn verify(path: &Path, key: &VerifyingKey) -> Result<Verified, Failure> {
    if path.is_dir() {
        return verify_dir(path, key);
    }
    let manifest_path = manifest_of(path);
    let (manifest, _) = check_clip(&manifest_path, key)?;
    Ok(Verified {
        clips: vec![(manifest.body.seq, manifest_path)],
        chain_starts_after: None,
    })
}

/// The manifest of a clip path (itself when it is one).
pub fn manifest_of(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if name.ends_with(MANIFEST_SUFFIX) {
        return path.to_path_buf();
    }
    let stem = name.strip_suffix(".mp4").unwrap_or(&name);
    path.with_file_name(format!("{stem}{MANIFEST_SUFFIX}"))
}

/// Checks one manifest and its clip; returns it and its file's SHA-256.
fn check_clip(manifest_path: &Path, key: &VerifyingKey) -> Result<(Manifest, String), Failure> {
    let unreadable = |reason: String| Failure::Manifest {
        path: manifest_path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(manifest_path).map_err(|e| unreadable(e.to_string()))?;
    let manifest = Manifest::parse(&bytes).map_err(|e| unreadable(e.to_string()))?;
    match manifest.verify(key) {
        Ok(()) => {}
        Err(ManifestError::BadSignature) | Err(ManifestError::Malformed(_)) => {
            return Err(Failure::Signature {
                path: manifest_path.to_path_buf(),
            });
        }
    }
    let body = &manifest.body;
    if body.clip_file.contains('/') || body.clip_file.contains("..") {
        return Err(unreadable(format!("clip_file `{}` is not a file name", body.clip_file)));
    }
    let clip = manifest_path.with_file_name(&body.clip_file);
    let content = |reason: String| Failure::Content {
        path: clip.clone(),
        reason,
    };
    let size = std::fs::metadata(&clip).map_err(|e| content(e.to_string()))?.len();
    if size != body.clip_bytes {
        return Err(content(format!("{size} bytes, the manifest says {}", body.clip_bytes)));
    }
    let sha = hex(&sha256_file(&clip).map_err(|e| content(e.to_string()))?);
    if sha != body.clip_sha256 {
        return Err(content(format!(
            "SHA-256 {sha}, the manifest says {}",
            body.clip_sha256
        )));
    }
    Ok((manifest, sha256_hex(&bytes)))
}

fn verify_dir(dir: &Path, key: &VerifyingKey) -> Result<Verified, Failure> {
    let mut manifests = Vec::new();
    collect(dir, &mut manifests).map_err(|e| Failure::Usage(format!("{}: {e}", dir.display())))?;
    if manifests.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: no clip manifests (*{MANIFEST_SUFFIX})",
            dir.display()
        )));
    }
    let mut checked = Vec::with_capacity(manifests.len());
    for path in manifests {
        let (manifest, sha) = check_clip(&path, key)?;
        checked.push((manifest.body.seq, manifest.body.prev_manifest_sha256.clone(), sha, path));
    }
    checked.sort_by_key(|(seq, ..)| *seq);
    for pair in checked.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        let broken = |reason: String| Failure::Chain {
            path: after.3.clone(),
            seq: after.0,
            reason,
        };
        if after.0 == before.0 {
            return Err(broken(format!("two manifests have seq {}", after.0)));
        }
        if after.0 != before.0 + 1 {
            return Err(broken(format!(
                "seq {} follows seq {}: {} clip(s) missing",
                after.0,
                before.0,
                after.0 - before.0 - 1
            )));
        }
        if after.1.as_deref() != Some(before.2.as_str()) {
            return Err(broken(format!(
                "it names the previous manifest {}, but seq {} is {}",
                after.1.as_deref().unwrap_or("none"),
                before.0,
                before.2
            )));
        }
    }
    let first = &checked[0];
    Ok(Verified {
        chain_starts_after: first.1.as_ref().map(|_| first.0),
        clips: checked.into_iter().map(|(seq, _, _, path)| (seq, path)).collect(),
    })
}

/// Manifests under `dir`, its sub-folders included.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.to_string_lossy().ends_with(MANIFEST_SUFFIX) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::keys;
    use crate::evidence::manifest::{Body, Redaction, VERSION};
    use crate::evidence::store::ClipStore;

    /// Three clips sealed in a chain by a real store; the folder, the key.
    fn chain() -> (tempfile::TempDir, PathBuf, VerifyingKey) {
        let state = tempfile::tempdir().unwrap();
        let mut store = ClipStore::open(state.path()).unwrap();
        for i in 0..3u8 {
            let name = format!("clip{i}.mp4");
            let bytes = vec![i; 1000 + usize::from(i)];
            std::fs::write(store.clips().join(&name), &bytes).unwrap();
            store.seal(body(&name, &bytes)).unwrap();
        }
        let clips = store.clips();
        let key = keys::read_public(&state.path().join("evidence").join(keys::PUBLIC)).unwrap();
        (state, clips, key)
    }

    fn body(file: &str, bytes: &[u8]) -> Body {
        Body {
            version: VERSION,
            seq: 0,
            incident_id: file.into(),
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
                covers: vec!["heads".into()],
                detector: "coco".into(),
                detector_sha256: "00".into(),
                face_model: None,
                face_model_sha256: None,
                face_search_every: 3,
                covered_whole: 0,
            },
            clip_file: file.into(),
            clip_bytes: bytes.len() as u64,
            clip_sha256: sha256_hex(bytes),
            prev_manifest_sha256: None,
        }
    }

    #[test]
    fn a_sealed_chain_verifies_and_each_tampering_has_its_failure() {
        let (_state, clips, key) = chain();
        let verified = verify(&clips, &key).unwrap();
        assert_eq!(verified.clips.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(verified.chain_starts_after, None);
        assert!(verify(&clips.join("clip1.mp4"), &key).is_ok());

        // one byte of a clip changed
        let clip = clips.join("clip1.mp4");
        let original = std::fs::read(&clip).unwrap();
        let mut changed = original.clone();
        changed[10] ^= 1;
        std::fs::write(&clip, &changed).unwrap();
        assert_eq!(verify(&clips, &key).unwrap_err().code(), 6);
        assert_eq!(verify(&clip, &key).unwrap_err().code(), 6);
        std::fs::write(&clip, &original).unwrap();

        // a manifest field changed
        let manifest = clips.join(format!("clip1{MANIFEST_SUFFIX}"));
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, text.replace("\"north\"", "\"south\"")).unwrap();
        assert_eq!(verify(&clips, &key).unwrap_err().code(), 5);
        std::fs::write(&manifest, &text).unwrap();
        assert!(verify(&clips, &key).is_ok());

        // the clip in the middle deleted, manifest and all
        std::fs::remove_file(&manifest).unwrap();
        std::fs::remove_file(&clip).unwrap();
        let failure = verify(&clips, &key).unwrap_err();
        assert_eq!(failure.code(), 7, "{failure}");

        // the oldest deleted (retention): the chain starts later
        let (_state, clips, key) = chain();
        std::fs::remove_file(clips.join(format!("clip0{MANIFEST_SUFFIX}"))).unwrap();
        std::fs::remove_file(clips.join("clip0.mp4")).unwrap();
        assert_eq!(verify(&clips, &key).unwrap().chain_starts_after, Some(2));

        // another box's key
        let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]).verifying_key();
        assert_eq!(verify(&clips, &other).unwrap_err().code(), 5);
    }
}
