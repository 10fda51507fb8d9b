//! The manifest of an evidence clip: what the clip is (incident, site, box,
//! camera, time range, frames, redaction policy, the models' hashes, the
//! SHA-256 of its MP4), the hash of the box's previous manifest (a chain:
//! a clip deleted or altered in the middle breaks it), and an Ed25519
//! signature by the box's key over all of that. It is written as JSON
//! beside the clip (`<clip>.manifest.json`); the signature covers the
//! manifest's body exactly as [`Body`] serialises it (fields in this
//! order, no spaces), so the office can check it with any Ed25519 library.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::keys::{from_hex, hex};

/// The manifest format's version.
pub const VERSION: u32 = 1;

/// What a manifest says of its clip; the signed part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    /// Manifest format: 1.
    pub version: u32,
    /// Per box, one more for every clip, across restarts.
    pub seq: u64,
    pub incident_id: String,
    pub site: String,
    pub box_id: String,
    pub camera: String,
    pub rule: String,
    /// The incident's start, ISO-8601 UTC.
    pub incident_start: String,
    /// The first and last frame of the clip, ISO-8601 UTC.
    pub from: String,
    pub to: String,
    pub frames: u64,
    pub fps: u32,
    pub width: u32,
    pub height: u32,
    /// How the frames were redacted.
    pub redaction: Redaction,
    /// The MP4's file name (in the manifest's folder), size and SHA-256.
    pub clip_file: String,
    pub clip_bytes: u64,
    pub clip_sha256: String,
    /// The SHA-256 of the box's previous manifest file; none for its first clip.
    pub prev_manifest_sha256: Option<String>,
}

/// A clip's redaction, as its manifest records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// What the camera's policy covers, e.g. ["faces", "heads"].
    pub covers: Vec<String>,
    /// The detector whose boxes covered each frame, and its file's SHA-256.
    pub detector: String,
    pub detector_sha256: String,
    /// The face model and its file's SHA-256, when faces are searched.
    pub face_model: Option<String>,
    pub face_model_sha256: Option<String>,
    /// Every this many frames the face model searched the frame.
    pub face_search_every: u32,
    /// Frames covered whole because their faces could not be searched for.
    pub covered_whole: u64,
}

/// A signed manifest, as written to disk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub body: Body,
    /// Ed25519 signature of the body's JSON, hex.
    pub signature: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("not a manifest: {0}")]
    Malformed(String),
    #[error("the signature does not match the manifest and key")]
    BadSignature,
}

impl Manifest {
    /// Signs `body` with the box's key.
    pub fn sign(body: Body, key: &SigningKey) -> Self {
        let signature = key.sign(&signed_bytes(&body));
        Self {
            body,
            signature: hex(&signature.to_bytes()),
        }
    }

    /// The file's bytes: pretty JSON, ending in a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, ManifestError> {
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Malformed(e.to_string()))
    }

    /// Checks the signature against the body with `key`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ManifestError> {
        let bytes = from_hex::<64>(&self.signature).ok_or(ManifestError::BadSignature)?;
        key.verify(&signed_bytes(&self.body), &Signature::from_bytes(&bytes))
            .map_err(|_| ManifestError::BadSignature)
    }
}

/// The bytes the signature covers: the body's compact JSON.
fn signed_bytes(body: &Body) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// SHA-256 of `bytes`, hex: how a manifest file is named in the chain.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Body {
        Body {
            version: VERSION,
            seq: 1,
            incident_id: "0193-aa".into(),
            site: "maple-court".into(),
            box_id: "gatehouse-1".into(),
            camera: "north".into(),
            rule: "gate".into(),
            incident_start: "2026-12-06T22:00:00Z".into(),
            from: "2026-12-06T21:59:50Z".into(),
            to: "2026-12-06T22:00:10Z".into(),
            frames: 100,
            fps: 5,
            width: 640,
            height: 360,
            redaction: Redaction {
                covers: vec!["faces".into(), "heads".into()],
                detector: "ssd".into(),
                detector_sha256: "00".into(),
                face_model: Some("faces".into()),
                face_model_sha256: Some("11".into()),
                face_search_every: 3,
                covered_whole: 0,
            },
            clip_file: "a.mp4".into(),
            clip_bytes: 10,
            clip_sha256: "22".into(),
            prev_manifest_sha256: None,
        }
    }

    #[test]
    fn a_signed_manifest_reads_back_and_a_changed_field_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let signed = Manifest::sign(body(), &key);
        let read = Manifest::parse(&signed.to_bytes()).unwrap();
        assert_eq!(read, signed);
        assert_eq!(read.verify(&key.verifying_key()), Ok(()));
        let mut changed = read.clone();
        changed.body.camera = "south".into();
        assert_eq!(changed.verify(&key.verifying_key()), Err(ManifestError::BadSignature));
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(read.verify(&other.verifying_key()), Err(ManifestError::BadSignature));
    }
}
