//! The operator console: one small web app the box serves itself
//! (`[console]`, on `127.0.0.1:8080` by default) to watch the cameras, draw
//! zones, lines and privacy masks on their picture, edit rules, follow
//! incidents live and see the box's health.
//!
//! It must never show an unredacted pixel: the only pictures it serves are
//! [`RedactedJpeg`]s — live views made by its own [`crate::anonymize::Redactor`]
//! and the snapshots the snapshot worker published — and the handlers that
//! send pictures take nothing else. It must never stall a camera either:
//! the detect threads leave their newest boxes in an [`Overlay`] (no wait,
//! no allocation once warm), incidents reach it through a broadcast channel
//! that drops what a slow browser has not read ([`feed`]), and live views are
//! made on demand, at most [`cameras::LIVE_FPS`] a camera.
//!
//! Writes change the config file only ([`save`]): edited with `toml_edit`
//! (comments and order kept, only changed keys touched — [`document`]),
//! checked as `check-config` checks, the previous file kept as a backup,
//! then applied through the same reload as SIGHUP. The app wires it
//! ([`Console::start`]): the check and the reload request are handed in, so
//! this layer sits below the plan it edits.

pub mod auth;
pub mod cameras;
pub mod config;
pub mod document;
pub mod feed;
pub mod save;
pub mod server;
pub mod tls;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

pub use config::{ConsoleConfig, ConsolePlan, check};
pub use feed::Feed;

use crate::anonymize::RedactedJpeg;
use crate::anonymize::privacy::CameraPrivacyPlan;
use crate::decode::Stream;
use crate::observe::CameraStats;
use crate::observe::metrics::{Live, Metrics};
use crate::vocab::{BBox, Detection, LabelMap};

/// The boxes a camera's detect thread saw last, for the live view's overlay.
#[derive(Debug, Default)]
pub struct Overlay {
    inner: Mutex<OverlayData>,
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
    pub name: Arc<str>,
    pub stream: Arc<Stream>,
    pub stats: Arc<CameraStats>,
    pub overlay: Arc<Overlay>,
    pub privacy: Arc<CameraPrivacyPlan>,
    pub labels: Arc<LabelMap>,
    /// Width of its live view, at most.
    pub max_width: u32,
}

/// The check `check-config` runs, on a file's path and (new) text: Ok, or
/// its problems, one `file:line:col: message` line each.
pub type CheckFn = Arc<dyn Fn(&std::path::Path, String) -> Result<(), Vec<String>> + Send + Sync>;

/// What the app reports of each reload, so a save can say whether it applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Reloads begun so far.
    pub begun: u64,
    /// The number of the last reload that finished, and how ("applied", …).
    pub finished: u64,
    pub outcome: String,
}

/// What the app hands the console.
pub struct Wiring {
    pub plan: ConsolePlan,
    pub config_path: PathBuf,
    pub live: Arc<Live>,
    pub metrics: Arc<Metrics>,
    /// The face model, for redacting live views.
    pub faces: Option<Arc<crate::infer::ModelService>>,
    pub check: CheckFn,
    /// Asks for a reload, as SIGHUP does.
    pub reload: tokio::sync::mpsc::UnboundedSender<()>,
    pub reloads: tokio::sync::watch::Receiver<ReloadReport>,
}

/// The running console's state, shared by its handlers.
pub struct Console {
    pub(crate) auth: auth::Auth,
    cameras: RwLock<Vec<ConsoleCamera>>,
    pub feed: Feed,
    pub(crate) live: Arc<Live>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) frames: cameras::LiveFrames,
    pub(crate) editor: save::Editor,
}

impl Console {
    /// Builds the console and starts serving it until `cancel` fires. None
    /// (logged) when it is off or cannot start; the box runs on without it.
    pub async fn start(wiring: Wiring, cancel: tokio_util::sync::CancellationToken) -> Option<Arc<Console>> {
        let addr = wiring.plan.listen?;
        let hash = match wiring.plan.password.as_ref().map(config::PasswordSource::load) {
            Some(Err(e)) => {
                tracing::error!(error = %e, "console: no password hash; the console is off");
                return None;
            }
            Some(Ok(hash)) => Some(hash),
            None => None,
        };
        let tls = match wiring.plan.tls.as_ref().map(tls::acceptor) {
            Some(Err(e)) => {
                tracing::error!(error = %e, "console: TLS cannot start; the console is off");
                return None;
            }
            Some(Ok(acceptor)) => Some(acceptor),
            None => None,
        };
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(listen = %addr, error = %e, "console: cannot listen; running without the console");
                return None;
            }
        };
        let console = Arc::new(Console {
            auth: auth::Auth::new(hash, tls.is_some(), addr),
            cameras: RwLock::new(Vec::new()),
            feed: Feed::new(),
            live: wiring.live,
            metrics: wiring.metrics,
            frames: cameras::LiveFrames::new(wiring.faces.as_deref()),
            editor: save::Editor::new(wiring.config_path, wiring.check, wiring.reload, wiring.reloads),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(listen = %addr, "console at {scheme}://{addr}/");
        tokio::spawn(server::serve(listener, tls, console.clone(), cancel));
        Some(console)
    }

    /// The cameras now running (the app replaces them on start and reload).
    pub fn set_cameras(&self, cameras: Vec<ConsoleCamera>) {
        *self.cameras.write().unwrap_or_else(|p| p.into_inner()) = cameras;
    }

    pub fn cameras(&self) -> Vec<ConsoleCamera> {
        self.cameras.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn camera(&self, name: &str) -> Option<ConsoleCamera> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|c| &*c.name == name)
            .cloned()
    }
}

/// A response carrying a redacted picture: the one way the console sends pixels.
pub(crate) fn jpeg_response(jpeg: &RedactedJpeg) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/jpeg"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        jpeg.as_bytes().to_vec(),
    )
        .into_response()
}
