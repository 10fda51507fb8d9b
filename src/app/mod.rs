//! The app: wires one checked [`Plan`] into running parts — ONNX Runtime and
//! the models, the MQTT publisher, and one [`camera::Camera`] per camera — and
//! stops them in order: cameras first (their last incidents are queued), then
//! the publisher (which delivers the queue and marks the box offline).
//! [`replay`] runs one camera's analysis on a recording instead, for tuning.

pub mod analysis;
pub mod camera;
pub mod replay;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::config::Plan;
use crate::infer::{Detector, ModelService, runtime};
use crate::publish::{Outbox, Publisher};
use camera::{Camera, Shared};
use snapshot::Snapshots;

/// The cameras' part of the health message on `<prefix>/stats`.
fn camera_stats(cameras: &[Camera]) -> crate::publish::StatsSource {
    use std::sync::atomic::Ordering::Relaxed;
    let parts: Vec<_> = cameras
        .iter()
        .map(|c| (c.name.clone(), c.stream.status(), c.slot.clone(), c.stats.clone()))
        .collect();
    let started = std::time::Instant::now();
    Arc::new(move || {
        let cameras: serde_json::Map<String, serde_json::Value> = parts
            .iter()
            .map(|(name, stream, slot, stats)| {
                let value = serde_json::json!({
                    "state": stream.state().to_string(),
                    "reconnects": stream.reconnects.load(Relaxed),
                    "decoded": stream.decoded.load(Relaxed),
                    "frames": slot.stats.delivered.load(Relaxed),
                    "dropped": slot.stats.dropped.load(Relaxed),
                    "inferred": stats.inferred.load(Relaxed),
                    "skipped_still": stats.skipped.load(Relaxed),
                    "events": stats.events.load(Relaxed),
                });
                (name.to_string(), value)
            })
            .collect();
        serde_json::json!({
            "time": jiff::Timestamp::now().to_string(),
            "uptime_secs": started.elapsed().as_secs(),
            "cameras": cameras,
        })
    })
}

/// What each camera did over a run, for tools and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CameraSummary {
    pub name: String,
    /// Frames handed to the detect thread.
    pub frames: u64,
    /// Frames the detector ran on.
    pub inferred: u64,
    /// Frames the motion gate skipped.
    pub skipped: u64,
    /// Incident events raised.
    pub events: u64,
}

/// How long shutdown waits for the broker to take the last alerts.
const PUBLISH_GRACE: Duration = Duration::from_secs(5);

/// Runs until `cancel` fires or every camera has ended (recordings).
pub async fn run(plan: Plan, cancel: CancellationToken) -> anyhow::Result<Vec<CameraSummary>> {
    gstreamer::init().context("cannot initialise GStreamer")?;
    let rt = runtime::init(&plan.runtime)?;
    tracing::info!(library = %rt.library.display(), "ONNX Runtime loaded");

    let mut models = BTreeMap::new();
    let wanted = plan.cameras.iter().map(|c| &c.detect.model);
    let wanted = wanted.chain(plan.privacy.face_model.as_ref().filter(|_| plan.wants_snapshots()));
    for model in wanted {
        if models.contains_key(&model.key) {
            continue;
        }
        let (model_plan, settings) = (model.clone(), plan.runtime.clone());
        let detector = tokio::task::spawn_blocking(move || Detector::load(model_plan, rt, &settings)).await??;
        let service = ModelService::spawn(detector).with_context(|| format!("cannot start model `{}`", model.key))?;
        models.insert(model.key.clone(), Arc::new(service));
    }

    let outbox = Arc::new(Outbox::open(&plan.outbox)?);
    let (pending, _) = outbox.depth()?;
    tracing::info!(outbox = %outbox.path().display(), pending, "outbox open");
    let faces = plan
        .privacy
        .face_model
        .as_ref()
        .and_then(|m| models.get(&m.key))
        .map(|s| &**s);
    let (snapshots, snapshot_worker) = Snapshots::spawn(faces, outbox.clone(), plan.mqtt.topics.clone())?;
    let shared = Shared {
        models,
        outbox: outbox.clone(),
        topics: plan.mqtt.topics.clone(),
        snapshots,
    };
    let mut cameras = Vec::new();
    for camera in &plan.cameras {
        let started = Camera::start(camera, &shared, cancel.clone());
        cameras.push(started.with_context(|| format!("cannot start camera `{}`", camera.name))?);
    }
    let publisher = Publisher::spawn(plan.mqtt.clone(), outbox, camera_stats(&cameras))?;
    tracing::info!(site = %plan.site, box_id = %plan.box_id, cameras = cameras.len(), "watchpost running");

    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if cameras.iter().all(Camera::is_finished) {
                    break;
                }
            }
        }
    }
    cancel.cancel();
    let mut failed = Vec::new();
    let mut summary = Vec::new();
    for camera in cameras {
        use std::sync::atomic::Ordering::Relaxed;
        let name = camera.name.clone();
        let stats = camera.stats.clone();
        let slot = camera.slot.clone();
        let result = tokio::task::spawn_blocking(move || camera.join()).await?;
        if let Err(e) = result {
            failed.push(format!("{name}: {e}"));
        }
        summary.push(CameraSummary {
            name: name.to_string(),
            frames: slot.stats.delivered.load(Relaxed),
            inferred: stats.inferred.load(Relaxed),
            skipped: stats.skipped.load(Relaxed),
            events: stats.events.load(Relaxed),
        });
    }
    // The last snapshots reach the outbox before the publisher's final round.
    drop(shared);
    let _ = tokio::task::spawn_blocking(move || snapshot_worker.join()).await;
    publisher.shutdown(PUBLISH_GRACE).await;
    tracing::info!("watchpost stopped");
    if failed.is_empty() {
        Ok(summary)
    } else {
        anyhow::bail!("cameras failed: {}", failed.join("; "))
    }
}
