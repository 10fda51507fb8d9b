//! The app: wires one checked [`Plan`] into running parts — ONNX Runtime and
//! the models, the MQTT publisher, and one [`camera::Camera`] per camera — and
//! stops them in order: cameras first (their last incidents are queued), then
//! the publisher (which delivers the queue and marks the box offline).

pub mod camera;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::anonymize::Sequence;
use crate::config::Plan;
use crate::infer::{Detector, runtime};
use crate::publish::Publisher;
use camera::{Camera, Shared};

/// How long shutdown waits for the broker to take the last alerts.
const PUBLISH_GRACE: Duration = Duration::from_secs(5);

/// Runs until `cancel` fires or every camera has ended (recordings).
pub async fn run(plan: Plan, cancel: CancellationToken) -> anyhow::Result<()> {
    gstreamer::init().context("cannot initialise GStreamer")?;
    let rt = runtime::init(&plan.runtime)?;
    tracing::info!(library = %rt.library.display(), "ONNX Runtime loaded");

    let mut detectors = BTreeMap::new();
    for camera in &plan.cameras {
        let model = &camera.detect.model;
        if detectors.contains_key(&model.key) {
            continue;
        }
        let (model_plan, settings) = (model.clone(), plan.runtime.clone());
        let detector =
            tokio::task::spawn_blocking(move || Detector::load(model_plan, rt, &settings))
                .await??;
        detectors.insert(model.key.clone(), Arc::new(Mutex::new(detector)));
    }

    let publisher = Publisher::spawn(plan.mqtt.clone());
    let shared = Shared {
        detectors,
        alerts: publisher.sender(),
        seq: Sequence::starting_now(),
    };
    let mut cameras = Vec::new();
    for camera in &plan.cameras {
        cameras.push(
            Camera::start(camera, &shared, cancel.clone())
                .with_context(|| format!("cannot start camera `{}`", camera.name))?,
        );
    }
    drop(shared);
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
    for camera in cameras {
        let name = camera.name.clone();
        let result = tokio::task::spawn_blocking(move || camera.join()).await?;
        if let Err(e) = result {
            failed.push(format!("{name}: {e}"));
        }
    }
    publisher.shutdown(PUBLISH_GRACE).await;
    tracing::info!("watchpost stopped");
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("cameras failed: {}", failed.join("; "))
    }
}
