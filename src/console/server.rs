//! The console's HTTP server: axum routes on the box's tokio runtime, behind
//! an accept loop of its own so plain HTTP (loopback) and HTTPS share the
//! same limits — a cap on open connections, guest slots apart from
//! operators' connections ([`super::admission`]), deadlines for the
//! headers, the body and the whole request (the incident stream excepted),
//! small bodies and buffers — and stop together when the box stops. The
//! page's assets are compiled into the binary; nothing is fetched from
//! elsewhere.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::admission::{Connection, GUEST_LIFETIME};
use super::auth::{self, Auth};
use super::cameras::{self, Cameras, ConsoleCamera, LiveFrames};
use super::config::ConsolePlan;
use super::feed::{self, Feed};
use super::health;
use super::history::History;
use super::login::Gate;
use super::review::{self, Review};
use super::save::{self, CheckFn, Editor, ReloadReport};
use super::tls;
use super::trial::{self, Trial, TrialFn};
use crate::observe::listener::Bounded;
use crate::observe::metrics::{Live, Metrics};

/// Connections open at once, at most; more are closed at once. Guests
/// (no session yet) hold at most [`super::admission::GUEST_SLOTS`] of them.
pub const MAX_CONNECTIONS: usize = 256;
/// A client must send its request headers (and finish TLS) within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request's body must arrive within this.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// A request is answered within this, the incident stream excepted (a
/// save waits up to a minute to hear how its reload went).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
/// Request bodies at most: one camera's edit.
pub const MAX_BODY: usize = 256 * 1024;
/// A password's request body at most.
pub const MAX_PASSWORD_BODY: usize = 1024;
/// How often a console that cannot listen tries again.
const BIND_RETRY: Duration = Duration::from_secs(10);
/// The incident stream: open as long as the page is.
const STREAM: &str = "/api/incidents/events";

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

/// A refusal that also closes the connection.
fn closing(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONNECTION, "close")],
        axum::Json(serde_json::json!({ "error": text })),
    )
        .into_response()
}

/// The body, read whole within [`BODY_TIMEOUT`] and its size limit, and the
/// answer within [`REQUEST_TIMEOUT`]; the incident stream is left open.
async fn deadlines(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == STREAM {
        return next.run(request).await;
    }
    let limit = match path {
        "/api/login" | "/api/reauth" => MAX_PASSWORD_BODY,
        _ => MAX_BODY,
    };
    let (parts, body) = request.into_parts();
    let body = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return closing(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large"),
        Err(_) => return closing(StatusCode::REQUEST_TIMEOUT, "the request body came too slowly"),
    };
    let request = Request::from_parts(parts, axum::body::Body::from(body));
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => closing(StatusCode::SERVICE_UNAVAILABLE, "the request took too long"),
    }
}

/// What the app hands the console.
pub struct Wiring {
    pub plan: ConsolePlan,
    pub config_path: PathBuf,
    pub live: Arc<Live>,
    pub metrics: Arc<Metrics>,
    /// The face model, for redacting live views.
    pub faces: Option<Arc<crate::infer::ModelService>>,
    /// Snapshots waiting for the face model: live views wait for them.
    pub snapshots_waiting: Arc<std::sync::atomic::AtomicUsize>,
    pub check: CheckFn,
    /// Runs an edit's rules over a camera's recent tracks.
    pub trial: TrialFn,
    /// Asks for a reload, as SIGHUP does.
    pub reload: tokio::sync::mpsc::UnboundedSender<()>,
    pub reloads: tokio::sync::watch::Receiver<ReloadReport>,
    /// The JSON Schema of the config file, which the editor's forms are built from.
    pub schema: Arc<ConfigSchema>,
    /// The box's topics, for acknowledgements.
    pub topics: crate::publish::Topics,
    /// Where the incidents page keeps its history, and for how long.
    pub state_dir: PathBuf,
    pub retention: Duration,
}

/// The JSON Schema of the config file (the plan layer derives it from the
/// config tables), served as `GET /api/schema`.
pub struct ConfigSchema(pub serde_json::Value);

/// `GET /api/schema`: the config file's JSON Schema, so the console's rule
/// kinds and forms follow the box's own tables.
async fn schema(State(schema): State<Arc<ConfigSchema>>) -> axum::Json<serde_json::Value> {
    axum::Json(schema.0.clone())
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
    schema: Arc<ConfigSchema>,
    review: Arc<Review>,
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
parts!(auth: Auth, cameras: Cameras, frames: LiveFrames, feed: Feed, editor: Editor, trial: Trial, live: Live, metrics: Metrics, schema: ConfigSchema, review: Review);

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
        let Some(password) = wiring.plan.password.as_ref() else {
            tracing::warn!(
                "console: no password is set, so the console is off; make one with `watchpost hash-password > /etc/watchpost/console.hash` and set `password_file` under [console]"
            );
            return None;
        };
        let gate = match super::config::load_hash(password).and_then(|hash| Gate::new(&hash)) {
            Ok(gate) => gate,
            Err(e) => {
                tracing::error!(error = %e, "console: no usable password hash; the console is off");
                return None;
            }
        };
        let tls = match wiring.plan.tls.as_ref().map(tls::acceptor) {
            Some(Err(e)) => {
                tracing::error!(error = %e, "console: TLS cannot start; the console is off");
                return None;
            }
            Some(Ok(acceptor)) => Some(acceptor),
            None => None,
        };
        if addr.ip().is_unspecified() && wiring.plan.hosts.is_empty() {
            tracing::warn!(listen = %addr, "console: any host name is answered; list the box's names under `hosts` in [console]");
        }
        let shared = Shared {
            auth: Arc::new(
                Auth::new(gate, tls.is_some(), addr, &wiring.plan.hosts)
                    .keep_in(super::sessions::SessionFile::in_dir(&wiring.state_dir)),
            ),
            cameras: Arc::default(),
            frames: Arc::new(LiveFrames::new(
                wiring.faces.as_deref(),
                wiring.snapshots_waiting.clone(),
            )),
            feed: Arc::new(
                Feed::with_history(History::open(&wiring.state_dir, wiring.retention)).with_evidence(&wiring.state_dir),
            ),
            review: Arc::new(Review::new(wiring.topics)),
            trial: Arc::new(Trial::new(wiring.config_path.clone(), wiring.trial)),
            editor: Arc::new(Editor::new(
                wiring.config_path,
                wiring.check,
                wiring.reload,
                wiring.reloads,
            )),
            live: wiring.live,
            metrics: wiring.metrics,
            schema: wiring.schema,
        };
        let console = Arc::new(Console {
            feed: shared.feed.clone(),
            cameras: shared.cameras.clone(),
        });
        let scheme = if tls.is_some() { "https" } else { "http" };
        tokio::spawn(async move {
            let Some(listener) = listen(addr, &cancel).await else {
                return;
            };
            tracing::info!(listen = %addr, "console at {scheme}://{addr}/");
            serve(listener, tls, shared, cancel).await;
        });
        Some(console)
    }

    /// The cameras now running (the app replaces them on start and reload).
    pub fn set_cameras(&self, cameras: Vec<ConsoleCamera>) {
        self.cameras.set(cameras);
    }
}

/// Binds `addr`, trying again every [`BIND_RETRY`] while another program
/// holds it (said in the journal, once a minute): the cameras run on meanwhile.
async fn listen(addr: std::net::SocketAddr, cancel: &CancellationToken) -> Option<tokio::net::TcpListener> {
    let mut said: Option<std::time::Instant> = None;
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                if said.is_some() {
                    tracing::info!(listen = %addr, "console: the address is free again");
                }
                return Some(listener);
            }
            Err(e) => {
                if said.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
                    tracing::error!(
                        listen = %addr,
                        error = %e,
                        "console: cannot listen (another program may hold the address: operators must not log in there); trying again every {} s",
                        BIND_RETRY.as_secs()
                    );
                    said = Some(std::time::Instant::now());
                }
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(BIND_RETRY) => {}
        }
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
        .route("/api/reauth", post(auth::reauth))
        .route("/api/cameras", get(cameras::list))
        .route("/api/cameras/{name}/frame.jpg", get(cameras::frame))
        .route("/api/cameras/{name}/overlay", get(cameras::overlay))
        .route("/api/health", get(health::health))
        .route("/api/config", get(save::load).post(save::save))
        .route("/api/schema", get(schema))
        .route("/api/cameras/{name}/try", post(trial::try_edit))
        .route("/api/incidents/events", get(feed::events))
        .route("/api/snapshots/{incident}", get(feed::snapshot))
        .route("/api/clips/{incident}", get(feed::clip))
        .route("/api/incidents/{incident}/ack", post(review::ack))
        .layer(axum::middleware::from_fn(deadlines))
        .layer(axum::middleware::from_fn_with_state(shared.auth.clone(), auth::guard))
        .layer(axum::middleware::from_fn(hardened))
        .with_state(shared)
}

/// Serves the console on `listener` (through TLS when given) until `cancel` fires.
async fn serve(listener: tokio::net::TcpListener, tls: Option<TlsAcceptor>, shared: Shared, cancel: CancellationToken) {
    let app = router(shared);
    let listener = Bounded::new(listener, MAX_CONNECTIONS, "console");
    while let Some((stream, slot)) = listener.accept(&cancel).await {
        let client = stream
            .peer_addr()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
        let standing = Arc::new(Connection::new(client));
        let (app, tls, cancel) = (
            app.clone().layer(Extension(standing.clone())),
            tls.clone(),
            cancel.clone(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(stream, app, standing, cancel).await,
                Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, app, standing, cancel).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "console: TLS handshake failed"),
                    Err(_) => tracing::debug!("console: TLS handshake too slow; closed"),
                },
            }
        });
    }
}

/// Serves one connection: an operator's for as long as it stays open
/// (live views and the incident feed keep it busy; a stop closes it), a
/// guest's for at most [`GUEST_LIFETIME`].
async fn connection<IO>(io: IO, app: Router, standing: Arc<Connection>, cancel: CancellationToken)
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
    tokio::pin!(connection);
    let ended = |result: Result<(), hyper::Error>| {
        if let Err(e) = result {
            tracing::debug!(error = %e, "console: connection ended with an error");
        }
    };
    tokio::select! {
        result = connection.as_mut() => return ended(result),
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep(GUEST_LIFETIME) => {}
    }
    if !standing.is_operator() {
        // Finish the request in flight (bounded by its deadlines), then close.
        connection.as_mut().graceful_shutdown();
        tokio::select! {
            _ = tokio::time::timeout(REQUEST_TIMEOUT, connection.as_mut()) => {}
            _ = cancel.cancelled() => {}
        }
        return;
    }
    tokio::select! {
        result = connection.as_mut() => ended(result),
        _ = cancel.cancelled() => {}
    }
}
