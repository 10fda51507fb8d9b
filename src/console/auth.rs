//! Who may use the console: a session cookie, given after the password is
//! checked against its argon2 hash (or at once when no password is set, on
//! loopback only), a CSRF token every write must carry in `X-CSRF-Token`,
//! and, on loopback, the `Host` header held to the loopback names so a web
//! page elsewhere cannot reach the console through DNS rebinding. It never
//! logs or returns a password or a hash.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

use crate::config::Secret;

/// The session cookie's name.
pub const COOKIE: &str = "watchpost_session";
/// A session unused this long is forgotten.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 64;

struct Session {
    csrf: String,
    seen: Instant,
}

/// Sessions and the password they are given for.
pub struct Auth {
    hash: Option<Secret>,
    sessions: Mutex<HashMap<String, Session>>,
    secure: bool,
    /// `Host` values accepted, on loopback; None elsewhere (TLS and the
    /// password guard it there).
    hosts: Option<Vec<String>>,
}

/// An argon2id hash of `password`, in the PHC format a password file holds.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::encode_b64(uuid::Uuid::new_v4().as_bytes()).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// 244 random bits, as hex.
fn token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Auth {
    pub fn new(hash: Option<Secret>, secure: bool, listen: SocketAddr) -> Self {
        let port = listen.port();
        let hosts = listen.ip().is_loopback().then(|| {
            ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .flat_map(|h| [h.to_string(), format!("{h}:{port}")])
                .collect()
        });
        Self {
            hash,
            sessions: Mutex::new(HashMap::new()),
            secure,
            hosts,
        }
    }

    pub fn password_required(&self) -> bool {
        self.hash.is_some()
    }

    fn open(&self) -> (String, String) {
        let (id, csrf) = (token(), token());
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.seen.elapsed() < IDLE);
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            id.clone(),
            Session {
                csrf: csrf.clone(),
                seen: Instant::now(),
            },
        );
        (id, csrf)
    }

    /// The CSRF token of the request's session, if it has a live one.
    fn session(&self, headers: &HeaderMap) -> Option<String> {
        let id = cookie(headers)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get_mut(&id)?;
        if session.seen.elapsed() >= IDLE {
            sessions.remove(&id);
            return None;
        }
        session.seen = Instant::now();
        Some(session.csrf.clone())
    }

    fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        }
    }

    fn set_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}")
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(hosts) = &self.hosts else { return true };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }
}

fn cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

fn refuse(status: StatusCode, text: &'static str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
}

/// Every request: the `Host` check; every `/api` request but the session
/// and login ones: a live session; every write: its CSRF token.
pub async fn guard(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    if !auth.host_allowed(request.headers()) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "the console answers only to its loopback address",
        );
    }
    let path = request.uri().path();
    if !path.starts_with("/api/") || path == "/api/session" || path == "/api/login" {
        return next.run(request).await;
    }
    let Some(csrf) = auth.session(request.headers()) else {
        return refuse(StatusCode::UNAUTHORIZED, "log in first");
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let sent = request.headers().get("x-csrf-token").and_then(|v| v.to_str().ok());
        if sent != Some(csrf.as_str()) {
            tracing::warn!(path = %path, "console: a write without its CSRF token was refused");
            return refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token; reload the page");
        }
    }
    next.run(request).await
}

/// `GET /api/session`: the CSRF token of a live session; without a password
/// a session is opened at once.
pub async fn session(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    if let Some(csrf) = auth.session(&headers) {
        return axum::Json(serde_json::json!({ "csrf": csrf, "login_required": auth.password_required() }))
            .into_response();
    }
    if auth.password_required() {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "login_required": true })),
        )
            .into_response();
    }
    let (id, csrf) = auth.open();
    (
        [(header::SET_COOKIE, auth.set_cookie(&id))],
        axum::Json(serde_json::json!({ "csrf": csrf, "login_required": false })),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct Login {
    password: String,
}

/// `POST /api/login`: checks the password (argon2, off the async threads);
/// a wrong one waits a second before the answer.
pub async fn login(State(auth): State<Arc<Auth>>, axum::Json(login): axum::Json<Login>) -> Response {
    let Some(hash) = auth.hash.clone() else {
        return refuse(StatusCode::BAD_REQUEST, "this console has no password");
    };
    let ok = tokio::task::spawn_blocking(move || {
        argon2::PasswordHash::new(hash.expose()).is_ok_and(|parsed| {
            argon2::Argon2::default()
                .verify_password(login.password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false);
    if !ok {
        tracing::warn!("console: a login with a wrong password");
        tokio::time::sleep(Duration::from_secs(1)).await;
        return refuse(StatusCode::UNAUTHORIZED, "wrong password");
    }
    let (id, csrf) = auth.open();
    tracing::info!("console: operator logged in");
    (
        [(header::SET_COOKIE, auth.set_cookie(&id))],
        axum::Json(serde_json::json!({ "csrf": csrf, "login_required": true })),
    )
        .into_response()
}

/// `POST /api/logout`.
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    auth.close(&headers);
    let expired = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, expired)], StatusCode::NO_CONTENT).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_by_salt() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b);
        let parsed = argon2::PasswordHash::new(&a).unwrap();
        assert!(
            argon2::Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(argon2::Argon2::default().verify_password(b"wrong", &parsed).is_err());
    }

    #[test]
    fn loopback_accepts_only_loopback_hosts() {
        let auth = Auth::new(None, false, "127.0.0.1:8080".parse().unwrap());
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(auth.host_allowed(&headers));
        headers.insert(header::HOST, "evil.example:8080".parse().unwrap());
        assert!(!auth.host_allowed(&headers));
    }

    #[test]
    fn sessions_are_found_by_cookie() {
        let auth = Auth::new(None, false, "127.0.0.1:8080".parse().unwrap());
        let (id, csrf) = auth.open();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, format!("a=b; {COOKIE}={id}").parse().unwrap());
        assert_eq!(auth.session(&headers), Some(csrf));
        auth.close(&headers);
        assert_eq!(auth.session(&headers), None);
    }
}
