//! The connection task: owns one rumqttc event loop over a list of brokers
//! and polls it forever, reporting what happens on a channel.
//!
//! A connection error means "wait and reconnect", never "exit" (rumqttc's
//! way): the task reports the failure, waits until the task that publishes
//! confirms it stopped publishing for the old connection, drops whatever was
//! queued meanwhile, moves to the next broker of the list and waits a
//! jittered backoff that only a stable link resets. The box's delivery
//! ([`super::delivery`]) and the office's link to the hub
//! (`crate::fleet::connect`) both run on it. It never reads or writes the
//! outbox and never decides what an error means for a record: that is the
//! caller's.

use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, Publish};
use tokio::sync::{mpsc, oneshot};

use super::backoff::Backoff;

/// How long a broker has to answer a CONNECT. rumqttc's default (5 s) is
/// shorter than a hub node takes while its cluster elects new leaders after
/// losing a peer (8–15 s measured, docs/fleet.md): a box that gave up then
/// would leave a half-made session behind, which the hub later closes —
/// publishing the box's last will after its `online`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// What the connection task reports.
#[derive(Debug)]
pub enum LinkEvent {
    /// Connected to this broker; whether it still had our session.
    Up { broker: String, session_present: bool },
    /// The connection to this broker failed; confirm once nothing more will
    /// be published for the old connection.
    Down {
        broker: String,
        error: rumqttc::ConnectionError,
        confirm: oneshot::Sender<()>,
    },
    /// A publish left with this packet id (0 for QoS 0).
    Sent(u16),
    /// The broker acknowledged this packet id.
    Acked(u16),
    /// A message arrived on a subscribed topic.
    Message(Publish),
    /// The broker answered a subscription: whether it granted every filter.
    Subscribed(bool),
    /// The client disconnected on purpose; the task has ended.
    Closed,
}

/// Starts the connection task for `brokers` (a name for logs and the
/// options of each, the first one first) on the current tokio runtime,
/// backing off up to `retry_max` between failed connections; the client,
/// with room for `capacity` requests, and the task's events.
pub fn spawn(
    brokers: Vec<(String, MqttOptions)>,
    capacity: usize,
    retry_max: Duration,
) -> (
    AsyncClient,
    mpsc::UnboundedReceiver<LinkEvent>,
    tokio::task::JoinHandle<()>,
) {
    let (client, mut eventloop) = AsyncClient::new(brokers[0].1.clone(), capacity);
    eventloop
        .network_options
        .set_connection_timeout(CONNECT_TIMEOUT.as_secs());
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(drive(eventloop, brokers, tx, retry_max));
    (client, rx, task)
}

/// Polls the event loop forever; each failure moves it to the next of
/// `brokers` (the first is the event loop's own).
async fn drive(
    mut eventloop: rumqttc::EventLoop,
    brokers: Vec<(String, MqttOptions)>,
    tx: mpsc::UnboundedSender<LinkEvent>,
    retry_max: Duration,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), retry_max);
    let mut current = 0;
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.connected(Instant::now());
                LinkEvent::Up {
                    broker: brokers[current].0.clone(),
                    session_present: ack.session_present,
                }
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => LinkEvent::Acked(ack.pkid),
            Ok(Event::Incoming(Packet::Publish(p))) => LinkEvent::Message(p),
            Ok(Event::Incoming(Packet::SubAck(ack))) => LinkEvent::Subscribed(
                ack.return_codes
                    .iter()
                    .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_))),
            ),
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => LinkEvent::Sent(pkid),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                let _ = tx.send(LinkEvent::Closed);
                return;
            }
            Ok(_) => continue,
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(error) => {
                let (confirm, confirmed) = oneshot::channel();
                let down = LinkEvent::Down {
                    broker: brokers[current].0.clone(),
                    error,
                    confirm,
                };
                if tx.send(down).is_err() {
                    return;
                }
                // Once the caller stopped publishing, drop whatever it
                // queued meanwhile: the new session starts afresh (the
                // session is clean, so rumqttc drops what `clean` keeps
                // for a resumed one when the broker answers).
                let _ = confirmed.await;
                eventloop.clean();
                // rumqttc keeps the events of the failed connection not yet
                // polled (a publish it took from the queue just before the
                // link broke says `Outgoing::Publish` after the next
                // CONNACK). The caller matches packet ids to records by the
                // order of those events and forgot the old connection's on
                // `Down`: one left over shifts every match by one, and a
                // PUBACK for one message would mark another record as
                // delivered while it never reached the broker.
                eventloop.state.events.clear();
                if brokers.len() > 1 {
                    current = (current + 1) % brokers.len();
                    eventloop.mqtt_options = brokers[current].1.clone();
                }
                tokio::time::sleep(backoff.failed(Instant::now())).await;
                continue;
            }
        };
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Whether the broker ended the connection itself (end of stream, reset):
/// how an MQTT 3.1.1 broker refuses a publish.
pub fn closed_by_broker(error: &rumqttc::ConnectionError) -> bool {
    use std::io::ErrorKind as K;
    let closed = |e: &std::io::Error| {
        matches!(
            e.kind(),
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof
        )
    };
    match error {
        rumqttc::ConnectionError::MqttState(rumqttc::StateError::ConnectionAborted) => true,
        rumqttc::ConnectionError::MqttState(
            rumqttc::StateError::Io(e) | rumqttc::StateError::Deserialization(rumqttc::Error::Io(e)),
        )
        | rumqttc::ConnectionError::Io(e) => closed(e),
        _ => false,
    }
}

/// An operator's reading of a connection error of the box's own broker
/// (it names the box's config keys).
pub fn describe(error: &rumqttc::ConnectionError) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_connection_the_broker_closed_looks_like_a_refusal() {
        use rumqttc::{ConnectionError as C, StateError as S};
        let io = |kind: std::io::ErrorKind| std::io::Error::from(kind);
        assert!(closed_by_broker(&C::MqttState(S::ConnectionAborted)));
        assert!(closed_by_broker(&C::MqttState(S::Deserialization(rumqttc::Error::Io(
            io(std::io::ErrorKind::ConnectionReset)
        )))));
        assert!(closed_by_broker(&C::Io(io(std::io::ErrorKind::BrokenPipe))));
        assert!(
            !closed_by_broker(&C::MqttState(S::AwaitPingResp)),
            "a silent broker is no refusal"
        );
        assert!(!closed_by_broker(&C::NetworkTimeout));
        assert!(!closed_by_broker(&C::Io(io(std::io::ErrorKind::ConnectionRefused))));
    }

    #[test]
    fn a_refused_login_names_the_keys_to_check() {
        let refused = rumqttc::ConnectionError::ConnectionRefused(rumqttc::ConnectReturnCode::NotAuthorized);
        assert!(describe(&refused).contains("mqtt.username"), "{}", describe(&refused));
        let other = rumqttc::ConnectionError::NetworkTimeout;
        assert_eq!(describe(&other), other.to_string());
    }
}
