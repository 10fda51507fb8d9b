//! MQTT delivery through rumqttc, to the box's own Mosquitto by default, with
//! TLS and password authentication for any other broker.
//!
//! Two tasks, each owning one thing (rumqttc's and mini-redis's way):
//! * the link task owns the rumqttc event loop and polls it forever — a
//!   connection error means "wait and reconnect", never "exit";
//! * the delivery task owns the in-flight bookkeeping: it reads the durable
//!   outbox in sequence order, publishes at QoS 1 within a window, and
//!   removes a record only when its PUBACK arrives.
//!
//! The session is clean: after every reconnect, everything still in the
//! outbox is published again from the oldest record, so an event may arrive
//! twice but is never lost. Consumers de-duplicate by (`incident_id`, `seq`).
//! Broker state changes — up, down and why — are logged once per change.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS, TlsConfiguration, Transport};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use toml::Spanned;

use super::Topics;
use super::outbox::Outbox;
use crate::config::Ctx;

/// Publishes in flight at once (below rumqttc's own limit of 100).
const WINDOW: usize = 64;

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker: "mqtt://127.0.0.1:1883" (the box's own Mosquitto, the
    /// default) or "mqtts://broker.example.org:8883".
    #[serde(default = "default_url")]
    pub url: Spanned<String>,
    /// Client id; default "watchpost-<site>-<box>".
    #[serde(default)]
    pub client_id: Option<Spanned<String>>,
    /// Seconds between keep-alive pings, e.g. 30. A broker that stops
    /// answering is noticed within about twice this.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: Spanned<u64>,
    /// Topic prefix; default "watchpost/<site>/<box>".
    #[serde(default)]
    pub topic_prefix: Option<Spanned<String>>,
    /// Longest wait between reconnect attempts, e.g. 30.
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: Spanned<u64>,
    /// Seconds between health messages on `<prefix>/stats`, e.g. 60.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_secs: Spanned<u64>,
    /// For mqtts://: the CA certificate(s) the broker's certificate must chain to (PEM),
    /// e.g. "/etc/watchpost/mqtt-ca.pem".
    #[serde(default)]
    pub ca_file: Option<Spanned<PathBuf>>,
    /// For mqtts:// with client certificates: this box's certificate (PEM).
    #[serde(default)]
    pub client_cert: Option<Spanned<PathBuf>>,
    /// …and its private key (PEM).
    #[serde(default)]
    pub client_key: Option<Spanned<PathBuf>>,
    /// User name, e.g. "gatehouse-1".
    #[serde(default)]
    pub username: Option<Spanned<String>>,
    /// File holding the password (one line), e.g. "/etc/watchpost/mqtt-password".
    #[serde(default)]
    pub password_file: Option<Spanned<PathBuf>>,
    /// Name of a systemd credential holding the password (LoadCredential=), e.g. "mqtt-password".
    #[serde(default)]
    pub password_credential: Option<Spanned<String>>,
}

fn default_url() -> Spanned<String> {
    Spanned::new(0..0, "mqtt://127.0.0.1:1883".to_string())
}
fn default_keep_alive() -> Spanned<u64> {
    Spanned::new(0..0, 30)
}
fn default_retry_max() -> Spanned<u64> {
    Spanned::new(0..0, 30)
}
fn default_stats_interval() -> Spanned<u64> {
    Spanned::new(0..0, 60)
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            client_id: None,
            keep_alive_secs: default_keep_alive(),
            topic_prefix: None,
            retry_max_secs: default_retry_max(),
            stats_interval_secs: default_stats_interval(),
            ca_file: None,
            client_cert: None,
            client_key: None,
            username: None,
            password_file: None,
            password_credential: None,
        }
    }
}

/// Where the password comes from. The password itself is read at start and
/// never stored in the plan, printed or logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    File(PathBuf),
    Credential(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPlan {
    pub ca: PathBuf,
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Checked broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttPlan {
    /// For logs: scheme, host and port, never credentials.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub tls: Option<TlsPlan>,
    pub username: Option<String>,
    pub password: Option<PasswordSource>,
    pub client_id: String,
    pub keep_alive: Duration,
    pub retry_max: Duration,
    pub stats_interval: Duration,
    pub topics: Topics,
}

pub fn check(config: &MqttConfig, site: &str, box_id: &str, ctx: &mut Ctx<'_>) -> Option<MqttPlan> {
    let url = config.url.get_ref().trim();
    let (secure, endpoint) = match url.split_once("://") {
        Some(("mqtt", rest)) => (false, parse_host_port(rest, 1883)),
        Some(("mqtts", rest)) => (true, parse_host_port(rest, 8883)),
        Some((scheme, _)) => (
            false,
            Err(format!(
                "scheme `{scheme}://` is not supported; use mqtt:// or mqtts://"
            )),
        ),
        None => (false, Err("expected mqtt://host:port or mqtts://host:port".to_string())),
    };
    let endpoint = match endpoint {
        Ok(hp) => Some(hp),
        Err(reason) => {
            ctx.error(config.url.span(), format!("mqtt.url `{url}`: {reason}"));
            None
        }
    };
    let keep_alive = ctx.in_range(&config.keep_alive_secs, 5..=3600, "mqtt.keep_alive_secs");
    let retry_max = ctx.in_range(&config.retry_max_secs, 1..=3600, "mqtt.retry_max_secs");
    let stats_interval = ctx.in_range(&config.stats_interval_secs, 1..=86_400, "mqtt.stats_interval_secs");
    let client_id = match &config.client_id {
        Some(id) => ctx.identifier(id, "mqtt.client_id"),
        None => Some(format!("watchpost-{site}-{box_id}")),
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
    let tls = match (secure, ca?, cert?, key?) {
        (true, Some(ca), cert, key) => {
            let client = match (cert, key) {
                (Some(c), Some(k)) => Some((c, k)),
                (None, None) => None,
                _ => {
                    ctx.error(
                        config.url.span(),
                        "mqtt.client_cert and mqtt.client_key go together; set both or neither",
                    );
                    return None;
                }
            };
            Some(TlsPlan { ca, client })
        }
        (true, None, _, _) => {
            ctx.error(
                config.url.span(),
                "mqtts:// needs mqtt.ca_file, the CA certificate the broker's certificate chains to",
            );
            return None;
        }
        (false, ca, cert, key) => {
            if ca.is_some() || cert.is_some() || key.is_some() {
                ctx.error(
                    config.url.span(),
                    "mqtt.ca_file, client_cert and client_key apply to mqtts:// only",
                );
            }
            None
        }
    };
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
            config.url.span(),
            "a password is set but mqtt.username is not; set the user name too",
        );
    }
    let (host, port) = endpoint?;
    Some(MqttPlan {
        url: format!("{}://{host}:{port}", if secure { "mqtts" } else { "mqtt" }),
        host,
        port,
        tls,
        username: config.username.as_ref().map(|u| u.get_ref().clone()),
        password,
        client_id: client_id?,
        keep_alive: Duration::from_secs(keep_alive?),
        retry_max: Duration::from_secs(retry_max?),
        stats_interval: Duration::from_secs(stats_interval?),
        topics: Topics::new(prefix?),
    })
}

fn parse_host_port(rest: &str, default_port: u16) -> Result<(String, u16), String> {
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') || authority.contains('@') {
        return Err("give only host and port (credentials go in mqtt.username and mqtt.password_file)".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("port `{port}` is not a number from 1 to 65535"))?,
        ),
        None => (authority, default_port),
    };
    if host.is_empty() || port == 0 {
        return Err("host and port must not be empty or zero".into());
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the systemd credential `{0}` is not available: CREDENTIALS_DIRECTORY is not set (add LoadCredential={0}:… to the unit)"
    )]
    NoCredentials(String),
}

/// The rumqttc options for a plan: reads the CA, client certificate and
/// password files now, so a missing file is an error at start.
pub fn options(plan: &MqttPlan) -> Result<MqttOptions, PublishError> {
    let read = |what: &'static str, path: &PathBuf| {
        std::fs::read(path).map_err(|source| PublishError::Read {
            what,
            path: path.clone(),
            source,
        })
    };
    let mut options = MqttOptions::new(plan.client_id.clone(), plan.host.clone(), plan.port);
    options
        .set_keep_alive(plan.keep_alive)
        .set_clean_session(true)
        .set_request_channel_capacity(WINDOW * 4)
        .set_last_will(LastWill::new(
            plan.topics.availability(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(tls) = &plan.tls {
        let client_auth = match &tls.client {
            Some((cert, key)) => Some((read("mqtt.client_cert", cert)?, read("mqtt.client_key", key)?)),
            None => None,
        };
        options.set_transport(Transport::Tls(TlsConfiguration::Simple {
            ca: read("mqtt.ca_file", &tls.ca)?,
            alpn: None,
            client_auth,
        }));
    }
    if let Some(user) = &plan.username {
        let password = match &plan.password {
            Some(PasswordSource::File(path)) => read("mqtt.password_file", path)?,
            Some(PasswordSource::Credential(name)) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
                    .ok_or_else(|| PublishError::NoCredentials(name.clone()))?;
                read("systemd credential", &PathBuf::from(dir).join(name))?
            }
            None => Vec::new(),
        };
        let password = String::from_utf8_lossy(&password)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        options.set_credentials(user.clone(), password);
    }
    Ok(options)
}

/// Health figures the app adds to each stats message.
pub type StatsSource = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Raise → PUBACK latencies kept for the stats and the benchmarks.
const LATENCY_SAMPLES: usize = 4096;

/// What a caller (or a test) can read about the link.
#[derive(Debug, Default)]
pub struct PublisherStatus {
    pub connected: AtomicBool,
    /// The latest raise → PUBACK latencies, oldest first.
    latencies: std::sync::Mutex<VecDeque<Duration>>,
}

impl PublisherStatus {
    fn record_latency(&self, latency: Duration) {
        let mut samples = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == LATENCY_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(latency);
    }

    /// The latest raise → PUBACK latencies (at most 4096).
    pub fn latencies(&self) -> Vec<Duration> {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

/// The running publisher.
pub struct Publisher {
    status: Arc<PublisherStatus>,
    stop: CancellationToken,
    delivery: JoinHandle<()>,
    link: JoinHandle<()>,
}

impl Publisher {
    /// Starts the link and delivery tasks on the current tokio runtime.
    pub fn spawn(plan: MqttPlan, outbox: Arc<Outbox>, stats: StatsSource) -> Result<Self, PublishError> {
        let (client, eventloop) = AsyncClient::new(options(&plan)?, WINDOW * 4);
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(PublisherStatus::default());
        let stop = CancellationToken::new();
        let link = tokio::spawn(drive_link(eventloop, tx, plan.retry_max));
        let delivery = Delivery {
            client,
            outbox,
            plan,
            status: status.clone(),
            stats,
            up: false,
            link_state: LinkState::Unknown,
            unassigned: VecDeque::new(),
            in_flight: HashMap::new(),
            last_sent: 0,
            acked: Vec::new(),
        };
        let delivery = tokio::spawn(delivery.run(rx, stop.clone()));
        Ok(Self {
            status,
            stop,
            delivery,
            link,
        })
    }

    pub fn status(&self) -> Arc<PublisherStatus> {
        self.status.clone()
    }

    /// Delivers what the outbox holds while the broker is reachable, marks
    /// the box offline and disconnects, waiting at most `grace`. Whatever is
    /// not acknowledged by then stays in the outbox for the next start.
    pub async fn shutdown(self, grace: Duration) {
        self.stop.cancel();
        let Self {
            mut delivery, mut link, ..
        } = self;
        if tokio::time::timeout(grace, &mut delivery).await.is_err() {
            tracing::warn!(
                "MQTT delivery did not finish before the stop deadline; undelivered events stay in the outbox"
            );
            delivery.abort();
        }
        if tokio::time::timeout(Duration::from_secs(1), &mut link).await.is_err() {
            link.abort();
        }
    }
}

/// What the link task tells the delivery task.
enum LinkEvent {
    Up,
    /// The connection failed; the delivery task confirms it stopped publishing.
    Down {
        reason: String,
        confirm: oneshot::Sender<()>,
    },
    /// A publish left with this packet id (0 for QoS 0).
    Sent(u16),
    Acked(u16),
    Closed,
}

/// Owns the event loop: polls it forever, reconnecting with backoff.
async fn drive_link(mut eventloop: rumqttc::EventLoop, tx: mpsc::UnboundedSender<LinkEvent>, retry_max: Duration) {
    let initial = Duration::from_millis(500);
    let mut wait = initial;
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                wait = initial;
                LinkEvent::Up
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => LinkEvent::Acked(ack.pkid),
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => LinkEvent::Sent(pkid),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                let _ = tx.send(LinkEvent::Closed);
                return;
            }
            Ok(_) => continue,
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(error) => {
                let (confirm, confirmed) = oneshot::channel();
                if tx
                    .send(LinkEvent::Down {
                        reason: describe(&error),
                        confirm,
                    })
                    .is_err()
                {
                    return;
                }
                // Once the delivery task stopped publishing, drop whatever it
                // queued meanwhile: the new session starts from the outbox.
                let _ = confirmed.await;
                eventloop.clean();
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(retry_max);
                continue;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// An operator's reading of a connection error.
fn describe(error: &rumqttc::ConnectionError) -> String {
    use rumqttc::ConnectReturnCode as Code;
    match error {
        rumqttc::ConnectionError::ConnectionRefused(Code::BadUserNamePassword | Code::NotAuthorized) => {
            "the broker refused the user name or password (check mqtt.username and the password file)".into()
        }
        rumqttc::ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection: {code:?}"),
        rumqttc::ConnectionError::MqttState(rumqttc::StateError::AwaitPingResp) => {
            "the broker stopped answering keep-alive pings".into()
        }
        rumqttc::ConnectionError::Tls(e) => {
            format!("TLS: {e} (check mqtt.ca_file and that the host name matches the broker's certificate)")
        }
        other => other.to_string(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum LinkState {
    Unknown,
    Up,
    Down(String),
}

/// Owns the in-flight bookkeeping between the outbox and the broker.
struct Delivery {
    client: AsyncClient,
    outbox: Arc<Outbox>,
    plan: MqttPlan,
    status: Arc<PublisherStatus>,
    stats: StatsSource,
    up: bool,
    link_state: LinkState,
    /// Publishes handed to rumqttc whose packet id is not known yet, in
    /// order: Some(seq) for outbox records, None for other messages.
    unassigned: VecDeque<Option<u64>>,
    /// Packet id → outbox sequence number, awaiting PUBACK.
    in_flight: HashMap<u16, u64>,
    /// The last outbox record published in this session.
    last_sent: u64,
    /// Acknowledged records not yet removed from the outbox.
    acked: Vec<u64>,
}

impl Delivery {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<LinkEvent>, stop: CancellationToken) {
        let mut flush = tokio::time::interval(Duration::from_millis(50));
        let mut stats = tokio::time::interval(self.plan.stats_interval);
        let outbox = self.outbox.clone();
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => self.handle(event),
                    None => return,
                },
                _ = outbox.written() => self.fill(),
                _ = flush.tick() => self.flush_acked(),
                _ = stats.tick() => self.publish_stats(),
                _ = stop.cancelled() => break,
            }
        }
        self.finish(&mut rx).await;
    }

    fn handle(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up => {
                self.up = true;
                self.status.connected.store(true, Ordering::Relaxed);
                let (depth, _) = self.outbox.depth().unwrap_or((0, None));
                if self.link_state != LinkState::Up {
                    tracing::info!(broker = %self.plan.url, client_id = %self.plan.client_id, pending = depth, "connected to MQTT broker");
                    self.link_state = LinkState::Up;
                }
                self.publish_other(
                    self.plan.topics.availability(),
                    QoS::AtLeastOnce,
                    true,
                    b"online".to_vec(),
                );
                self.last_sent = 0;
                self.fill();
            }
            LinkEvent::Down { reason, confirm } => {
                self.up = false;
                self.status.connected.store(false, Ordering::Relaxed);
                self.unassigned.clear();
                self.in_flight.clear();
                self.flush_acked();
                if self.link_state != LinkState::Down(reason.clone()) {
                    tracing::warn!(broker = %self.plan.url, error = %reason, "MQTT broker unreachable; incidents are kept in the outbox and sent when it is back");
                    self.link_state = LinkState::Down(reason);
                }
                let _ = confirm.send(());
            }
            LinkEvent::Sent(pkid) => {
                if let Some(Some(seq)) = self.unassigned.pop_front()
                    && pkid != 0
                {
                    self.in_flight.insert(pkid, seq);
                }
            }
            LinkEvent::Acked(pkid) => {
                if let Some(seq) = self.in_flight.remove(&pkid) {
                    if let Some(raised) = self.outbox.raised_at(seq) {
                        self.status.record_latency(raised.elapsed());
                    }
                    self.acked.push(seq);
                }
                self.fill();
            }
            LinkEvent::Closed => {
                self.up = false;
                self.status.connected.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Publishes outbox records after the last one sent, within the window.
    fn fill(&mut self) {
        if !self.up || self.outbox.last_seq() <= self.last_sent {
            return;
        }
        let room = WINDOW.saturating_sub(self.unassigned.len() + self.in_flight.len());
        if room == 0 {
            return;
        }
        let records = match self.outbox.read_after(self.last_sent, room) {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return;
            }
        };
        for (seq, record) in records {
            if self
                .client
                .try_publish(record.topic, QoS::AtLeastOnce, false, record.payload)
                .is_err()
            {
                break;
            }
            self.unassigned.push_back(Some(seq));
            self.last_sent = seq;
        }
    }

    fn publish_other(&mut self, topic: String, qos: QoS, retain: bool, payload: Vec<u8>) {
        if self.client.try_publish(topic, qos, retain, payload).is_ok() {
            self.unassigned.push_back(None);
        }
    }

    fn flush_acked(&mut self) {
        if self.acked.is_empty() {
            return;
        }
        match self.outbox.remove(&self.acked) {
            Ok(()) => self.acked.clear(),
            Err(e) => {
                tracing::error!(error = %e, "cannot remove delivered events from the outbox; they may be sent again")
            }
        }
    }

    fn publish_stats(&mut self) {
        if let Err(e) = self.outbox.expire() {
            tracing::error!(error = %e, "cannot expire old outbox records");
        }
        if !self.up {
            return;
        }
        let (depth, oldest) = self.outbox.depth().unwrap_or((0, None));
        let mut message = (self.stats)();
        message["outbox"] = serde_json::json!({
            "depth": depth,
            "oldest_age_secs": oldest,
            "dropped": self.outbox.stats.dropped.load(Ordering::Relaxed),
            "quarantined": self.outbox.stats.quarantined.load(Ordering::Relaxed),
            "delivered": self.outbox.stats.delivered.load(Ordering::Relaxed),
        });
        message["mqtt"] = serde_json::json!({ "connected": self.up });
        self.publish_other(
            self.plan.topics.stats(),
            QoS::AtMostOnce,
            false,
            message.to_string().into_bytes(),
        );
    }

    /// Shutdown: while connected, wait until everything written so far is
    /// acknowledged, then say offline and disconnect.
    async fn finish(&mut self, rx: &mut mpsc::UnboundedReceiver<LinkEvent>) {
        let target = self.outbox.last_seq();
        while self.up && !(self.last_sent >= target && self.unassigned.is_empty() && self.in_flight.is_empty()) {
            match rx.recv().await {
                Some(event) => self.handle(event),
                None => break,
            }
            self.fill();
        }
        self.flush_acked();
        if self.up {
            let _ = self
                .client
                .publish(self.plan.topics.availability(), QoS::AtLeastOnce, true, "offline")
                .await;
            let _ = self.client.disconnect().await;
            while let Some(event) = rx.recv().await {
                if matches!(event, LinkEvent::Closed | LinkEvent::Down { .. }) {
                    break;
                }
            }
            tracing::info!(broker = %self.plan.url, "disconnected from MQTT broker");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_parse_with_a_default_port() {
        assert_eq!(parse_host_port("127.0.0.1:1884", 1883), Ok(("127.0.0.1".into(), 1884)));
        assert_eq!(parse_host_port("broker.local", 8883), Ok(("broker.local".into(), 8883)));
        assert!(parse_host_port("host:99999", 1883).is_err());
        assert!(parse_host_port("user:pw@host", 1883).is_err());
    }
}
