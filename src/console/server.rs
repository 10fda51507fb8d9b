//! The console's HTTP server: axum routes on the box's tokio runtime, behind
//! an accept loop of its own so plain HTTP (loopback) and HTTPS share the
//! same limits — a cap on open connections, a deadline for request headers,
//! small buffers — and stop together when the box stops. The page's
//! assets are compiled into the binary; nothing is fetched from elsewhere.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::auth::{self, Auth};
use super::cameras::{self, Cameras, ConsoleCamera, LiveFrames};
use super::config::{ConsolePlan, PasswordSource};
use super::feed::{self, Feed};
use super::health;
use super::save::{self, CheckFn, Editor, ReloadReport};
use super::tls;
use super::trial::{self, Trial, TrialFn};
use crate::observe::listener::Bounded;
use crate::observe::metrics::{Live, Metrics};

/// Connections open at once, at most; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers (and finish TLS) within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")],
        body,
    )
        .into_response()
}

/// Headers every answer carries: nothing from elsewhere, no framing, no sniffing.
async fn hardened(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob:; script-src 'self'; style-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
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
    /// Runs an edit's rules over a camera's recent tracks.
    pub trial: TrialFn,
    /// Asks for a reload, as SIGHUP does.
    pub reload: tokio::sync::mpsc::UnboundedSender<()>,
    pub reloads: tokio::sync::watch::Receiver<ReloadReport>,
}

/// The parts the handlers share; each handler takes only those it needs.
#[derive(Clone)]
pub struct Shared {
    auth: Arc<Auth>,
    cameras: Arc<Cameras>,
    frames: Arc<LiveFrames>,
    feed: Arc<Feed>,
    editor: Arc<Editor>,
    trial: Arc<Trial>,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
}

macro_rules! parts {
    ($($field:ident: $type:ty),*) => {$(
        impl FromRef<Shared> for Arc<$type> {
            fn from_ref(shared: &Shared) -> Self {
                shared.$field.clone()
            }
        }
    )*};
}
parts!(auth: Auth, cameras: Cameras, frames: LiveFrames, feed: Feed, editor: Editor, trial: Trial, live: Live, metrics: Metrics);

/// The running console, as the app holds it: the incident feed the cameras
/// tell, and the camera list it replaces on reload.
pub struct Console {
    pub feed: Arc<Feed>,
    cameras: Arc<Cameras>,
}

impl Console {
    /// Builds the console and serves it until `cancel` fires. None (logged)
    /// when it is off or cannot start; the box runs on without it.
    pub async fn start(wiring: Wiring, cancel: CancellationToken) -> Option<Arc<Console>> {
        let addr = wiring.plan.listen?;
        let hash = match wiring.plan.password.as_ref().map(PasswordSource::load) {
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
        let shared = Shared {
            auth: Arc::new(Auth::new(hash, tls.is_some(), addr)),
            cameras: Arc::default(),
            frames: Arc::new(LiveFrames::new(wiring.faces.as_deref())),
            feed: Arc::new(Feed::new()),
            trial: Arc::new(Trial::new(wiring.config_path.clone(), wiring.trial)),
            editor: Arc::new(Editor::new(
                wiring.config_path,
                wiring.check,
                wiring.reload,
                wiring.reloads,
            )),
            live: wiring.live,
            metrics: wiring.metrics,
        };
        let console = Arc::new(Console {
            feed: shared.feed.clone(),
            cameras: shared.cameras.clone(),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(listen = %addr, "console at {scheme}://{addr}/");
        tokio::spawn(serve(listener, tls, shared, cancel));
        Some(console)
    }

    /// The cameras now running (the app replaces them on start and reload).
    pub fn set_cameras(&self, cameras: Vec<ConsoleCamera>) {
        self.cameras.set(cameras);
    }
}

/// Every route of the console.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/api/session", get(auth::session))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/cameras", get(cameras::list))
        .route("/api/cameras/{name}/frame.jpg", get(cameras::frame))
        .route("/api/cameras/{name}/overlay", get(cameras::overlay))
        .route("/api/health", get(health::health))
        .route("/api/config", get(save::load).post(save::save))
        .route("/api/cameras/{name}/try", post(trial::try_edit))
        .route("/api/incidents/events", get(feed::events))
        .route("/api/snapshots/{incident}", get(feed::snapshot))
        .layer(axum::middleware::from_fn_with_state(shared.auth.clone(), auth::guard))
        .layer(axum::middleware::from_fn(hardened))
        .with_state(shared)
}

/// Serves the console on `listener` (through TLS when given) until `cancel` fires.
async fn serve(listener: tokio::net::TcpListener, tls: Option<TlsAcceptor>, shared: Shared, cancel: CancellationToken) {
    let app = router(shared);
    let listener = Bounded::new(listener, MAX_CONNECTIONS, "console");
    while let Some((stream, slot)) = listener.accept(&cancel).await {
        let (app, tls, cancel) = (app.clone(), tls.clone(), cancel.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(stream, app, cancel).await,
                Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, app, cancel).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "console: TLS handshake failed"),
                    Err(_) => tracing::debug!("console: TLS handshake too slow; closed"),
                },
            }
        });
    }
}

async fn connection<IO>(io: IO, app: Router, cancel: CancellationToken)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024)
        .max_headers(64)
        .serve_connection(TokioIo::new(io), service);
    // Live views and the incident feed keep connections open; a stop closes them.
    tokio::select! {
        result = connection => if let Err(e) = result {
            tracing::debug!(error = %e, "console: connection ended with an error");
        },
        _ = cancel.cancelled() => {}
    }
}
