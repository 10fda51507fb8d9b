//! The broker connection as the operator configures it in `[mqtt]`: the box's
//! own Mosquitto by default, or any broker over `mqtts://` with a CA file, an
//! optional client certificate and a password from a file or a systemd
//! credential; or several brokers (`urls`, the nodes of a hub), of which the
//! box uses one at a time and moves to the next when it fails. The password is read at start into rumqttc's options and is
//! never kept in the plan, printed or logged. The client's options are
//! built from the plan in [`super::options`], delivery itself is in
//! [`super::delivery`].

use std::path::PathBuf;

use super::topics::Topics;
pub use crate::config::SecretSource as PasswordSource;
use crate::config::Spanned;
use crate::config::secret::mask_unparsed;
use crate::config::{Checked, Ctx, SecretUrl, WholeSecs};

/// Publishes in flight at once (below rumqttc's own limit of 100).
pub(crate) const WINDOW: usize = 64;

crate::config::table! {
    /// `[mqtt]`.
    pub struct MqttConfig in "mqtt." => #[derive(Eq)] MqttKeys {
        /// The broker: "mqtt://127.0.0.1:1883" (the box's own Mosquitto, the
        /// default) or "mqtts://broker.example.org:8883".
        #[apart]
        pub url: Spanned<String> = "mqtt://127.0.0.1:1883";
        /// Several brokers instead of `url`: the nodes of one hub (docs/fleet.md),
        /// e.g. ["mqtts://hub-1.example.org:8883", "mqtts://hub-2.example.org:8883",
        /// "mqtts://hub-3.example.org:8883"]. The box connects to the first; when
        /// its broker fails it tries the next in turn (the same reconnect backoff,
        /// client id and outbox), and stays on the one that answers. All use
        /// mqtt:// or all mqtts:// (the same CA, certificate and password).
        #[apart]
        pub urls: Option<Spanned<Vec<Spanned<String>>>>;
        /// Client id, e.g. "watchpost-gatehouse-1"; default
        /// "watchpost-<site>-<box>-<machine>", where <machine> is 8 hex digits
        /// derived from /etc/machine-id, so two boxes installed from the same
        /// config never share an id (and never kick each other off the broker).
        #[apart]
        pub client_id: Option<Spanned<String>>;
        /// Seconds between keep-alive pings, e.g. 30. A broker that stops
        /// answering is noticed within about twice this.
        pub keep_alive_secs: Spanned<WholeSecs> = 30, range 5..=3600;
        /// Topic prefix; default "watchpost/<site>/<box>".
        #[apart]
        pub topic_prefix: Option<Spanned<String>>;
        /// Longest wait between reconnect attempts, e.g. 30.
        pub retry_max_secs: Spanned<WholeSecs> = 30, range 1..=3600;
        /// Seconds between health messages on `<prefix>/stats`, e.g. 60.
        pub stats_interval_secs: Spanned<WholeSecs> = 60, range 1..=86_400;
        /// For mqtts://: the CA certificate(s) the broker's certificate must chain to (PEM),
        /// e.g. "/etc/watchpost/mqtt-ca.pem".
        #[apart]
        pub ca_file: Option<Spanned<PathBuf>>;
        /// For mqtts:// with client certificates: this box's certificate (PEM).
        #[apart]
        pub client_cert: Option<Spanned<PathBuf>>;
        /// …and its private key (PEM).
        #[apart]
        pub client_key: Option<Spanned<PathBuf>>;
        /// User name, e.g. "gatehouse-1".
        pub username: Option<Spanned<String>>;
        /// File holding the password (one line), e.g. "/etc/watchpost/mqtt-password".
        #[apart]
        pub password_file: Option<Spanned<PathBuf>>;
        /// Name of a systemd credential holding the password (LoadCredential=), e.g. "mqtt-password".
        #[apart]
        pub password_credential: Option<Spanned<String>>;
        /// Send the password over plain mqtt:// to a host other than this box,
        /// where anyone on the network can read it, e.g. false (the default:
        /// such a config is refused; use mqtts://).
        #[apart]
        pub allow_plaintext_password: Spanned<bool>;
        /// Take arming commands on `<prefix>/…/armed/set` and
        /// `<prefix>/profile/set`, e.g. true (default false). Limit who may
        /// publish them in the broker's ACL (docs/integrations.md). Taken only
        /// when the box logs in (`username` with a password, or a client
        /// certificate), and only live: a retained command is cleared, never applied.
        pub arming_commands: Spanned<bool>;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPlan {
    pub ca: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// One broker of the list: its URL for logs (scheme, host and port, never
/// credentials), host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub host: String,
    pub port: u16,
}

/// Checked broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttPlan {
    /// The first broker. For logs: scheme, host and port, never credentials.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// The brokers after the first (`mqtt.urls`), tried in turn when the one
    /// in use fails; empty with a single broker.
    pub alternates: Vec<Endpoint>,
    pub tls: Option<TlsPlan>,
    pub password: Option<PasswordSource>,
    pub client_id: String,
    pub topics: Topics,
    /// Every key but those worked out above (the brokers, the client id,
    /// the topic prefix, TLS and the password), checked: the timings as
    /// durations, `username`, whether arming commands are asked for.
    pub keys: MqttKeys,
}

impl MqttPlan {
    /// Every broker, the first one first.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        let first = Endpoint {
            url: self.url.clone(),
            host: self.host.clone(),
            port: self.port,
        };
        std::iter::once(first).chain(self.alternates.iter().cloned()).collect()
    }

    /// Why arming commands are not taken although `mqtt.arming_commands`
    /// asks for them: the box logs in to the broker with neither a user name
    /// and password nor a client certificate, so the broker cannot tell
    /// who publishes a command and its ACL cannot limit it. None when they
    /// are taken, or not asked for.
    pub fn arming_refused(&self) -> Option<&'static str> {
        let password = self.keys.username.is_some() && self.password.is_some();
        let certificate = self.tls.as_ref().is_some_and(|t| t.client.is_some());
        (self.keys.arming_commands && !password && !certificate).then_some(
            "mqtt.arming_commands is on, but the box logs in to the broker anonymously (no mqtt.username with a password, no client certificate): on such a broker anyone can disarm a camera, so arming commands are not taken; set up the broker's users and ACL (docs/integrations.md) and give the box its user",
        )
    }

    /// Whether arming commands are taken: asked for, over an authenticated connection.
    pub fn takes_arming(&self) -> bool {
        self.keys.arming_commands && self.arming_refused().is_none()
    }
}

pub fn check(config: &MqttConfig, site: &str, box_id: &str, ctx: &mut Ctx<'_>) -> Option<MqttPlan> {
    // `url` or `urls`: the written URLs, each with its key for messages.
    let written: Vec<(&'static str, &Spanned<String>)> = match &config.urls {
        Some(list) => {
            if config.url.span() != (0..0) {
                ctx.error(
                    list.span(),
                    "set mqtt.url (one broker) or mqtt.urls (several), not both",
                );
            }
            if list.get_ref().is_empty() {
                ctx.error(
                    list.span(),
                    "mqtt.urls is empty; give at least one broker, e.g. [\"mqtt://127.0.0.1:1883\"]",
                );
                return None;
            }
            list.get_ref().iter().map(|u| ("mqtt.urls", u)).collect()
        }
        None => vec![("mqtt.url", &config.url)],
    };
    // Where messages about the broker as a whole point: its (first) URL.
    let anchor = written[0].1.span();
    let mut endpoints: Vec<(bool, String, u16)> = Vec::new();
    let mut failed = false;
    for (key, url) in &written {
        match parse_url(key, url.get_ref()) {
            Ok((secure, host, port)) => {
                if endpoints.iter().any(|(_, h, p)| *h == host && *p == port) {
                    ctx.error(url.span(), format!("{key}: {host}:{port} is listed twice"));
                    failed = true;
                } else if endpoints.first().is_some_and(|(s, _, _)| *s != secure) {
                    ctx.error(
                        url.span(),
                        format!("{key} mixes mqtt:// and mqtts://; use one scheme for every broker (they share the CA, certificate and password)"),
                    );
                    failed = true;
                }
                endpoints.push((secure, host, port));
            }
            Err(message) => {
                ctx.error(url.span(), message);
                failed = true;
            }
        }
    }
    let secure = endpoints.first().is_some_and(|(s, _, _)| *s);
    let endpoints = (!failed).then_some(endpoints);
    let keys = config.checked(ctx);
    let client_id = match &config.client_id {
        Some(id) => ctx.identifier(id, "mqtt.client_id"),
        None => Some(default_client_id(site, box_id, machine_id().as_deref())),
    };
    let prefix = match &config.topic_prefix {
        Some(p) => {
            let text = p.get_ref().trim_end_matches('/');
            if text.is_empty() || text.contains(['+', '#']) || text.starts_with('/') {
                ctx.error(
                    p.span(),
                    "mqtt.topic_prefix must be a non-empty topic without wildcards (+, #) or a leading /",
                );
                None
            } else {
                Some(text.to_string())
            }
        }
        None => Some(format!("watchpost/{site}/{box_id}")),
    };
    let mut file = |key: &str, value: &Option<Spanned<PathBuf>>| -> Option<Option<PathBuf>> {
        let Some(value) = value else {
            return Some(None);
        };
        let path = ctx.resolve(value.get_ref());
        if path.is_file() {
            Some(Some(path))
        } else {
            ctx.error(value.span(), format!("mqtt.{key}: {} does not exist", path.display()));
            None
        }
    };
    let ca = file("ca_file", &config.ca_file);
    let cert = file("client_cert", &config.client_cert);
    let key = file("client_key", &config.client_key);
    let password_file = file("password_file", &config.password_file);
    // A file that exists but cannot be used is reported once, here.
    let ca = ca.and_then(|ca| match ca {
        Some(path) if !pem_file(&path, &config.ca_file, ctx) => None,
        other => Some(other),
    });
    let tls = match (secure, ca?, cert?, key?) {
        (true, Some(ca), cert, key) => {
            let client = match (cert, key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => {
                    ctx.error(
                        anchor.clone(),
                        "mqtt.client_cert and mqtt.client_key go together; set both or neither",
                    );
                    return None;
                }
            };
            Some(TlsPlan { ca, client })
        }
        (true, None, _, _) => {
            ctx.error(
                anchor.clone(),
                "mqtts:// needs mqtt.ca_file, the CA certificate the broker's certificate chains to",
            );
            return None;
        }
        (false, ca, cert, key) => {
            if ca.is_some() || cert.is_some() || key.is_some() {
                ctx.error(
                    anchor.clone(),
                    "mqtt.ca_file, client_cert and client_key apply to mqtts:// only",
                );
            }
            None
        }
    };
    let password_file = password_file.and_then(|p| match p {
        Some(path) if !readable(&path, &config.password_file, ctx) => None,
        other => Some(other),
    });
    let password = match (password_file?, &config.password_credential) {
        (Some(_), Some(c)) => {
            ctx.error(c.span(), "set mqtt.password_file or mqtt.password_credential, not both");
            return None;
        }
        (Some(path), None) => Some(PasswordSource::File(path)),
        (None, Some(name)) => ctx
            .identifier(name, "mqtt.password_credential")
            .map(PasswordSource::Credential),
        (None, None) => None,
    };
    if password.is_some() && config.username.is_none() {
        ctx.error(
            anchor.clone(),
            "a password is set but mqtt.username is not; set the user name too",
        );
    }
    let endpoints = endpoints?;
    let key = written[0].0;
    if password.is_some() && !secure && !*config.allow_plaintext_password.get_ref() {
        for ((_, url), (_, host, _)) in written.iter().zip(&endpoints) {
            if !is_loopback(host) {
                ctx.error(
                    url.span(),
                    format!(
                        "{key}: the password would cross the network to {host} in plain text; use mqtts:// (with mqtt.ca_file) or set mqtt.allow_plaintext_password = true"
                    ),
                );
                return None;
            }
        }
    }
    let scheme = if secure { "mqtts" } else { "mqtt" };
    let mut endpoints = endpoints.into_iter().map(|(_, host, port)| Endpoint {
        url: format!("{scheme}://{host}:{port}"),
        host,
        port,
    });
    let first = endpoints.next()?;
    Some(MqttPlan {
        url: first.url,
        host: first.host,
        port: first.port,
        alternates: endpoints.collect(),
        tls,
        password,
        client_id: client_id?,
        topics: Topics::new(prefix?),
        keys: keys?,
    })
}

/// The default client id: site, box and a stable per-machine suffix (a hash
/// of the machine id, which itself stays private).
pub fn default_client_id(site: &str, box_id: &str, machine: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match machine.map(str::trim).filter(|m| !m.is_empty()) {
        Some(machine) => {
            let digest = Sha256::digest(format!("watchpost-mqtt-client:{machine}"));
            let suffix: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
            format!("watchpost-{site}-{box_id}-{suffix}")
        }
        None => format!("watchpost-{site}-{box_id}"),
    }
}

/// This machine's id (systemd's /etc/machine-id, or D-Bus's copy).
fn machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().filter(|id| !id.trim().is_empty()))
}

/// (mqtts?, host, port) of a written broker URL, or the message for `key`.
pub fn parse_url(key: &str, raw: &str) -> Result<(bool, String, u16), String> {
    let raw = raw.trim();
    match SecretUrl::parse(raw) {
        Ok(url) => endpoint(&url).map_err(|reason| {
            // As written when nothing in it is secret, so the operator recognises it.
            let shown = if url.has_secret() {
                url.masked()
            } else {
                raw.to_string()
            };
            format!("{key} `{shown}`: {reason}")
        }),
        Err(e) => Err(format!("{key} `{}`: {e}", mask_unparsed(raw))),
    }
}

/// (mqtts?, host, port) of a broker URL, which holds nothing but those.
fn endpoint(url: &SecretUrl) -> Result<(bool, String, u16), String> {
    let (secure, default_port) = match url.scheme() {
        "mqtt" => (false, 1883),
        "mqtts" => (true, 8883),
        scheme => {
            return Err(format!(
                "scheme `{scheme}://` is not supported; use mqtt:// or mqtts://"
            ));
        }
    };
    if url.username().is_some() {
        return Err("give only host and port (credentials go in mqtt.username and mqtt.password_file)".into());
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() {
        return Err("give only host and port, no path or query".into());
    }
    let host = url.host().filter(|h| !h.is_empty()).ok_or("the host is missing")?;
    let port = url.port().unwrap_or(default_port);
    if port == 0 {
        return Err("port 0 is not a port; use 1 to 65535".into());
    }
    Ok((secure, host, port))
}

/// Whether a broker host is this box: a password to it never crosses the network.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a secret file can be read now; reports where it is configured if not.
fn readable(path: &std::path::Path, key: &Option<Spanned<PathBuf>>, ctx: &mut Ctx<'_>) -> bool {
    match std::fs::read(path) {
        Ok(_) => true,
        Err(e) => {
            let span = key.as_ref().map_or(0..0, Spanned::span);
            ctx.error(
                span,
                format!(
                    "cannot read {}: {e}; check its owner and mode (the service reads it as user watchpost)",
                    path.display()
                ),
            );
            false
        }
    }
}

/// Whether a CA file can be read and holds a PEM certificate.
fn pem_file(path: &std::path::Path, key: &Option<Spanned<PathBuf>>, ctx: &mut Ctx<'_>) -> bool {
    if !readable(path, key, ctx) {
        return false;
    }
    let text = std::fs::read(path).unwrap_or_default();
    if String::from_utf8_lossy(&text).contains("-----BEGIN CERTIFICATE-----") {
        return true;
    }
    let span = key.as_ref().map_or(0..0, Spanned::span);
    ctx.error(
        span,
        format!(
            "mqtt.ca_file: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ),
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arming_is_refused_on_an_anonymous_connection() {
        let mut plan = MqttPlan {
            url: "mqtt://127.0.0.1:1883".into(),
            host: "127.0.0.1".into(),
            port: 1883,
            alternates: Vec::new(),
            tls: None,
            password: None,
            client_id: "c".into(),
            topics: Topics::new("p"),
            keys: MqttKeys {
                arming_commands: true,
                ..MqttKeys::default()
            },
        };
        assert!(!plan.takes_arming() && plan.arming_refused().is_some());
        plan.keys.username = Some("watchpost".into());
        assert!(!plan.takes_arming(), "a user name without a password is no login");
        plan.password = Some(PasswordSource::File("/etc/watchpost/mqtt-password".into()));
        assert!(plan.takes_arming());
        plan.keys.arming_commands = false;
        assert!(!plan.takes_arming() && plan.arming_refused().is_none());
    }

    #[test]
    fn host_and_port_parse_with_a_default_port() {
        let parse = |raw: &str| {
            SecretUrl::parse(raw)
                .map_err(|e| e.to_string())
                .and_then(|u| endpoint(&u))
        };
        assert_eq!(parse("mqtt://127.0.0.1:1884"), Ok((false, "127.0.0.1".into(), 1884)));
        assert_eq!(parse("mqtts://broker.local"), Ok((true, "broker.local".into(), 8883)));
        assert_eq!(parse("mqtt://[::1]:1883/"), Ok((false, "::1".into(), 1883)));
        assert!(parse("mqtt://host:99999").is_err());
        let err = parse("mqtt://user:hunter22@host").unwrap_err();
        assert!(!err.contains("hunter22"), "{err}");
        assert!(is_loopback("::1") && is_loopback("localhost") && !is_loopback("10.0.0.2"));
    }

    #[test]
    fn the_default_client_id_differs_between_machines_and_is_stable_on_one() {
        let a = default_client_id("maple", "gate-1", Some("0123456789abcdef0123456789abcdef\n"));
        let b = default_client_id("maple", "gate-1", Some("fedcba9876543210fedcba9876543210"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            default_client_id("maple", "gate-1", Some("0123456789abcdef0123456789abcdef"))
        );
        assert!(a.starts_with("watchpost-maple-gate-1-") && a.len() == "watchpost-maple-gate-1-".len() + 8);
        assert!(!a.contains("0123456789"), "the machine id itself stays private: {a}");
        assert_eq!(default_client_id("maple", "gate-1", None), "watchpost-maple-gate-1");
    }
}
