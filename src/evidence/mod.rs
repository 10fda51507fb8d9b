//! Evidence: redacted, signed video clips of incidents.
//!
//! A rule with `evidence = { pre_secs, post_secs }` gets a clip of each of
//! its incidents: the seconds before its start from the camera's pre-roll
//! and the seconds after it ([`recorder`]), every frame an analysed frame
//! redacted over its own detections and encoded H.264 in MP4 by the
//! [`worker`] (through [`crate::anonymize`], whose encoder takes redacted
//! pictures only), sealed with a manifest signed by the box's Ed25519 key
//! and chained to the previous one ([`manifest`], [`keys`], [`store`]),
//! delivered through the outbox ([`delivery`]) and deleted after the
//! retention. `watchpost verify` checks it ([`verify`]). Nothing here
//! delays a camera or an alert: cameras hand frames and requests over
//! bounded queues that drop, counted, when evidence is behind.

pub mod config;
pub mod delivery;
pub mod keys;
pub mod manifest;
pub mod recorder;
pub mod stats;
pub mod store;
pub mod verify;
pub mod worker;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::anonymize::{Picture, Redactor};
use crate::infer::ModelService;
use config::{CameraEvidencePlan, EvidencePlan};
use delivery::Delivery;
use recorder::{Intake, Recorder, Request};
pub use stats::Stats;
use store::ClipStore;
use worker::{BoxIdentity, Worker};

/// Frames and requests waiting for the recorder, at most (all cameras).
const INTAKE: usize = 64;
/// Gathered clips waiting for the worker, at most.
const CLIPS: usize = 4;

/// The cameras' handle on evidence.
#[derive(Clone)]
pub struct Evidence {
    intake: SyncSender<Intake>,
    pub stats: Arc<Stats>,
    pub delivery: Option<Delivery>,
}

impl Evidence {
    /// Opens the evidence folder under `state_dir` (making the box's key on
    /// first use) and starts the recorder and the worker; they end once
    /// every handle is dropped.
    pub fn spawn(
        state_dir: &std::path::Path,
        plan: &EvidencePlan,
        identity: BoxIdentity,
        faces: Option<&ModelService>,
        delivery: Option<Delivery>,
    ) -> Result<(Self, Vec<JoinHandle<()>>), String> {
        let store = ClipStore::open(state_dir)?;
        if let Some(d) = &delivery {
            d.publish_key(&store.public_key());
        }
        let stats = Arc::new(Stats::default());
        let (intake, intake_rx) = mpsc::sync_channel(INTAKE);
        let (clips, clips_rx) = mpsc::sync_channel(CLIPS);
        let recorder = Recorder {
            intake: intake_rx,
            worker: clips,
            stats: stats.clone(),
        };
        let worker = Worker {
            redactor: Redactor::new(faces),
            store,
            identity,
            retention: plan.retention_days,
            stats: stats.clone(),
            delivery: delivery.clone(),
        };
        let spawn_err = |e: std::io::Error| e.to_string();
        let threads = vec![
            std::thread::Builder::new()
                .name("evidence-pre-roll".into())
                .spawn(move || recorder.run())
                .map_err(spawn_err)?,
            std::thread::Builder::new()
                .name("evidence".into())
                .spawn(move || worker.run(clips_rx))
                .map_err(spawn_err)?,
        ];
        Ok((
            Self {
                intake,
                stats,
                delivery,
            },
            threads,
        ))
    }

    /// Hands an analysed frame of `camera` to the pre-roll without waiting;
    /// dropped (counted) when the recorder is behind.
    pub fn offer_frame(&self, camera: &Arc<str>, picture: Picture, plan: CameraEvidencePlan, keep: Duration) {
        let frame = Intake::Frame {
            camera: camera.clone(),
            picture,
            wall: SystemTime::now(),
            plan,
            keep,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.intake.try_send(frame) {
            self.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Asks for an incident's clip without waiting; dropped (counted,
    /// logged) when the recorder is behind.
    pub fn start(&self, request: Request) {
        let (camera, incident) = (request.camera.clone(), request.incident_id.clone());
        if self.intake.try_send(Intake::Start(Box::new(request))).is_err() {
            self.stats.clips_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(camera = %camera, incident = %incident,
                "evidence clip dropped: the evidence recorder is behind (the incident itself is sent)");
        }
    }
}
