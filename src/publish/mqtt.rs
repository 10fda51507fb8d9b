//! MQTT delivery through rumqttc, to the box's own Mosquitto by default.
//!
//! Two tasks, each owning one thing (rumqttc's and mini-redis's way): the
//! connection task owns the event loop and keeps polling it — a connection
//! error means "wait and reconnect", never "exit" — and the forwarder task
//! owns the alert queue and hands alerts to the client. Cameras only push into
//! an unbounded queue, so a slow or absent broker never stalls a camera.
//!
//! The session is persistent (clean session off, a stable client id), so
//! alerts queued or in flight while the broker is unreachable are delivered
//! once it is back. Broker state changes are logged once per change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use toml::Spanned;

use super::{Alert, Topics};
use crate::config::Ctx;

/// `[mqtt]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// The broker, e.g. "mqtt://127.0.0.1:1883" (the box's own Mosquitto, the default).
    #[serde(default = "default_url")]
    pub url: Spanned<String>,
    /// Client id; default "watchpost-<site>-<box>". Keep it stable: the broker
    /// keeps the session (and undelivered alerts) under it.
    #[serde(default)]
    pub client_id: Option<Spanned<String>>,
    /// Seconds between keep-alive pings, e.g. 30.
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: Spanned<u64>,
    /// Topic prefix; default "watchpost/<site>/<box>".
    #[serde(default)]
    pub topic_prefix: Option<Spanned<String>>,
    /// Longest wait between reconnect attempts, e.g. 30.
    #[serde(default = "default_retry_max")]
    pub retry_max_secs: Spanned<u64>,
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

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            url: default_url(),
            client_id: None,
            keep_alive_secs: default_keep_alive(),
            topic_prefix: None,
            retry_max_secs: default_retry_max(),
        }
    }
}

/// Checked broker settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttPlan {
    pub url: String,
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub keep_alive: Duration,
    pub retry_max: Duration,
    pub topics: Topics,
}

pub fn check(config: &MqttConfig, site: &str, box_id: &str, ctx: &mut Ctx<'_>) -> Option<MqttPlan> {
    let url = config.url.get_ref().trim();
    let endpoint = match url.split_once("://") {
        Some(("mqtt", rest)) => parse_host_port(rest),
        Some((scheme, _)) => Err(format!(
            "scheme `{scheme}://` is not supported; use mqtt://host:port"
        )),
        None => Err("expected mqtt://host:port".to_string()),
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
    let client_id = match &config.client_id {
        Some(id) => ctx.identifier(id, "mqtt.client_id"),
        None => Some(format!("watchpost-{site}-{box_id}")),
    };
    let prefix = match &config.topic_prefix {
        Some(p) => {
            let text = p.get_ref().trim_end_matches('/');
            if text.is_empty() || text.contains(['+', '#']) || text.starts_with('/') {
                ctx.error(p.span(), "mqtt.topic_prefix must be a non-empty topic without wildcards (+, #) or a leading /");
                None
            } else {
                Some(text.to_string())
            }
        }
        None => Some(format!("watchpost/{site}/{box_id}")),
    };
    let (host, port) = endpoint?;
    Some(MqttPlan {
        url: format!("mqtt://{host}:{port}"),
        host,
        port,
        client_id: client_id?,
        keep_alive: Duration::from_secs(keep_alive?),
        retry_max: Duration::from_secs(retry_max?),
        topics: Topics::new(prefix?),
    })
}

fn parse_host_port(rest: &str) -> Result<(String, u16), String> {
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') || authority.contains('@') {
        return Err(
            "give only host and port (credentials and paths are not part of an MQTT URL here)"
                .into(),
        );
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("port `{port}` is not a number from 1 to 65535"))?,
        ),
        None => (authority, 1883),
    };
    if host.is_empty() || port == 0 {
        return Err("host and port must not be empty or zero".into());
    }
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

/// Counters a caller (or a test) can read.
#[derive(Debug, Default)]
pub struct PublisherStatus {
    pub connected: AtomicBool,
    /// Alerts handed to the MQTT client.
    pub queued: AtomicU64,
    /// PUBACKs received (availability messages included).
    pub acked: AtomicU64,
}

/// The sending side, cloned into every camera.
#[derive(Debug, Clone)]
pub struct AlertSender {
    tx: mpsc::UnboundedSender<(String, Alert)>,
    topics: Topics,
}

impl AlertSender {
    /// Queues an alert; never waits. False if the publisher has shut down.
    pub fn send(&self, alert: Alert) -> bool {
        let topic = self.topics.incidents(&alert.camera);
        self.tx.send((topic, alert)).is_ok()
    }
}

/// The running publisher.
pub struct Publisher {
    sender: AlertSender,
    status: Arc<PublisherStatus>,
    forwarder: JoinHandle<()>,
    connection: JoinHandle<()>,
}

impl Publisher {
    /// Starts the two tasks on the current tokio runtime.
    pub fn spawn(plan: MqttPlan) -> Self {
        let mut options = MqttOptions::new(plan.client_id.clone(), plan.host.clone(), plan.port);
        options
            .set_keep_alive(plan.keep_alive)
            .set_clean_session(false)
            .set_request_channel_capacity(1024)
            .set_last_will(LastWill::new(
                plan.topics.availability(),
                "offline",
                QoS::AtLeastOnce,
                true,
            ));
        let (client, eventloop) = AsyncClient::new(options, 1024);
        let (tx, rx) = mpsc::unbounded_channel();
        let status = Arc::new(PublisherStatus::default());
        let connection = tokio::spawn(drive_connection(
            eventloop,
            client.clone(),
            plan.clone(),
            status.clone(),
        ));
        let forwarder = tokio::spawn(forward(rx, client, plan.topics.clone(), status.clone()));
        Self {
            sender: AlertSender {
                tx,
                topics: plan.topics,
            },
            status,
            forwarder,
            connection,
        }
    }

    pub fn sender(&self) -> AlertSender {
        self.sender.clone()
    }

    pub fn status(&self) -> Arc<PublisherStatus> {
        self.status.clone()
    }

    /// Delivers what is queued, marks the box offline and disconnects. Waits
    /// at most `grace` for the broker; every other sender must be dropped first.
    pub async fn shutdown(self, grace: Duration) {
        let Self {
            sender,
            forwarder,
            mut connection,
            status,
        } = self;
        drop(sender);
        let finished = tokio::time::timeout(grace, async {
            let _ = forwarder.await;
            let _ = (&mut connection).await;
        })
        .await;
        if finished.is_err() {
            connection.abort();
            tracing::warn!(
                queued = status.queued.load(Ordering::Relaxed),
                acked = status.acked.load(Ordering::Relaxed),
                "MQTT broker did not confirm everything before shutdown"
            );
        }
    }
}

/// Owns the alert queue: hands each alert to the client in order.
async fn forward(
    mut rx: mpsc::UnboundedReceiver<(String, Alert)>,
    client: AsyncClient,
    topics: Topics,
    status: Arc<PublisherStatus>,
) {
    while let Some((topic, alert)) = rx.recv().await {
        let payload = match serde_json::to_vec(&alert) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, incident = %alert.incident_id, "cannot encode alert");
                continue;
            }
        };
        if client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .is_err()
        {
            tracing::error!(incident = %alert.incident_id, "MQTT client closed; alert not sent");
            return;
        }
        status.queued.fetch_add(1, Ordering::Relaxed);
    }
    // Every sender is gone: we are shutting down.
    let _ = client
        .publish(topics.availability(), QoS::AtLeastOnce, true, "offline")
        .await;
    let _ = client.disconnect().await;
}

/// What the log last said about the broker, so each change is logged once.
#[derive(Debug, PartialEq, Eq)]
enum Link {
    Unknown,
    Up,
    Down(String),
}

/// Owns the event loop: polls it forever, reconnecting with backoff.
async fn drive_connection(
    mut eventloop: rumqttc::EventLoop,
    client: AsyncClient,
    plan: MqttPlan,
    status: Arc<PublisherStatus>,
) {
    let initial = Duration::from_millis(500);
    let mut wait = initial;
    let mut link = Link::Unknown;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                wait = initial;
                status.connected.store(true, Ordering::Relaxed);
                if link != Link::Up {
                    tracing::info!(broker = %plan.url, client_id = %plan.client_id, session_present = ack.session_present, "connected to MQTT broker");
                    link = Link::Up;
                }
                if client
                    .try_publish(plan.topics.availability(), QoS::AtLeastOnce, true, "online")
                    .is_err()
                {
                    tracing::warn!("cannot queue the availability message");
                }
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => {
                status.acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                status.connected.store(false, Ordering::Relaxed);
                tracing::info!(broker = %plan.url, "disconnected from MQTT broker");
                return;
            }
            Ok(_) => {}
            Err(error) => {
                status.connected.store(false, Ordering::Relaxed);
                let reason = error.to_string();
                if link != Link::Down(reason.clone()) {
                    tracing::warn!(broker = %plan.url, error = %reason, "MQTT broker unreachable; alerts are kept and sent when it is back");
                    link = Link::Down(reason);
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(plan.retry_max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_parse_with_a_default_port() {
        assert_eq!(
            parse_host_port("127.0.0.1:1884"),
            Ok(("127.0.0.1".into(), 1884))
        );
        assert_eq!(
            parse_host_port("broker.local"),
            Ok(("broker.local".into(), 1883))
        );
        assert!(parse_host_port("host:99999").is_err());
        assert!(parse_host_port("user:pw@host").is_err());
    }
}
