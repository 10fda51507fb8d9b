//! The metrics listener: `GET /metrics` over HTTP/1 on a local port, built
//! to survive a hostile local user. It must never let held or slow
//! connections use up the process's files or memory: headers have a
//! deadline, connections a lifetime and a cap, buffers are small, and only
//! GET on its two paths is answered.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use tokio_util::sync::CancellationToken;

use super::metrics::Metrics;

/// Connections served at once; more are accepted and closed at once, so a
/// local user holding connections open cannot use up the process's files.
pub const MAX_CONNECTIONS: usize = 16;
/// A client must send its request headers within this.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A connection lives at most this long, whatever it does.
pub const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A TCP listener that serves at most `limit` connections at once: one
/// beyond that is accepted and closed at once, so a local user holding
/// connections open cannot use up the process's files. Shared by the
/// metrics listener and the operator console.
pub struct Bounded {
    listener: tokio::net::TcpListener,
    slots: Arc<tokio::sync::Semaphore>,
    limit: usize,
    /// Names the listener in the log.
    name: &'static str,
}

impl Bounded {
    pub fn new(listener: tokio::net::TcpListener, limit: usize, name: &'static str) -> Self {
        Self {
            listener,
            slots: Arc::new(tokio::sync::Semaphore::new(limit)),
            limit,
            name,
        }
    }

    /// The next connection and its slot (held for as long as the connection
    /// is served), or `None` once `cancel` fires. A failed accept is logged
    /// and retried after a pause.
    pub async fn accept(
        &self,
        cancel: &CancellationToken,
    ) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
        loop {
            let stream = tokio::select! {
                _ = cancel.cancelled() => return None,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "{}: accept failed", self.name);
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            match self.slots.clone().try_acquire_owned() {
                Ok(slot) => return Some((stream, slot)),
                Err(_) => tracing::debug!("{}: {} connections open; closing a new one", self.name, self.limit),
            }
        }
    }
}

/// Serves `GET /metrics` (and `GET /`) until `cancel` fires: one request per
/// connection, headers within [`HEADER_TIMEOUT`], the connection closed after
/// [`CONNECTION_TIMEOUT`], at most [`MAX_CONNECTIONS`] at once, small
/// buffers. A failed connection is logged at debug level and forgotten.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>, cancel: CancellationToken) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::{Method, Response, StatusCode};

    let listener = Bounded::new(listener, MAX_CONNECTIONS, "metrics");
    while let Some((stream, slot)) = listener.accept(&cancel).await {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                async move {
                    let (status, kind, body) = match (request.method(), request.uri().path()) {
                        (&Method::GET, "/metrics") => {
                            metrics.scrapes.fetch_add(1, Relaxed);
                            (
                                StatusCode::OK,
                                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                metrics.render(),
                            )
                        }
                        (&Method::GET, "/") => (
                            StatusCode::OK,
                            "text/plain; charset=utf-8",
                            "watchpost: metrics at /metrics\n".to_string(),
                        ),
                        (_, "/" | "/metrics") => (
                            StatusCode::METHOD_NOT_ALLOWED,
                            "text/plain; charset=utf-8",
                            "only GET is served\n".to_string(),
                        ),
                        _ => (
                            StatusCode::NOT_FOUND,
                            "text/plain; charset=utf-8",
                            "not found; metrics are at GET /metrics\n".to_string(),
                        ),
                    };
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    response.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static(kind),
                    );
                    Ok::<_, std::convert::Infallible>(response)
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .max_buf_size(8192)
                .max_headers(32)
                .serve_connection(io, service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics: connection ended with an error"),
                Err(_) => tracing::debug!("metrics: connection open too long; closed"),
                Ok(Ok(())) => {}
            }
        });
    }
}
