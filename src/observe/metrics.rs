//! Metrics: the `[metrics]` table and a Prometheus (OpenMetrics text) endpoint
//! on a loopback address, for the box's own monitoring.
//!
//! Camera, outbox and link figures are read from the running parts at scrape
//! time (the counters the stages already keep), so a scrape never touches a
//! camera's threads and a camera never waits for a scrape. Only three things
//! are recorded as they happen: inference latency, the age of frames when
//! their detections are ready, and incidents by rule, through
//! [`AnalysisHooks`] handed to each camera's analyzer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::anonymize::Sightings;
use crate::config::{Checked, Ctx, Spanned};
use crate::decode::{CameraState, FrameSlot, StreamStatus};
use crate::publish::{Outbox, PublisherStatus};

/// Live counters of a running camera.
#[derive(Debug, Default)]
pub struct CameraStats {
    /// Frames run through the detector.
    pub inferred: AtomicU64,
    /// Frames the motion gate let pass without inference.
    pub skipped: AtomicU64,
    /// Incident events raised.
    pub events: AtomicU64,
    /// The health conditions with an open incident (`rules::health::Conditions` bits).
    pub health: AtomicU8,
}

crate::config::table! {
    /// `[metrics]`: where the Prometheus endpoint listens.
    pub struct MetricsConfig in "metrics." => #[derive(Eq)] MetricsKeys {
        /// Serve metrics at all (default true).
        #[apart]
        pub enabled: bool = true;
        /// Address and port of the endpoint, e.g. "127.0.0.1:9464". Keep it on
        /// loopback unless a firewall guards the port: metrics name the cameras.
        #[apart]
        pub listen: Spanned<String> = DEFAULT_LISTEN;
    }
}

/// The default address of the endpoint.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";

/// A checked `[metrics]` table: `None` when metrics are off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsPlan {
    pub listen: Option<SocketAddr>,
    /// Every key but `enabled` and `listen` (worked out above), checked.
    pub keys: MetricsKeys,
}

impl Default for MetricsPlan {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().ok(),
            keys: MetricsKeys::default(),
        }
    }
}

/// Checks `[metrics]`.
pub fn check(config: &MetricsConfig, ctx: &mut Ctx<'_>) -> Option<MetricsPlan> {
    let keys = config.checked(ctx);
    let text = config.listen.get_ref();
    match text.parse::<SocketAddr>() {
        Ok(addr) if addr.port() == 0 => {
            ctx.error(
                config.listen.span(),
                format!("`metrics.listen` is `{text}`, which has no port; use e.g. \"{DEFAULT_LISTEN}\""),
            );
            None
        }
        Ok(addr) => Some(MetricsPlan {
            listen: config.enabled.then_some(addr),
            keys: keys?,
        }),
        Err(_) => {
            ctx.error(
                config.listen.span(),
                format!(
                    "`metrics.listen` is `{text}`, not an IP address and port; use e.g. \"{DEFAULT_LISTEN}\" (host names are not looked up)"
                ),
            );
            None
        }
    }
}

/// Label set of the families recorded as they happen.
pub type Labels = Vec<(&'static str, String)>;

/// Incident starts with the arrival of the frame that raised each, for tools
/// that follow an alert from the camera to the broker's PUBACK.
pub type StartLog = Arc<Mutex<Vec<(uuid::Uuid, Instant)>>>;

/// What one camera's analyzer records: inference latency of its model, the
/// age of its frames and the incidents its rules raise.
#[derive(Clone, Debug)]
pub struct AnalysisHooks {
    pub camera: Arc<str>,
    /// Seconds per `detect` call (the wait for the model's batch included).
    pub inference: Histogram,
    /// Seconds from a frame's arrival to its detections being ready: how far
    /// behind the camera the detector is.
    pub frame_age: Histogram,
    pub incidents: Family<Labels, Counter>,
    /// Where incident starts are logged, if anyone asked (not in the box).
    pub starts: Option<StartLog>,
}

impl AnalysisHooks {
    /// Counts one incident raised by `rule` on a frame that arrived at `arrived`.
    pub fn incident(&self, rule: &str, id: uuid::Uuid, arrived: Instant) {
        self.incidents
            .get_or_create(&vec![("camera", self.camera.to_string()), ("rule", rule.to_string())])
            .inc();
        if let Some(starts) = &self.starts {
            starts.lock().unwrap_or_else(|p| p.into_inner()).push((id, arrived));
        }
    }
}

/// What a scrape reads about one running camera: its name, stream status,
/// frame slot, counters and sightings. The app's camera and the console's
/// view of it hold the same.
#[derive(Clone)]
pub struct CameraView {
    pub name: Arc<str>,
    pub stream: Arc<StreamStatus>,
    pub slot: Arc<FrameSlot>,
    pub stats: Arc<CameraStats>,
    /// What covers its pictures, and how many were withheld.
    pub sightings: Arc<Sightings>,
}

/// The running parts a scrape reads; the app replaces the camera list on reload.
pub struct Live {
    pub cameras: RwLock<Vec<CameraView>>,
    pub outbox: Arc<Outbox>,
    pub publisher: OnceLock<Arc<PublisherStatus>>,
    /// Evidence clips' counters, when a rule records clips.
    pub evidence: OnceLock<Arc<crate::evidence::Stats>>,
    /// 1 while the watchdog check finds every part alive.
    pub healthy: AtomicU64,
    /// Why the box is not healthy, as the watchdog's last check said.
    pub unhealthy: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Live {
    pub fn new(outbox: Arc<Outbox>) -> Self {
        Self {
            cameras: RwLock::new(Vec::new()),
            outbox,
            publisher: OnceLock::new(),
            evidence: OnceLock::new(),
            healthy: AtomicU64::new(1),
            unhealthy: std::sync::Mutex::new(None),
        }
    }

    pub fn cameras(&self) -> Vec<CameraView> {
        self.cameras.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_cameras(&self, cameras: Vec<CameraView>) {
        *self.cameras.write().unwrap_or_else(|p| p.into_inner()) = cameras;
    }
}

const STATES: [CameraState; 5] = [
    CameraState::Connecting,
    CameraState::Streaming,
    CameraState::Backoff,
    CameraState::Failed,
    CameraState::Stopped,
];

/// Reads the live figures at scrape time.
#[derive(Debug)]
struct LiveCollector(Arc<Live>);

type CameraCounter = (&'static str, &'static str, fn(&CameraView) -> u64);

const CAMERA_COUNTERS: &[CameraCounter] = &[
    (
        "watchpost_camera_frames_decoded",
        "Frames out of the camera's decoder, before rate limiting",
        |c| c.stream.decoded.load(Relaxed),
    ),
    (
        "watchpost_camera_frames_in",
        "Frames handed to the camera's detect stage (after rate limiting)",
        |c| c.slot.stats.delivered.load(Relaxed),
    ),
    ("watchpost_camera_frames_inferred", "Frames the detector ran on", |c| {
        c.stats.inferred.load(Relaxed)
    }),
    (
        "watchpost_camera_frames_skipped",
        "Frames the motion gate let pass without inference",
        |c| c.stats.skipped.load(Relaxed),
    ),
    (
        "watchpost_camera_frames_dropped",
        "Frames replaced by a newer one before the detect stage took them",
        |c| c.slot.stats.dropped.load(Relaxed),
    ),
    (
        "watchpost_camera_frames_unmasked",
        "Frames dropped because their privacy masks could not be painted (never analysed nor stored)",
        |c| c.stream.unmasked.load(Relaxed),
    ),
    (
        "watchpost_camera_pictures_withheld",
        "Pictures (snapshots, live views) not made because no fresh analysis of their frame could cover them: \
         before the first, after a failed one, or too old",
        |c| c.sightings.withheld.load(Relaxed),
    ),
    (
        "watchpost_camera_reconnects",
        "Pipeline rebuilds after the camera failed, stalled or ended",
        |c| c.stream.reconnects.load(Relaxed),
    ),
    (
        "watchpost_camera_events",
        "Incident events (start, update, end) the camera raised",
        |c| c.stats.events.load(Relaxed),
    ),
];

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let live = &self.0;
        let cameras = live.cameras();
        for (name, help, read) in CAMERA_COUNTERS {
            let probe = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(name, help, None, probe.metric_type())?;
            for camera in &cameras {
                let labels = [("camera", &*camera.name)];
                ConstCounter::new(read(camera)).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let probe = ConstGauge::new(0i64);
            let mut family = encoder.encode_descriptor(
                "watchpost_camera_state",
                "1 for the camera's current state (connecting, streaming, backoff, failed, stopped), else 0",
                None,
                probe.metric_type(),
            )?;
            for camera in &cameras {
                let now = camera.stream.state();
                for state in STATES {
                    let labels = [("camera", camera.name.to_string()), ("state", state.to_string())];
                    ConstGauge::new(i64::from(now == state)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        let (depth, oldest) = match live.outbox.depth() {
            Ok((depth, oldest)) => (depth as i64, oldest.unwrap_or(0) as i64),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the outbox depth");
                (-1, -1)
            }
        };
        let gauges: [(&str, &str, i64); 7] = [
            (
                "watchpost_outbox_depth",
                "Incident events in the outbox waiting for the broker's PUBACK",
                depth,
            ),
            (
                "watchpost_outbox_held",
                "Incident events held in memory while the outbox cannot write (disk full), waiting for the store",
                live.outbox.held() as i64,
            ),
            (
                "watchpost_outbox_oldest_age_seconds",
                "Age of the oldest undelivered event (0 when the outbox is empty)",
                oldest,
            ),
            (
                "watchpost_outbox_quarantine_records",
                "Records in quarantine now: unreadable ones, and snapshots the broker refused outbox.max_attempts times (queued again at the next start)",
                live.outbox.quarantine_depth() as i64,
            ),
            (
                "watchpost_outbox_refused_events",
                "Incident events the broker refused outbox.max_attempts times: kept in the outbox (never quarantined) and sent again alone from time to time",
                live.publisher
                    .get()
                    .map_or(0, |p| p.refused_events.load(Relaxed) as i64),
            ),
            (
                "watchpost_mqtt_connected",
                "1 while the MQTT link is up",
                live.publisher.get().map_or(0, |p| i64::from(p.connected.load(Relaxed))),
            ),
            (
                "watchpost_healthy",
                "1 while the watchdog check finds every camera thread and the publisher alive",
                live.healthy.load(Relaxed) as i64,
            ),
        ];
        encode_each(&mut encoder, gauges, ConstGauge::new)?;
        let counters: [(&str, &str, u64); 5] = [
            (
                "watchpost_outbox_delivered",
                "Events the broker acknowledged",
                live.outbox.stats.delivered.load(Relaxed),
            ),
            (
                "watchpost_outbox_dropped",
                "Events dropped: the outbox was full or too old, or could not write and its memory hold was full",
                live.outbox.stats.dropped.load(Relaxed),
            ),
            (
                "watchpost_outbox_dropped_snapshots",
                "Of the dropped events, snapshots (the byte bound outbox.max_bytes, or a disk that could not take them)",
                live.outbox.stats.dropped_snapshots.load(Relaxed),
            ),
            (
                "watchpost_outbox_quarantined",
                "Records moved to quarantine since start: unreadable ones, and snapshots refused by the broker outbox.max_attempts times",
                live.outbox.stats.quarantined.load(Relaxed),
            ),
            (
                "watchpost_outbox_poisoned",
                "Of the quarantined records, snapshots the broker refused outbox.max_attempts times",
                live.outbox.stats.poisoned.load(Relaxed),
            ),
        ];
        encode_each(&mut encoder, counters, ConstCounter::new)?;
        if let Some(evidence) = live.evidence.get() {
            let counters: [(&str, &str, u64); 5] = [
                (
                    "watchpost_evidence_clips",
                    "Evidence clips sealed",
                    evidence.clips.load(Relaxed),
                ),
                (
                    "watchpost_evidence_clips_dropped",
                    "Evidence clips dropped because the evidence recorder or worker was behind",
                    evidence.clips_dropped.load(Relaxed),
                ),
                (
                    "watchpost_evidence_clips_failed",
                    "Evidence clips not made: no covered frame, or redaction or encoding failed",
                    evidence.clips_failed.load(Relaxed),
                ),
                (
                    "watchpost_evidence_frames_dropped",
                    "Analysed frames left out of the pre-roll or a clip (behind, unreadable, no fresh detections); never passed on unredacted",
                    evidence.frames_dropped.load(Relaxed),
                ),
                (
                    "watchpost_evidence_frames_covered_whole",
                    "Clip frames covered whole because their faces could not be searched for",
                    evidence.frames_covered_whole.load(Relaxed),
                ),
            ];
            encode_each(&mut encoder, counters, ConstCounter::new)?;
        }
        Ok(())
    }
}

/// Encodes one unlabelled metric per (name, help, value), each made by `make`.
fn encode_each<V, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    figures: impl IntoIterator<Item = (&'static str, &'static str, V)>,
    make: impl Fn(V) -> M,
) -> Result<(), std::fmt::Error> {
    for (name, help, value) in figures {
        let metric = make(value);
        metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
    }
    Ok(())
}

/// Every metric of the box.
pub struct Metrics {
    registry: Registry,
    inference: Latency,
    frame_age: Latency,
    incidents: Family<Labels, Counter>,
    reloads: Family<Labels, Counter>,
    pub(super) scrapes: Arc<AtomicU64>,
}

/// A family of latency histograms (1 ms … ~16 s).
type Latency = Family<Labels, Histogram, fn() -> Histogram>;

fn latency() -> Latency {
    Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 15)))
}

impl Metrics {
    pub fn new(live: Arc<Live>) -> Self {
        let mut registry = Registry::default();
        let (inference, frame_age) = (latency(), latency());
        let incidents = Family::<Labels, Counter>::default();
        let reloads = Family::<Labels, Counter>::default();
        registry.register(
            "watchpost_inference_seconds",
            "Time from handing a frame to its model to having its detections, per model and camera",
            inference.clone(),
        );
        registry.register(
            "watchpost_frame_age_seconds",
            "Time from a frame's arrival to its detections being ready, per camera; above 1 s the detector lags",
            frame_age.clone(),
        );
        registry.register(
            "watchpost_incidents",
            "Incidents raised (start events), by camera and rule",
            incidents.clone(),
        );
        registry.register(
            "watchpost_reloads",
            "Config reloads asked for by SIGHUP, by result (applied, invalid, failed)",
            reloads.clone(),
        );
        registry.register_collector(Box::new(LiveCollector(live)));
        Self {
            registry,
            inference,
            frame_age,
            incidents,
            reloads,
            scrapes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The hooks for one camera's analyzer.
    pub fn hooks(&self, camera: &Arc<str>, model: &str) -> AnalysisHooks {
        let labels = vec![("model", model.to_string()), ("camera", camera.to_string())];
        AnalysisHooks {
            camera: camera.clone(),
            inference: self.inference.get_or_create_owned(&labels),
            frame_age: self
                .frame_age
                .get_or_create_owned(&vec![("camera", camera.to_string())]),
            incidents: self.incidents.clone(),
            starts: None,
        }
    }

    pub fn reload(&self, result: &'static str) {
        self.reloads.get_or_create(&vec![("result", result.to_string())]).inc();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::warn!(error = %e, "metrics: cannot encode");
        }
        text
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("scrapes", &self.scrapes.load(Relaxed))
            .finish_non_exhaustive()
    }
}
