//! The running box: one checked [`Plan`] wired into running parts — ONNX
//! Runtime and the models, the snapshot worker, the MQTT publisher, the
//! metrics endpoint and one [`Camera`] per camera — watched every tick and
//! stopped in order: cameras first (their last incidents are queued), then
//! the snapshot worker, then the publisher (which delivers the queue and
//! marks the box offline). Reloads are in [`super::reload`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::camera::{Camera, Shared};
use super::snapshot::Snapshots;
use crate::infer::{Detector, ModelPlan, ModelService, runtime};
use crate::observe::health::{self, Probe, Watchdog};
use crate::observe::metrics::{CameraView, Live, Metrics};
use crate::observe::stats::{camera_stats, camera_status};
use crate::plan::{CameraPlan, Plan};
use crate::publish::{Outbox, Publisher};

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

/// How the caller steers a run beyond stopping it.
#[derive(Default)]
pub struct Control {
    /// Each message asks for the config file to be read again and applied.
    pub reload: Option<UnboundedReceiver<()>>,
}

/// A model's inference service and what it was loaded from.
pub(super) struct LoadedModel {
    pub(super) service: Arc<ModelService>,
    pub(super) fingerprint: String,
}

/// A running camera and what it was started from.
pub(super) struct Running {
    pub(super) camera: Camera,
    pub(super) plan: CameraPlan,
    pub(super) cancel: CancellationToken,
}

/// What decides whether a model must be loaded again.
fn model_fingerprint(model: &ModelPlan, plan: &Plan) -> String {
    format!("{model:?}|{:?}", plan.runtime)
}

/// The app's running state.
pub(super) struct App {
    /// The plan the box started with (settings outside cameras and models).
    pub(super) started: Plan,
    pub(super) rt: &'static runtime::Runtime,
    pub(super) models: BTreeMap<String, LoadedModel>,
    pub(super) cameras: Vec<Running>,
    pub(super) outbox: Arc<Outbox>,
    pub(super) live: Arc<Live>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) cancel: CancellationToken,
    /// The snapshot worker's handle; taken at shutdown so the worker ends.
    pub(super) snapshots: Option<Snapshots>,
}

impl App {
    /// Loads the models `plan`'s cameras use that are not loaded as they are.
    pub(super) async fn load_models(&self, plan: &Plan) -> anyhow::Result<BTreeMap<String, LoadedModel>> {
        let mut loaded = BTreeMap::new();
        let wanted = plan.cameras.iter().map(|c| &c.detect.model);
        let faces = plan.privacy.face_model.as_ref().filter(|_| plan.wants_snapshots());
        for model in wanted.chain(faces) {
            if loaded.contains_key(&model.key) {
                continue;
            }
            let fingerprint = model_fingerprint(model, plan);
            if let Some(old) = self.models.get(&model.key).filter(|m| m.fingerprint == fingerprint) {
                let service = old.service.clone();
                loaded.insert(model.key.clone(), LoadedModel { service, fingerprint });
                continue;
            }
            let (model_plan, settings, rt) = (model.clone(), plan.runtime.clone(), self.rt);
            let detectors = tokio::task::spawn_blocking(move || {
                (0..model_plan.batch.sessions)
                    .map(|_| Detector::load(model_plan.clone(), rt, &settings))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await??;
            let service = ModelService::spawn_sessions(detectors)
                .with_context(|| format!("cannot start model `{}`", model.key))?;
            tracing::info!(model = %model.key, "model loaded");
            loaded.insert(
                model.key.clone(),
                LoadedModel {
                    service: Arc::new(service),
                    fingerprint,
                },
            );
        }
        Ok(loaded)
    }

    pub(super) fn shared(&self) -> Shared {
        Shared {
            models: self
                .models
                .iter()
                .map(|(k, m)| (k.clone(), m.service.clone()))
                .collect(),
            outbox: self.outbox.clone(),
            topics: self.started.mqtt.topics.clone(),
            snapshots: self
                .snapshots
                .clone()
                .expect("the snapshot worker starts before any camera"),
        }
    }

    pub(super) fn start_camera(&self, plan: &CameraPlan, shared: &Shared) -> anyhow::Result<Running> {
        let cancel = self.cancel.child_token();
        let hooks = self.metrics.hooks(&plan.name, &plan.detect.model.key);
        let camera = Camera::start_with(plan, shared, cancel.clone(), Some(hooks))
            .with_context(|| format!("cannot start camera `{}`", plan.name))?;
        Ok(Running {
            camera,
            plan: plan.clone(),
            cancel,
        })
    }

    /// Stops cameras and waits for them; their open incidents end in the outbox.
    pub(super) async fn stop_cameras(cameras: Vec<Running>) -> Vec<(Arc<str>, Result<(), crate::decode::DecodeError>)> {
        for running in &cameras {
            running.cancel.cancel();
        }
        let mut results = Vec::new();
        for running in cameras {
            let name = running.camera.name.clone();
            let result = tokio::task::spawn_blocking(move || running.camera.join())
                .await
                .unwrap_or(Ok(()));
            results.push((name, result));
        }
        results
    }

    pub(super) fn publish_views(&self) {
        self.live.set_cameras(
            self.cameras
                .iter()
                .map(|r| CameraView {
                    name: r.camera.name.clone(),
                    stream: r.camera.stream.status(),
                    slot: r.camera.slot.clone(),
                    stats: r.camera.stats.clone(),
                })
                .collect(),
        );
    }

    fn watch(&self, watchdog: &mut Watchdog, publisher: &Publisher, snapshots_running: bool) {
        let views = self.live.cameras();
        let probes: Vec<Probe<'_>> = self
            .cameras
            .iter()
            .zip(&views)
            .map(|(r, view)| Probe {
                view,
                threads: r.camera.threads_running(),
                live: r.plan.source.is_live(),
                stall: r.plan.decode.stall,
            })
            .collect();
        let mut ended: Vec<String> = self
            .models
            .iter()
            .filter(|(_, m)| !m.service.workers_running())
            .map(|(key, _)| format!("model `{key}`'s inference thread"))
            .collect();
        if !snapshots_running {
            ended.push("the snapshot worker".into());
        }
        let healthy = watchdog.tick(&probes, publisher.is_running(), &ended, self.outbox.cannot_keep());
        self.live
            .healthy
            .store(u64::from(healthy), std::sync::atomic::Ordering::Relaxed);
    }
}

/// How long shutdown waits for the broker to take the last alerts.
const PUBLISH_GRACE: Duration = Duration::from_secs(5);

/// Runs until `cancel` fires or every camera has ended (recordings).
pub async fn run(plan: Plan, cancel: CancellationToken) -> anyhow::Result<Vec<CameraSummary>> {
    run_with(plan, cancel, Control::default()).await
}

/// [`run`], reloading the config when `control` asks.
pub async fn run_with(
    plan: Plan,
    cancel: CancellationToken,
    mut control: Control,
) -> anyhow::Result<Vec<CameraSummary>> {
    gstreamer::init().context("cannot initialise GStreamer")?;
    let rt = runtime::init(&plan.runtime)?;
    tracing::info!(library = %rt.library.display(), "ONNX Runtime loaded");

    let outbox = Arc::new(Outbox::open(&plan.outbox)?);
    let (pending, _) = outbox.depth()?;
    tracing::info!(outbox = %outbox.path().display(), pending, "outbox open");
    let live = Arc::new(Live::new(outbox.clone()));
    let metrics = Arc::new(Metrics::new(live.clone()));
    let mut app = App {
        started: plan,
        rt,
        models: BTreeMap::new(),
        cameras: Vec::new(),
        outbox: outbox.clone(),
        live: live.clone(),
        metrics: metrics.clone(),
        cancel: cancel.clone(),
        snapshots: None,
    };
    app.models = app.load_models(&app.started).await?;
    // The face model serves the snapshot worker for the box's life; a reload
    // that changes `[privacy]` applies after a restart.
    let faces = app
        .started
        .privacy
        .face_model
        .as_ref()
        .and_then(|m| app.models.get(&m.key))
        .map(|m| m.service.clone());
    let (snapshots, snapshot_worker) =
        Snapshots::spawn(faces.as_deref(), outbox.clone(), app.started.mqtt.topics.clone())?;
    app.snapshots = Some(snapshots);

    if let Some(addr) = app.started.metrics.listen {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(listen = %addr, "metrics at http://{addr}/metrics");
                tokio::spawn(crate::observe::listener::serve(
                    listener,
                    metrics.clone(),
                    cancel.clone(),
                ));
            }
            // Metrics are for people; the cameras and alerts run without them.
            Err(e) => tracing::error!(listen = %addr, error = %e, "metrics: cannot listen; running without metrics"),
        }
    }

    let shared = app.shared();
    for camera in &app.started.cameras {
        let running = app.start_camera(camera, &shared)?;
        app.cameras.push(running);
    }
    app.publish_views();
    let publisher = Publisher::spawn_with(
        app.started.mqtt.clone(),
        outbox,
        camera_stats(live.clone()),
        Some(camera_status(live.clone())),
    )?;
    let _ = live.publisher.set(publisher.status());
    let (site, box_id) = (&app.started.site, &app.started.box_id);
    tracing::info!(site = %site, box_id = %box_id, cameras = app.cameras.len(), "watchpost running");
    health::ready(&format!("running {} camera(s)", app.cameras.len()));

    let mut watchdog = Watchdog::from_env();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            asked = next_reload(&mut control.reload) => {
                if asked {
                    app.reload().await;
                } else {
                    control.reload = None;
                }
            }
            _ = tick.tick() => {
                app.watch(&mut watchdog, &publisher, !snapshot_worker.is_finished());
                if app.cameras.iter().all(|r| r.camera.is_finished()) {
                    break;
                }
            }
        }
    }
    health::stopping();
    cancel.cancel();
    let mut failed = Vec::new();
    let mut summary = Vec::new();
    let cameras = std::mem::take(&mut app.cameras);
    let counts: Vec<_> = cameras
        .iter()
        .map(|r| (r.camera.slot.clone(), r.camera.stats.clone()))
        .collect();
    for ((name, result), (slot, stats)) in App::stop_cameras(cameras).await.into_iter().zip(counts) {
        use std::sync::atomic::Ordering::Relaxed;
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
    app.snapshots = None;
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

/// The next reload request: true for one, false once nobody can ask any
/// more; pending forever without a channel.
async fn next_reload(reload: &mut Option<UnboundedReceiver<()>>) -> bool {
    match reload {
        Some(rx) => rx.recv().await.is_some(),
        None => std::future::pending().await,
    }
}
