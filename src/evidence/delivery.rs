//! How a sealed clip reaches the security office: through the outbox, like
//! every incident event, so it survives a broker away and a restart. The
//! signed manifest is kept as an event is (`<prefix>/<camera>/clips/<incident>/manifest`,
//! JSON); the MP4 follows in parts of [`PART_BYTES`] on
//! `…/part/<i>/<n>`, each a durable record delivered at QoS 1 on its own,
//! so delivery resumes at the first part the broker has not acknowledged.
//! The parts are bounded with the snapshots by the outbox's byte bound:
//! when space is short they are dropped before any event (counted with
//! the dropped snapshots); the office sees the gap against the manifest's
//! size and hash. Later events of the incident name the clip and its
//! manifest's hash ([`Delivery::sealed`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::anonymize::EncodedClip;
use crate::publish::{Outbox, Topics};

/// Bytes of one part of a clip: small enough for any broker's packet limit
/// and to interleave with events, large enough to keep the records few
/// (a 20 s clip at 640×360 is a few parts).
pub const PART_BYTES: usize = 256 * 1024;
/// Sealed clips remembered for their incidents' later events, at most.
const REMEMBERED: usize = 256;

/// A finished clip, as the incident's later events name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub clip_file: String,
    pub manifest_sha256: String,
}

/// The outbox side of evidence.
#[derive(Clone)]
pub struct Delivery {
    pub outbox: Arc<Outbox>,
    pub topics: Topics,
    sealed: Arc<Mutex<HashMap<String, Sealed>>>,
}

impl Delivery {
    pub fn new(outbox: Arc<Outbox>, topics: Topics) -> Self {
        Self {
            outbox,
            topics,
            sealed: Arc::default(),
        }
    }

    /// The box's public key, retained for the office's `watchpost verify`.
    pub fn publish_key(&self, public_hex: &str) {
        let payload = serde_json::json!({ "algorithm": "ed25519", "public_key": public_hex }).to_string();
        if let Err(e) = self
            .outbox
            .push_notice("", self.topics.evidence_key(), payload, "", true)
        {
            tracing::warn!(error = %e, "cannot queue the evidence public key");
        }
    }

    /// Queues a sealed clip: its manifest, then its parts.
    pub fn clip_ready(&self, camera: &str, incident: &str, sealed: &Sealed, clip: &EncodedClip, manifest: &[u8]) {
        {
            let mut map = self.sealed.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= REMEMBERED {
                map.clear();
            }
            map.insert(incident.to_string(), sealed.clone());
        }
        let topic = self.topics.clip(camera, incident);
        let text = String::from_utf8_lossy(manifest).to_string();
        if let Err(e) = self
            .outbox
            .push_notice(camera, format!("{topic}/manifest"), text, incident, false)
        {
            tracing::error!(camera, incident, error = %e, "cannot queue an evidence manifest");
            return;
        }
        let n = clip.bytes().div_ceil(PART_BYTES as u64).max(1);
        let mut dropped = 0;
        for i in 0..n {
            let range = (i * PART_BYTES as u64, PART_BYTES);
            match self
                .outbox
                .push_clip_part(camera, format!("{topic}/part/{i}/{n}"), clip, range)
            {
                Ok(Some(_)) => {}
                Ok(None) => dropped += 1,
                Err(e) => {
                    tracing::warn!(camera, incident, part = i, error = %e, "cannot queue an evidence clip part");
                    dropped += 1;
                }
            }
        }
        if dropped > 0 {
            tracing::warn!(
                camera,
                incident,
                dropped,
                parts = n,
                "evidence clip parts not queued: the outbox has no room (events keep theirs); the clip stays on the box"
            );
        }
    }

    /// The sealed clip of `incident`, once there is one.
    pub fn sealed(&self, incident: &str) -> Option<Sealed> {
        self.sealed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(incident)
            .cloned()
    }
}
