//! The cameras and health pages' data: each camera's state and rates, its
//! live view — the frame its detector analysed last, covered over what the
//! detector saw on it by the console's own [`Redactor`] exactly as a
//! snapshot is, at most [`LIVE_FPS`] a camera whoever asks — and the boxes
//! its detect thread saw last; and the box's health (outbox, broker link, a
//! metrics summary). A live view that cannot be covered — no fresh
//! analysis of its frame, or the face model fails — is not sent: it fails
//! closed. Alerts come first: while snapshots wait for the face model, and
//! for as long again as the console's last face search took, live views
//! are served from the last one made rather than searched anew.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::feed::Feed;
use super::picture::jpeg_response;
use super::recent::Recent;
use crate::anonymize::privacy::CameraPrivacyPlan;
use crate::anonymize::{RedactedJpeg, Redactor};
use crate::decode::Stream;
use crate::infer::ModelService;
use crate::observe::metrics::CameraView;
use crate::vocab::{BBox, Detection, LabelMap};

/// Live views made per camera and second, at most.
pub const LIVE_FPS: f64 = 2.0;
/// JPEG quality of live views.
const LIVE_QUALITY: u8 = 75;
/// Size cap of one live view.
const LIVE_MAX_BYTES: usize = 300 * 1024;
/// A live view older than this is not served again while the face model
/// is busy with snapshots.
const STALE_VIEW: Duration = Duration::from_secs(10);

/// The boxes a camera's detect thread saw last, for the live view's overlay.
#[derive(Debug, Default)]
pub struct Overlay {
    inner: Mutex<OverlayData>,
    /// The camera's last minute of tracks, for a trial of an edit.
    pub recent: Recent,
}

/// One frame's boxes (normalised to the frame).
#[derive(Debug, Default, Clone)]
pub struct OverlayData {
    pub detections: Vec<Detection>,
    /// Confirmed tracks: label, box, and whether it is currently unseen.
    pub tracks: Vec<(u32, BBox, bool)>,
}

impl Overlay {
    /// Replaces the boxes; reuses the vectors, so a warm camera allocates nothing.
    pub fn update(&self, detections: &[Detection], tracks: impl Iterator<Item = (u32, BBox, bool)>) {
        let mut data = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        data.detections.clear();
        data.detections.extend_from_slice(detections);
        data.tracks.clear();
        data.tracks.extend(tracks);
    }

    pub fn read(&self) -> OverlayData {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the console knows of one running camera.
#[derive(Clone)]
pub struct ConsoleCamera {
    /// Its name, stream status, counters and what its detector saw on the
    /// frame it analysed last.
    pub view: CameraView,
    /// Its stream, for the picture it holds.
    pub stream: Arc<Stream>,
    pub overlay: Arc<Overlay>,
    pub privacy: Arc<CameraPrivacyPlan>,
    pub labels: Arc<LabelMap>,
    /// Width of its live view, at most.
    pub max_width: u32,
}

/// The cameras now running; the app replaces them on start and reload.
#[derive(Default)]
pub struct Cameras {
    list: RwLock<Vec<ConsoleCamera>>,
}

impl Cameras {
    pub fn set(&self, cameras: Vec<ConsoleCamera>) {
        *self.list.write().unwrap_or_else(|p| p.into_inner()) = cameras;
    }

    pub fn all(&self) -> Vec<ConsoleCamera> {
        self.list.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn get(&self, name: &str) -> Option<ConsoleCamera> {
        self.list
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|c| &*c.view.name == name)
            .cloned()
    }
}

struct Made {
    at: Instant,
    jpeg: Arc<RedactedJpeg>,
    boxes: OverlayData,
}

#[derive(Clone, Copy)]
struct Rate {
    at: Instant,
    decoded: u64,
    inferred: u64,
    fps: f64,
    detect: f64,
}

/// The console's redactor and what it made last of each camera.
pub struct LiveFrames {
    redactor: Mutex<Redactor>,
    /// Snapshots waiting for (or in) the face search: they go first.
    snapshots_waiting: Arc<AtomicUsize>,
    /// No face search for a live view before this: the console uses at
    /// most half of the face model's time.
    next_search: Mutex<Instant>,
    /// The last live view of each camera, with the boxes it was redacted with.
    made: Mutex<HashMap<Arc<str>, Made>>,
    rates: Mutex<HashMap<Arc<str>, Rate>>,
}

impl LiveFrames {
    pub fn new(faces: Option<&ModelService>, snapshots_waiting: Arc<AtomicUsize>) -> Self {
        Self {
            redactor: Mutex::new(Redactor::new(faces)),
            snapshots_waiting,
            next_search: Mutex::new(Instant::now()),
            made: Mutex::new(HashMap::new()),
            rates: Mutex::new(HashMap::new()),
        }
    }

    fn fresh(&self, camera: &str) -> Option<Arc<RedactedJpeg>> {
        self.made_within(camera, Duration::from_secs_f64(1.0 / LIVE_FPS))
    }

    /// The camera's last live view, if made less than `age` ago.
    fn made_within(&self, camera: &str, age: Duration) -> Option<Arc<RedactedJpeg>> {
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let made = made.get(camera)?;
        (made.at.elapsed() < age).then(|| made.jpeg.clone())
    }

    /// Whether a face search for a live view would take the face model
    /// from the snapshots, or beyond the console's share of it.
    fn alerts_first(&self) -> bool {
        self.snapshots_waiting.load(Relaxed) > 0
            || Instant::now() < *self.next_search.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The boxes of the camera's last live view, so the page draws the
    /// boxes of the picture it shows; None before the first.
    fn boxes(&self, camera: &str) -> Option<OverlayData> {
        let made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        made.get(camera)
            .filter(|m| m.at.elapsed() < Duration::from_secs(5))
            .map(|m| m.boxes.clone())
    }

    /// The camera's newest frame, redacted; one made less than 1/[`LIVE_FPS`]
    /// ago is served again. Blocks (face search): call off the async threads.
    fn view(&self, camera: &ConsoleCamera) -> Result<Arc<RedactedJpeg>, String> {
        if let Some(jpeg) = self.fresh(&camera.view.name) {
            return Ok(jpeg);
        }
        let mut redactor = self.redactor.lock().unwrap_or_else(|p| p.into_inner());
        // another request may have made it while this one waited
        if let Some(jpeg) = self.fresh(&camera.view.name) {
            return Ok(jpeg);
        }
        let searches = camera.privacy.redact.faces;
        if searches && self.alerts_first() {
            // the last view, while it is recent enough to show; else none
            return self
                .made_within(&camera.view.name, STALE_VIEW)
                .ok_or_else(|| "the face model is busy with incident snapshots; try again shortly".to_string());
        }
        let picture = camera
            .view
            .sightings
            .picture(camera.stream.held(), camera.max_width)
            .map_err(|why| format!("withheld: {why}"))?;
        let boxes = camera.overlay.read();
        let started = Instant::now();
        let redacted = redactor.redact(&picture, &camera.privacy)?;
        if searches {
            *self.next_search.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now() + started.elapsed();
        }
        let jpeg = Arc::new(
            redacted
                .to_jpeg(LIVE_QUALITY, LIVE_MAX_BYTES)
                .map_err(|e| format!("JPEG encoding failed: {e}"))?,
        );
        self.made.lock().unwrap_or_else(|p| p.into_inner()).insert(
            camera.view.name.clone(),
            Made {
                at: Instant::now(),
                jpeg: jpeg.clone(),
                boxes,
            },
        );
        Ok(jpeg)
    }

    /// Decoded and detected frames per second since the last look (at least a second ago).
    fn rates(&self, camera: &ConsoleCamera) -> (f64, f64) {
        let now = Instant::now();
        let decoded = camera.stream.status().decoded.load(Relaxed);
        let inferred = camera.view.stats.inferred.load(Relaxed);
        let mut rates = self.rates.lock().unwrap_or_else(|p| p.into_inner());
        let rate = rates.entry(camera.view.name.clone()).or_insert(Rate {
            at: now,
            decoded,
            inferred,
            fps: 0.0,
            detect: 0.0,
        });
        let dt = now.duration_since(rate.at).as_secs_f64();
        if dt >= 1.0 {
            rate.fps = decoded.saturating_sub(rate.decoded) as f64 / dt;
            rate.detect = inferred.saturating_sub(rate.inferred) as f64 / dt;
            (rate.at, rate.decoded, rate.inferred) = (now, decoded, inferred);
        }
        (rate.fps, rate.detect)
    }
}

/// `GET /api/cameras`: every camera's state, rates and last incident.
pub async fn list(
    State(cameras): State<Arc<Cameras>>,
    State(frames): State<Arc<LiveFrames>>,
    State(feed): State<Arc<Feed>>,
) -> axum::Json<Value> {
    let cameras: Vec<Value> = cameras
        .all()
        .iter()
        .map(|camera| {
            let status = camera.stream.status();
            let (fps, detect) = frames.rates(camera);
            let decoded = status.decoded.load(Relaxed) > 0;
            json!({
                "name": &*camera.view.name,
                "state": status.state().to_string(),
                // not streaming: since it last streamed, reconnects included
                "since": wall_time(status.down_since().unwrap_or_else(|| status.since())),
                "reason": status.reason(),
                "down": crate::observe::health::down_for(&status)
                    .is_some_and(|d| d > crate::observe::health::CAMERA_DOWN_LIMIT),
                "frame_age_secs": decoded.then(|| (status.since_frame().as_secs_f64() * 10.0).round() / 10.0),
                "fps": (fps * 10.0).round() / 10.0,
                "detect_fps": (detect * 10.0).round() / 10.0,
                "reconnects": status.reconnects.load(Relaxed),
                "events": camera.view.stats.events.load(Relaxed),
                "last_incident": feed.last_incident(&camera.view.name),
            })
        })
        .collect();
    axum::Json(json!({ "cameras": cameras }))
}

/// A wall-clock time as RFC 3339 UTC, to the second.
pub fn wall_time(at: std::time::SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .ok()
        .and_then(|t| t.round(jiff::Unit::Second).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

fn not_found(camera: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "error": format!("no camera `{camera}` is running") })),
    )
        .into_response()
}

/// The running camera a request's path names (`/api/cameras/{name}/…`);
/// a request for one that is not running is answered 404.
pub struct Running(pub ConsoleCamera);

impl<S: Send + Sync> FromRequestParts<S> for Running
where
    Arc<Cameras>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Response> {
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Arc::<Cameras>::from_ref(state)
            .get(&name)
            .map(Running)
            .ok_or_else(|| not_found(&name))
    }
}

/// `GET /api/cameras/{name}/frame.jpg`: the live view (redacted).
pub async fn frame(State(frames): State<Arc<LiveFrames>>, Running(camera): Running) -> Response {
    let status = camera.stream.status();
    match tokio::task::spawn_blocking(move || frames.view(&camera)).await {
        Ok(Ok(jpeg)) => {
            // how old the picture is: the camera's last frame, at most
            // 1/LIVE_FPS older when a view made just now is served again
            let mut response = jpeg_response(&jpeg);
            let age = status.since_frame().as_millis().to_string();
            if let Ok(value) = axum::http::HeaderValue::from_str(&age) {
                response.headers_mut().insert("x-frame-age-ms", value);
            }
            response
        }
        Ok(Err(reason)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "error": format!("no picture: {reason}") })),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the live view failed").into_response(),
    }
}

/// `GET /api/cameras/{name}/overlay`: the boxes seen last (normalised).
pub async fn overlay(State(frames): State<Arc<LiveFrames>>, Running(camera): Running) -> Response {
    let data = frames.boxes(&camera.view.name).unwrap_or_else(|| camera.overlay.read());
    let label = |id| {
        camera
            .labels
            .name(id)
            .map(|n| n.to_string())
            .unwrap_or_else(|| id.to_string())
    };
    let detections: Vec<Value> = data
        .detections
        .iter()
        .map(|d| json!({ "label": label(d.label), "score": d.score, "box": [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2] }))
        .collect();
    let tracks: Vec<Value> = data
        .tracks
        .iter()
        .map(|(l, b, lost)| json!({ "label": label(*l), "lost": lost, "box": [b.x1, b.y1, b.x2, b.y2] }))
        .collect();
    axum::Json(json!({ "detections": detections, "tracks": tracks, "masks": camera.privacy.masks })).into_response()
}
