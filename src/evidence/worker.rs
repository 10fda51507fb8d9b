//! The evidence worker: one box-wide thread that turns a gathered clip
//! ([`super::recorder::Gathered`]) into evidence. Every frame is redacted
//! over its own detections by the [`Redactor`] (faces searched on key
//! frames and followed between them; a frame that cannot be searched is
//! covered whole), encoded by the [`VideoEncoder`], which takes redacted
//! pictures only, then sealed: the manifest is signed with the box's key
//! and chained to the previous one ([`ClipStore::seal`]). Then the clip
//! goes to the office ([`super::delivery`]) and the retention sweep runs.
//! A clip that fails is logged and counted, never written half-redacted.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant, SystemTime};

use super::delivery::{Delivery, Sealed};
use super::manifest::{Body, Redaction, VERSION};
use super::recorder::Gathered;
use super::stats::Stats;
use super::store::ClipStore;
use crate::anonymize::clip::KEY_EVERY;
use crate::anonymize::{EncodedClip, Picture, Redactor, VideoEncoder};
use crate::evidence::keys::hex;

/// How often clips past the retention are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// What every clip's manifest says of the box.
pub struct BoxIdentity {
    pub site: String,
    pub box_id: String,
    /// The face model's name and file SHA-256, when faces are searched.
    pub face_model: Option<(String, String)>,
}

pub(super) struct Worker {
    pub(super) redactor: Redactor,
    pub(super) store: ClipStore,
    pub(super) identity: BoxIdentity,
    pub(super) retention: Duration,
    pub(super) stats: Arc<Stats>,
    pub(super) delivery: Option<Delivery>,
}

impl Worker {
    pub(super) fn run(mut self, queue: Receiver<Gathered>) {
        self.store.sweep(self.retention);
        let mut last_sweep = Instant::now();
        loop {
            // the retention is swept hourly, clips or not
            let gathered = match queue.recv_timeout(SWEEP_EVERY) {
                Ok(gathered) => gathered,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    self.store.sweep(self.retention);
                    last_sweep = Instant::now();
                    continue;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let (camera, incident) = (gathered.request.camera.clone(), gathered.request.incident_id.clone());
            let asked = gathered.asked;
            let (cpu, started) = (thread_cpu(), Instant::now());
            match self.make(gathered) {
                Ok((sealed, encoded, manifest)) => {
                    let (frames, bytes) = (encoded.frames(), encoded.bytes());
                    self.stats.clips.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(camera = %camera, incident = %incident, clip = %sealed.clip_file,
                        manifest_sha256 = %sealed.manifest_sha256, frames, bytes,
                        cpu_ms = thread_cpu().saturating_sub(cpu).as_millis() as u64,
                        work_ms = started.elapsed().as_millis() as u64,
                        since_asked_ms = asked.elapsed().as_millis() as u64, "evidence clip sealed");
                    if let Some(delivery) = &self.delivery {
                        delivery.clip_ready(&camera, &incident, &sealed, &encoded, &manifest);
                    }
                }
                Err(reason) => {
                    self.stats.clips_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(camera = %camera, incident = %incident, %reason, "evidence clip not made");
                }
            }
            if last_sweep.elapsed() > SWEEP_EVERY {
                self.store.sweep(self.retention);
                last_sweep = Instant::now();
            }
        }
    }

    fn make(&mut self, gathered: Gathered) -> Result<(Sealed, EncodedClip, Vec<u8>), String> {
        let Gathered {
            request, plan, frames, ..
        } = gathered;
        let pictures: Vec<Picture> = frames.iter().map(|f| f.picture.clone()).collect();
        let redacted = self.redactor.redact_clip(&pictures, &request.privacy)?;
        self.stats
            .frames_covered_whole
            .fetch_add(redacted.covered_whole as u64, Ordering::Relaxed);
        self.stats
            .frames_dropped
            .fetch_add(redacted.unreadable as u64, Ordering::Relaxed);
        if redacted.frames.is_empty() {
            return Err("no frame could be read".into());
        }
        let first = frames.first().map_or(request.wall, |f| f.wall);
        let last = frames.last().map_or(request.wall, |f| f.wall);
        let stem = format!(
            "{}_{}_{}",
            iso(request.wall).replace([':', '-'], "").replace('.', "_"),
            request.camera,
            request.incident_id
        );
        let clip_file = format!("{stem}.mp4");
        let path = self.store.clips().join(&clip_file);
        let mut encoder = VideoEncoder::start(&path, plan.width, plan.height, plan.fps).map_err(|e| e.to_string())?;
        for frame in &redacted.frames {
            encoder.push(frame).map_err(|e| e.to_string())?;
        }
        let encoded = encoder.finish().map_err(|e| e.to_string())?;
        let privacy = &request.privacy;
        let mut covers = Vec::new();
        for (on, name) in [
            (privacy.redact.faces, "faces"),
            (privacy.redact.heads, "heads"),
            (privacy.redact.persons, "persons"),
            (privacy.redact.plates, "plates"),
        ] {
            if on {
                covers.push(name.to_string());
            }
        }
        let faces = self.identity.face_model.clone().filter(|_| privacy.redact.faces);
        let body = Body {
            version: VERSION,
            seq: 0,
            incident_id: request.incident_id.clone(),
            site: self.identity.site.clone(),
            box_id: self.identity.box_id.clone(),
            camera: request.camera.to_string(),
            rule: request.rule.to_string(),
            incident_start: iso(request.wall),
            from: iso(first),
            to: iso(last),
            frames: encoded.frames(),
            fps: plan.fps,
            width: plan.width,
            height: plan.height,
            redaction: Redaction {
                covers,
                detector: request.detector.0.clone(),
                detector_sha256: request.detector.1.clone(),
                face_model: faces.as_ref().map(|f| f.0.clone()),
                face_model_sha256: faces.map(|f| f.1),
                face_search_every: KEY_EVERY as u32,
                covered_whole: redacted.covered_whole as u64,
            },
            clip_file: clip_file.clone(),
            clip_bytes: encoded.bytes(),
            clip_sha256: hex(encoded.sha256()),
            prev_manifest_sha256: None,
        };
        let (manifest, manifest_sha256) = self.store.seal(body)?;
        Ok((
            Sealed {
                clip_file,
                manifest_sha256,
            },
            encoded,
            manifest.to_bytes(),
        ))
    }
}

/// ISO-8601 UTC to the millisecond.
pub fn iso(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .round(jiff::Unit::Millisecond)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// CPU time this thread has used.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
}
