//! Who may use the console: a session cookie, given after the password is
//! checked against its argon2 hash through the [`Gate`] (one check at a
//! time, with backoff), a CSRF token every write must carry in
//! `X-CSRF-Token`, and the `Host` header held to the names the console
//! answers to, so a web page elsewhere cannot reach it through DNS
//! rebinding. A password is always required. Sessions end after
//! [`IDLE`] unused and [`LIFETIME`] in all; removing what protects people
//! (privacy masks, rules, zones) needs the password again within
//! [`REAUTH_WINDOW`]. The guard also decides which connections are an
//! operator's ([`super::admission`]). It never logs or returns a password
//! or a hash.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, SaltString};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use super::admission::{Connection, Guests};
use super::login::Gate;
use super::sessions::{Kept, SessionFile, instant, key, wall_ms};

/// The session cookie's name over plain HTTP (loopback).
pub const COOKIE: &str = "watchpost_session";
/// Its name over HTTPS: the `__Host-` prefix binds it to this origin.
pub const SECURE_COOKIE: &str = "__Host-watchpost_session";
/// A session unused this long is forgotten.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session lives at most this long, however busy.
pub const LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Removing masks, rules or zones needs a password check this recent.
pub const REAUTH_WINDOW: Duration = Duration::from_secs(5 * 60);
/// Sessions kept at most; the oldest goes first.
const MAX_SESSIONS: usize = 64;

struct Session {
    csrf: String,
    created: Instant,
    seen: Instant,
    /// When the password was last checked for this session.
    verified: Instant,
}

impl Session {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.seen) < IDLE && now.duration_since(self.created) < LIFETIME
    }
}

/// What the guard tells handlers of the request's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fresh(pub bool);

/// Sessions and the password they are given for.
pub struct Auth {
    gate: Arc<Gate>,
    sessions: Mutex<HashMap<String, Session>>,
    secure: bool,
    /// `Host` values accepted; None: any (a wildcard address with no
    /// `hosts` set; the check warns of it).
    hosts: Option<Vec<String>>,
    pub guests: Arc<Guests>,
    /// Where sessions are kept across restarts, if anywhere.
    file: Option<SessionFile>,
    /// When the sessions were last written.
    written: Mutex<Option<Instant>>,
}

/// A used session's last use is written at most this often.
const KEEP_SEEN_EVERY: Duration = Duration::from_secs(600);

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

/// The `Host` values a console on `listen` answers to: its loopback names,
/// or the configured `hosts` and the listen address itself (with and
/// without the port). None when anything goes (a wildcard address, no `hosts`).
fn allowed_hosts(listen: SocketAddr, names: &[String]) -> Option<Vec<String>> {
    let port = listen.port();
    let ip = listen.ip();
    let mut bare: Vec<String> = if ip.is_loopback() {
        ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .map(|h| h.to_string())
            .collect()
    } else if ip.is_unspecified() && names.is_empty() {
        return None;
    } else {
        let mut bare = names.to_vec();
        if !ip.is_unspecified() {
            bare.push(match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            });
        }
        bare
    };
    bare.dedup();
    Some(bare.iter().flat_map(|h| [h.clone(), format!("{h}:{port}")]).collect())
}

impl Auth {
    /// `hosts`: the names the console answers to beyond loopback (`[console] hosts`).
    pub fn new(gate: Gate, secure: bool, listen: SocketAddr, hosts: &[String]) -> Self {
        Self {
            gate: Arc::new(gate),
            sessions: Mutex::new(HashMap::new()),
            secure,
            hosts: allowed_hosts(listen, hosts),
            guests: Arc::new(Guests::default()),
            file: None,
            written: Mutex::new(None),
        }
    }

    /// Keeps the sessions in `file`, and takes back the live ones kept
    /// there (their password check is not fresh).
    pub fn keep_in(mut self, file: SessionFile) -> Self {
        let now = Instant::now();
        let stale = now.checked_sub(REAUTH_WINDOW * 2).unwrap_or(now);
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            for kept in file.load() {
                let session = Session {
                    csrf: kept.csrf,
                    created: instant(kept.created_ms),
                    seen: instant(kept.seen_ms),
                    verified: stale,
                };
                if session.live(now) && sessions.len() < MAX_SESSIONS {
                    sessions.insert(kept.key, session);
                }
            }
        }
        self.file = Some(file);
        self
    }

    /// Writes the sessions (when they are kept).
    fn write(&self, sessions: &HashMap<String, Session>) {
        let Some(file) = &self.file else { return };
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
        let kept: Vec<Kept> = sessions
            .iter()
            .map(|(key, s)| Kept {
                key: key.clone(),
                csrf: s.csrf.clone(),
                created_ms: wall_ms(s.created),
                seen_ms: wall_ms(s.seen),
            })
            .collect();
        file.save(&kept);
    }

    fn cookie_name(&self) -> &'static str {
        if self.secure { SECURE_COOKIE } else { COOKIE }
    }

    fn open(&self) -> (String, String) {
        let (id, csrf) = (token(), token());
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|_, s| s.live(now));
        if sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = sessions.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| k.clone())
        {
            sessions.remove(&oldest);
        }
        sessions.insert(
            key(&id),
            Session {
                csrf: csrf.clone(),
                created: now,
                seen: now,
                verified: now,
            },
        );
        self.write(&sessions);
        (id, csrf)
    }

    /// The CSRF token of the request's session, and whether its password
    /// check is recent, if it has a live session.
    fn session(&self, headers: &HeaderMap) -> Option<(String, Fresh)> {
        let id = key(&cookie(headers, self.cookie_name())?);
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let session = sessions.get_mut(&id)?;
        if !session.live(now) {
            sessions.remove(&id);
            self.write(&sessions);
            return None;
        }
        session.seen = now;
        let fresh = Fresh(now.duration_since(session.verified) < REAUTH_WINDOW);
        let csrf = session.csrf.clone();
        let due = self.file.is_some()
            && self
                .written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none_or(|at| at.elapsed() >= KEEP_SEEN_EVERY);
        if due {
            self.write(&sessions);
        }
        Some((csrf, fresh))
    }

    /// The password was checked again for the request's session.
    fn verified(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, self.cookie_name())
            && let Some(session) = self
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&key(&id))
        {
            session.verified = Instant::now();
        }
    }

    fn close(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers, self.cookie_name()) {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            sessions.remove(&key(&id));
            self.write(&sessions);
        }
    }

    fn set_cookie(&self, id: &str) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{}={id}; Path=/; HttpOnly; SameSite=Strict{secure}", self.cookie_name())
    }

    fn expired_cookie(&self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
            self.cookie_name()
        )
    }

    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(hosts) = &self.hosts else { return true };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Checks `password` for `client` through the gate: Ok, or the answer to give.
    async fn check_password(&self, client: IpAddr, password: String) -> Result<(), Response> {
        let mut turn = match self.gate.admit(client) {
            Ok(turn) => turn,
            Err(wait) => return Err(later(wait)),
        };
        let right = tokio::task::spawn_blocking(move || turn.check(&password))
            .await
            .unwrap_or(false);
        self.gate.record(client, right);
        if right {
            Ok(())
        } else {
            tracing::warn!(client = %client, "console: a wrong password");
            Err(refuse(StatusCode::UNAUTHORIZED, "wrong password"))
        }
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

fn refuse(status: StatusCode, text: &'static str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": text }))).into_response()
}

/// `429`, with when to come back.
fn later(wait: Duration) -> Response {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, HeaderValue::from(secs))],
        axum::Json(serde_json::json!({
            "error": format!("too many tries; try again in {secs} s"),
            "retry_after_secs": secs,
        })),
    )
        .into_response()
}

/// The address a request came from (the loopback address when the
/// connection did not say, as in tests of the router alone).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<Arc<Connection>>()
                .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.client),
        ))
    }
}

/// Every request: the `Host` check and the connection's standing
/// ([`super::admission`]); every `/api` request but the session and login
/// ones: a live session; every write: its CSRF token.
pub async fn guard(State(auth): State<Arc<Auth>>, mut request: Request, next: Next) -> Response {
    if !auth.host_allowed(request.headers()) {
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "the console does not answer to this host name; see `hosts` under [console]",
        );
    }
    let session = auth.session(request.headers());
    if let Some(connection) = request.extensions().get::<Arc<Connection>>() {
        if session.is_some() {
            connection.promote();
        } else if !connection.admit_guest(&auth.guests) {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONNECTION, "close"), (header::RETRY_AFTER, "5")],
                axum::Json(serde_json::json!({ "error": "the console is busy; try again shortly" })),
            )
                .into_response();
        }
    }
    let path = request.uri().path();
    if !path.starts_with("/api/") || path == "/api/session" || path == "/api/login" {
        return next.run(request).await;
    }
    let Some((csrf, fresh)) = session else {
        return refuse(StatusCode::UNAUTHORIZED, "log in first");
    };
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let sent = request
            .headers()
            .get("x-csrf-token")
            .map(|v| v.as_bytes())
            .unwrap_or(b"");
        if !bool::from(sent.ct_eq(csrf.as_bytes())) {
            tracing::warn!(path = %path, "console: a write without its CSRF token was refused");
            return refuse(StatusCode::FORBIDDEN, "missing or wrong CSRF token; reload the page");
        }
    }
    request.extensions_mut().insert(fresh);
    next.run(request).await
}

/// `GET /api/session`: the CSRF token of a live session, or 401 (log in).
pub async fn session(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    match auth.session(&headers) {
        Some((csrf, _)) => axum::Json(serde_json::json!({ "csrf": csrf, "login_required": true })).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({ "login_required": true })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    password: String,
}

/// `POST /api/login`: checks the password through the gate (429 while it
/// is busy or this client must wait) and opens a session.
pub async fn login(
    State(auth): State<Arc<Auth>>,
    ClientIp(client): ClientIp,
    axum::Json(login): axum::Json<Login>,
) -> Response {
    if let Err(answer) = auth.check_password(client, login.password).await {
        return answer;
    }
    let (id, csrf) = auth.open();
    tracing::info!(client = %client, "console: operator logged in");
    (
        [(header::SET_COOKIE, auth.set_cookie(&id))],
        axum::Json(serde_json::json!({ "csrf": csrf, "login_required": true })),
    )
        .into_response()
}

/// `POST /api/reauth`: the password again, for a session about to remove
/// masks, rules or zones.
pub async fn reauth(
    State(auth): State<Arc<Auth>>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    axum::Json(login): axum::Json<Login>,
) -> Response {
    if let Err(answer) = auth.check_password(client, login.password).await {
        return answer;
    }
    auth.verified(&headers);
    tracing::info!(client = %client, "console: operator confirmed the password");
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /api/logout`.
pub async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    auth.close(&headers);
    ([(header::SET_COOKIE, auth.expired_cookie())], StatusCode::NO_CONTENT).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use argon2::password_hash::PasswordVerifier;

    fn make(listen: &str, secure: bool, hosts: &[&str]) -> Auth {
        let gate = Gate::new(&Secret::new(hash_password("pw").unwrap())).unwrap();
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        Auth::new(gate, secure, listen.parse().unwrap(), &hosts)
    }

    /// Request headers with one header, `name: value`.
    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, value.parse().unwrap());
        headers
    }

    fn with_host(host: &str) -> HeaderMap {
        with(header::HOST, host)
    }

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
        let auth = make("127.0.0.1:8080", false, &[]);
        assert!(auth.host_allowed(&with_host("127.0.0.1:8080")));
        assert!(auth.host_allowed(&with_host("localhost")));
        assert!(!auth.host_allowed(&with_host("evil.example:8080")));
    }

    #[test]
    fn beyond_loopback_only_the_configured_names_and_the_address() {
        let auth = make("192.168.1.20:8443", true, &["watchpost.gate.example"]);
        assert!(auth.host_allowed(&with_host("watchpost.gate.example:8443")));
        assert!(auth.host_allowed(&with_host("192.168.1.20:8443")));
        assert!(!auth.host_allowed(&with_host("evil.example:8443")));
        let wildcard = make("0.0.0.0:8443", true, &["watchpost.gate.example"]);
        assert!(wildcard.host_allowed(&with_host("watchpost.gate.example")));
        assert!(!wildcard.host_allowed(&with_host("rebound.example")));
    }

    #[test]
    fn sessions_are_found_by_cookie() {
        let auth = make("127.0.0.1:8080", false, &[]);
        let (id, csrf) = auth.open();
        let headers = with(header::COOKIE, &format!("a=b; {COOKIE}={id}"));
        assert_eq!(auth.session(&headers), Some((csrf, Fresh(true))));
        auth.close(&headers);
        assert_eq!(auth.session(&headers), None);
    }

    #[test]
    fn over_https_the_cookie_is_host_bound_and_logout_keeps_it_secure() {
        let auth = make("192.168.1.20:8443", true, &[]);
        let (id, _) = auth.open();
        let set = auth.set_cookie(&id);
        assert!(set.starts_with("__Host-watchpost_session="), "{set}");
        assert!(set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"));
        assert!(auth.expired_cookie().contains("; Secure"));
        // the plain name is not accepted over HTTPS
        let headers = with(header::COOKIE, &format!("{COOKIE}={id}"));
        assert_eq!(auth.session(&headers), None);
    }

    #[test]
    fn a_session_ends_at_its_lifetime_however_busy_and_freshness_fades() {
        let auth = make("127.0.0.1:8080", false, &[]);
        let (id, _) = auth.open();
        let headers = with(header::COOKIE, &format!("{COOKIE}={id}"));
        let Some(earlier) = Instant::now().checked_sub(REAUTH_WINDOW + Duration::from_secs(1)) else {
            return;
        };
        auth.sessions.lock().unwrap().get_mut(&key(&id)).unwrap().verified = earlier;
        assert_eq!(auth.session(&headers).map(|s| s.1), Some(Fresh(false)));
        auth.verified(&headers);
        assert_eq!(auth.session(&headers).map(|s| s.1), Some(Fresh(true)));
        let Some(born) = Instant::now().checked_sub(LIFETIME) else {
            return;
        };
        auth.sessions.lock().unwrap().get_mut(&key(&id)).unwrap().created = born;
        assert_eq!(auth.session(&headers), None);
    }
}
