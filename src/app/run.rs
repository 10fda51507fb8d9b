//! The running box: one checked [`Plan`] wired into running parts — ONNX
//! Runtime and the models, the snapshot worker, the MQTT publisher, the
//! metrics endpoint and one [`Camera`] per camera — watched every tick and
//! stopped in order: cameras first (their last incidents are queued), then
//! the snapshot worker, then the publisher (which delivers the queue and
//! marks the box offline). With arming commands or Home Assistant discovery
//! on, a control task ([`crate::publish::control`]) shares the publisher's
//! connection; its arming state is read from the state directory before any
//! camera starts. Reloads are in [`super::reload`]: they are prepared on a
//! task of their own and applied here, between ticks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use super::camera::{Camera, Shared};
use super::managed::{Managed, Verdict};
use super::models::{LoadedModel, load_models};
use super::pending::{Coalesce, Prepared};
use super::snapshot::Snapshots;
use crate::console::{CheckFn, Console, ConsoleCamera, ReloadReport, Wiring};
use crate::evidence::Evidence;
use crate::evidence::delivery::Delivery;
use crate::evidence::worker::BoxIdentity;
use crate::infer::runtime;
use crate::observe::health::{self, Probe, Watchdog};
use crate::observe::metrics::{Live, Metrics};
use crate::observe::stats::{camera_stats, camera_status};
use crate::plan::{CameraPlan, Plan};
use crate::publish::control::{self, ControlEvent, ControlPlan};
use crate::publish::link::side_link;
use crate::publish::{Catalog, CatalogCamera, CatalogRule, Outbox, Publisher};
use crate::rules::Arming;

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

/// A running camera and what it was started from.
pub(super) struct Running {
    pub(super) camera: Camera,
    pub(super) plan: CameraPlan,
    pub(super) cancel: CancellationToken,
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
    /// Evidence clips, when a rule asked for them at start.
    pub(super) evidence: Option<Evidence>,
    pub(super) arming: Arc<Arming>,
    /// The control task, when arming commands or discovery are on.
    pub(super) control: Option<tokio::sync::mpsc::UnboundedSender<ControlEvent>>,
    /// The operator console, when it runs.
    pub(super) console: Option<Arc<Console>>,
    /// How reloads went, for the console's Save.
    pub(super) reloads: tokio::sync::watch::Sender<ReloadReport>,
}

/// What the control task needs to know of a plan's cameras, rules and profiles.
pub(super) fn catalog(plan: &Plan) -> Catalog {
    Catalog {
        site: plan.site.clone(),
        box_id: plan.box_id.clone(),
        cameras: plan
            .cameras
            .iter()
            .map(|c| CatalogCamera {
                name: c.name.to_string(),
                rules: c
                    .rules
                    .iter()
                    .map(|r| CatalogRule {
                        name: r.name.to_string(),
                        kind: r.kind.name(),
                        snapshot: r.keys.snapshot,
                    })
                    .collect(),
            })
            .collect(),
        profiles: plan.profiles.clone(),
    }
}

impl App {
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
            evidence: self.evidence.clone(),
            arming: self.arming.clone(),
            control: self.control.clone(),
            console: self.console.clone(),
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

    /// Stops cameras and waits for them; their open incidents stay open in
    /// the outbox's ledger, for the next start of the camera to take up.
    pub(super) async fn stop_cameras(cameras: Vec<Running>) -> Vec<(Arc<str>, Result<(), crate::decode::DecodeError>)> {
        for running in &cameras {
            running.cancel.cancel();
        }
        let mut results = Vec::new();
        for running in cameras {
            let name = running.camera.view.name.clone();
            let result = tokio::task::spawn_blocking(move || running.camera.join())
                .await
                .unwrap_or(Ok(()));
            results.push((name, result));
        }
        results
    }

    pub(super) fn publish_views(&self) {
        if let Some(console) = &self.console {
            console.set_cameras(
                self.cameras
                    .iter()
                    .map(|r| ConsoleCamera {
                        view: r.camera.view.clone(),
                        stream: r.camera.stream.clone(),
                        overlay: r.camera.overlay.clone(),
                        privacy: Arc::new(r.plan.privacy.clone()),
                        labels: r.plan.detect.model.manifest.labels.clone(),
                        max_width: r.plan.decode.snapshot_max_width.min(LIVE_MAX_WIDTH),
                    })
                    .collect(),
            );
        }
        self.live
            .set_cameras(self.cameras.iter().map(|r| r.camera.view.clone()).collect());
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
        *self.live.unhealthy.lock().unwrap_or_else(|p| p.into_inner()) = watchdog.why();
    }
}

/// Width of the console's live views, at most.
const LIVE_MAX_WIDTH: u32 = 960;

/// The check `check-config` runs, for the console's Save.
fn config_check() -> CheckFn {
    Arc::new(|path: &std::path::Path, text: String| {
        let plan = super::trial::checked(path, text)?;
        let problems = crate::infer::verify_models(&plan.models, &plan.runtime);
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    })
}

/// How long shutdown waits for the broker to take the last alerts when the
/// box is told to stop (systemd gives a stop a deadline of its own).
const PUBLISH_GRACE: Duration = Duration::from_secs(5);
/// How long it waits when every camera has ended (recordings played to
/// their end): no one is waiting for the box to stop, and an operator who
/// runs a recording expects its alerts at the office, however busy the
/// box. Delivery stops waiting at once when the broker is unreachable.
const RECORDING_GRACE: Duration = Duration::from_secs(60);

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
        evidence: None,
        arming: Arc::new(Arming::default()),
        control: None,
        console: None,
        reloads: tokio::sync::watch::channel(ReloadReport::default()).0,
    };
    let mut control_plan = ControlPlan {
        topics: app.started.mqtt.topics.clone(),
        home_assistant: app.started.home_assistant.clone(),
        commands: app.started.mqtt.takes_arming(),
        state_file: app.started.state_dir.join(control::STATE_FILE),
        bundles: None,
    };
    // Signed config bundles from the office, when `[fleet]` pins its keys.
    let mut managed = Managed::start(&app.started);
    let (bundle_tx, mut bundle_rx) = tokio::sync::mpsc::unbounded_channel();
    control_plan.bundles = managed.as_ref().map(|m| crate::publish::BundleLink {
        topics: m.topics(&app.started.mqtt.topics),
        to_app: bundle_tx,
    });
    if let Some(why) = app.started.mqtt.arming_refused() {
        tracing::warn!(broker = %app.started.mqtt.url, "{why}");
    }
    // Under the state directory's lock (the outbox holds it), before any camera runs.
    let kept = control::load_state(&control_plan.state_file);
    match (&kept, control_plan.commands) {
        (Some(state), true) => {
            app.arming.restore(state);
            app.arming.retain(&catalog(&app.started).names());
            let disarmed: Vec<&String> = state.rules.iter().filter(|(_, on)| !**on).map(|(r, _)| r).collect();
            tracing::info!(profile = ?state.profile, disarmed = ?disarmed, "arming state restored");
        }
        (Some(state), false) if state.cameras.values().chain(state.rules.values()).any(|on| !on) => {
            tracing::warn!(
                file = %control_plan.state_file.display(),
                "arming commands are not taken: the kept arming state is not applied and every rule is armed"
            );
        }
        _ => {}
    }
    app.models = load_models(&app.models, rt, &app.started).await?;
    // The face model serves the snapshot worker for the box's life; a reload
    // that changes `[privacy]` applies after a restart.
    let faces = app
        .started
        .privacy
        .face_model
        .as_ref()
        .and_then(|m| app.models.get(&m.key))
        .map(|m| m.service.clone());
    let (console_reload, mut console_reloads) = tokio::sync::mpsc::unbounded_channel();
    let snapshots_waiting = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    app.console = Console::start(
        Wiring {
            plan: app.started.console.clone(),
            config_path: app.started.path.clone(),
            live: live.clone(),
            metrics: metrics.clone(),
            faces: faces.clone(),
            snapshots_waiting: snapshots_waiting.clone(),
            check: config_check(),
            trial: super::trial::run_trial(),
            reload: console_reload,
            reloads: app.reloads.subscribe(),
            schema: std::sync::Arc::new(crate::console::server::ConfigSchema(
                crate::plan::schema::config_schema(),
            )),
            topics: app.started.mqtt.topics.clone(),
            state_dir: app.started.state_dir.clone(),
            retention: app.started.outbox.keys.max_age_hours,
        },
        cancel.clone(),
    )
    .await;
    let (snapshots, snapshot_worker) = Snapshots::spawn_with(
        faces.as_deref(),
        outbox.clone(),
        app.started.mqtt.topics.clone(),
        app.console.clone(),
        snapshots_waiting,
    )?;
    app.snapshots = Some(snapshots);
    let mut evidence_threads = Vec::new();
    if app.started.wants_evidence() {
        let identity = BoxIdentity {
            site: app.started.site.clone(),
            box_id: app.started.box_id.clone(),
            face_model: app
                .started
                .privacy
                .face_model
                .as_ref()
                .map(|m| (m.key.clone(), m.manifest.sha256.clone())),
        };
        let delivery = Delivery::new(outbox.clone(), app.started.mqtt.topics.clone());
        match Evidence::spawn(
            &app.started.state_dir,
            &app.started.evidence,
            identity,
            faces.as_deref(),
            Some(delivery),
        ) {
            Ok((evidence, threads)) => {
                let _ = live.evidence.set(evidence.stats.clone());
                app.evidence = Some(evidence);
                evidence_threads = threads;
            }
            Err(e) => tracing::error!(error = %e, "evidence clips are off: the evidence folder cannot be used"),
        }
    }

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

    let side = if control_plan.commands || control_plan.home_assistant.is_some() || control_plan.bundles.is_some() {
        let (side, link) = side_link(control_plan.subscriptions());
        let (events, events_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(control::run(
            control_plan,
            catalog(&app.started),
            app.arming.clone(),
            link,
            events_rx,
            cancel.clone(),
        ));
        if let Some(managed) = &mut managed {
            managed.connect(events.clone());
        }
        app.control = Some(events);
        Some(side)
    } else {
        None
    };
    let names: Vec<&str> = app.started.cameras.iter().map(|c| &*c.name).collect();
    super::alerts::end_stale_incidents(&app.outbox, &app.started.mqtt.topics, &names, app.outbox.down_for());
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
        side,
    )?;
    let _ = live.publisher.set(publisher.status());
    let (site, box_id) = (&app.started.site, &app.started.box_id);
    tracing::info!(site = %site, box_id = %box_id, cameras = app.cameras.len(), "watchpost running");
    health::ready(&format!("running {} camera(s)", app.cameras.len()));

    let mut watchdog = Watchdog::from_env();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A reload is checked and its models loaded off this loop, so the
    // watchdog, SIGTERM and the cameras' health go on meanwhile; requests
    // that arrive during one make one more after it.
    let mut reloads = Coalesce::default();
    let mut reloading: Option<JoinHandle<Prepared>> = None;
    // A config bundle being judged (signature, target, version, the check), off this loop.
    let mut judging: Option<JoinHandle<Verdict>> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            asked = next_reload(&mut control.reload) => {
                if !asked {
                    control.reload = None;
                } else if reloads.ask() {
                    reloading = Some(app.begin_reload());
                } else {
                    tracing::info!("a reload is already in progress; the config is read again once it is done");
                }
            }
            Some(()) = console_reloads.recv() => {
                tracing::info!("the console saved the config: reload asked for");
                if reloads.ask() {
                    reloading = Some(app.begin_reload());
                } else {
                    tracing::info!("a reload is already in progress; the config is read again once it is done");
                }
            }
            Some(message) = bundle_rx.recv() => {
                if let Some(managed) = &mut managed {
                    let busy = managed.busy().or_else(|| judging.is_some().then(|| "the box is judging another bundle; send it again when its status settles".to_string()));
                    match busy {
                        Some(why) => {
                            managed.take(Verdict::Refuse { version: None, reasons: vec![why] });
                        }
                        None => judging = Some(tokio::task::spawn_blocking(managed.judge(message))),
                    }
                }
            }
            verdict = verdict_done(&mut judging) => {
                judging = None;
                let verdict = verdict.unwrap_or_else(|e| Verdict::Refuse { version: None, reasons: vec![format!("the check failed: {e}")] });
                if let Some(managed) = &mut managed
                    && managed.take(verdict)
                    && reloads.ask()
                {
                    reloading = Some(app.begin_reload());
                }
            }
            prepared = reload_done(&mut reloading) => {
                reloading = None;
                app.finish_reload(prepared).await;
                if let Some(managed) = &mut managed {
                    let outcome = app.reloads.borrow().outcome.clone();
                    managed.reloaded(&outcome, &live.cameras(), publisher.status().connected.load(std::sync::atomic::Ordering::Relaxed));
                }
                if reloads.done() {
                    reloading = Some(app.begin_reload());
                }
            }
            _ = tick.tick() => {
                app.watch(&mut watchdog, &publisher, !snapshot_worker.is_finished());
                if let Some(managed) = &mut managed
                    && managed.watch(&live.cameras(), publisher.status().connected.load(std::sync::atomic::Ordering::Relaxed))
                    && reloads.ask()
                {
                    reloading = Some(app.begin_reload());
                }
                if app.cameras.iter().all(|r| r.camera.is_finished()) {
                    break;
                }
            }
        }
    }
    health::stopping();
    let told_to_stop = cancel.is_cancelled();
    if reloading.is_some() {
        tracing::info!("a reload still in progress is abandoned: the running config stays until the stop");
    }
    cancel.cancel();
    let mut failed = Vec::new();
    let mut summary = Vec::new();
    let cameras = std::mem::take(&mut app.cameras);
    let counts: Vec<_> = cameras
        .iter()
        .map(|r| (r.camera.view.slot.clone(), r.camera.view.stats.clone()))
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
    app.evidence = None;
    drop(shared);
    let _ = tokio::task::spawn_blocking(move || snapshot_worker.join()).await;
    // Clips being gathered are finished with the frames they have (a
    // minute at most: a stop is not held up by a slow encoder).
    let finishing = tokio::task::spawn_blocking(move || {
        for thread in evidence_threads {
            let _ = thread.join();
        }
    });
    if tokio::time::timeout(EVIDENCE_GRACE, finishing).await.is_err() {
        tracing::warn!("evidence clips still being made are left unfinished: the box stops");
    }
    app.outbox.beat();
    publisher
        .shutdown(if told_to_stop { PUBLISH_GRACE } else { RECORDING_GRACE })
        .await;
    tracing::info!("watchpost stopped");
    if failed.is_empty() {
        Ok(summary)
    } else {
        anyhow::bail!("cameras failed: {}", failed.join("; "))
    }
}

/// How long a stopping box waits for the evidence clips being made.
const EVIDENCE_GRACE: Duration = Duration::from_secs(60);

/// The reload in progress, once it has checked the config and loaded its
/// models; pending forever when none is.
async fn reload_done(reloading: &mut Option<JoinHandle<Prepared>>) -> Result<Prepared, JoinError> {
    match reloading {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// The bundle being judged, once judged; pending forever when none is.
async fn verdict_done(judging: &mut Option<JoinHandle<Verdict>>) -> Result<Verdict, JoinError> {
    match judging {
        Some(task) => task.await,
        None => std::future::pending().await,
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
