//! The console's HTTP server: axum routes on the box's tokio runtime, behind
//! an accept loop of its own so plain HTTP (loopback) and HTTPS share the
//! same limits — a cap on open connections, a deadline for request headers,
//! small buffers — and stop together when the box stops. The page's
//! assets are compiled into the binary; nothing is fetched from elsewhere.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::{Console, auth, cameras, feed, save};

/// Connections open at once, at most; more are closed at once.
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers (and finish TLS) within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
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

/// Every route of the console.
pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/api/session", get(auth::session))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/cameras", get(cameras::list))
        .route("/api/cameras/{name}/frame.jpg", get(cameras::frame))
        .route("/api/cameras/{name}/overlay", get(cameras::overlay))
        .route("/api/health", get(cameras::health))
        .route("/api/config", get(save::load).post(save::save))
        .route("/api/incidents/events", get(feed::events))
        .route("/api/snapshots/{incident}", get(feed::snapshot))
        .layer(axum::middleware::from_fn_with_state(console.clone(), auth::guard))
        .layer(axum::middleware::from_fn(hardened))
        .with_state(console)
}

/// Serves the console on `listener` (through TLS when given) until `cancel` fires.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<TlsAcceptor>,
    console: Arc<Console>,
    cancel: CancellationToken,
) {
    let app = router(console);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "console: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!("console: {MAX_CONNECTIONS} connections open; closing a new one");
            continue;
        };
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
