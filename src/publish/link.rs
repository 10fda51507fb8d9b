//! The side link between the publisher's connection and the control task
//! ([`super::control`]): what the box subscribes to (arming commands, Home
//! Assistant's status), the messages that arrive on it, and the retained
//! state and discovery messages the control task asks to publish.
//!
//! None of this passes through the outbox: it is state, not events. When
//! the broker is away these messages are dropped, and the control task
//! publishes everything again on the next connection ([`Inbound::Connected`]).
//! While it is up, at most one message per topic waits (the latest), so
//! repeated republishing cannot grow the queue.

use std::collections::VecDeque;

use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;

use super::mqtt::WINDOW;

/// What the connection tells the control task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A (new) session is up and subscribed: publish every state again.
    Connected,
    /// A message arrived on a subscribed topic; `retained`: the broker
    /// kept it and hands it to every new subscription (the PUBLISH's retain
    /// flag), rather than forwarding it as it was published.
    Message {
        topic: String,
        payload: Vec<u8>,
        retained: bool,
    },
}

/// A message the control task publishes (QoS 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

/// The publisher's end of the side link.
#[derive(Debug)]
pub struct SideLink {
    /// Topic filters subscribed (QoS 1) on every connection.
    pub subscriptions: Vec<String>,
    pub inbound: mpsc::UnboundedSender<Inbound>,
    pub outbound: mpsc::UnboundedReceiver<Outbound>,
    /// Messages taken while the link was up, not yet handed to rumqttc.
    pub(super) queue: VecDeque<Outbound>,
}

impl SideLink {
    /// Takes the control task's next message (queued while `up`, dropped
    /// otherwise); false once the control task has ended. Pending forever
    /// without a side link.
    pub(super) async fn take(side: &mut Option<SideLink>, up: bool) -> bool {
        let Some(side) = side else {
            return std::future::pending().await;
        };
        match side.outbound.recv().await {
            Some(message) => {
                if up {
                    side.enqueue(message);
                }
                true
            }
            None => false,
        }
    }

    /// Queues a message; one already waiting for the same topic is
    /// replaced in its place (these are retained states: only the latest
    /// counts), so the queue never holds more than one message per topic
    /// however often the control task publishes everything again.
    pub(super) fn enqueue(&mut self, message: Outbound) {
        match self.queue.iter_mut().find(|m| m.topic == message.topic) {
            Some(waiting) => *waiting = message,
            None => self.queue.push_back(message),
        }
    }

    /// A session is up: subscribe and tell the control task.
    pub(super) fn connected(&self, client: &AsyncClient) {
        for filter in &self.subscriptions {
            if let Err(e) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                tracing::error!(topic = %filter, error = %e, "cannot subscribe");
            }
        }
        let _ = self.inbound.send(Inbound::Connected);
    }

    /// Hands queued messages to rumqttc while the publish window has room,
    /// leaving half of it to the outbox; each is recorded in `unassigned`
    /// as a publish that is not an outbox record.
    pub(super) fn drain(
        &mut self,
        client: &AsyncClient,
        unassigned: &mut VecDeque<Option<u64>>,
        in_flight: usize,
        up: bool,
    ) {
        while up && unassigned.len() + in_flight < WINDOW / 2 {
            let Some(message) = self.queue.pop_front() else {
                return;
            };
            if client
                .try_publish(
                    message.topic.clone(),
                    QoS::AtLeastOnce,
                    message.retain,
                    message.payload.clone(),
                )
                .is_err()
            {
                self.queue.push_front(message);
                return;
            }
            unassigned.push_back(None);
        }
    }
}

/// The control task's end of the side link.
#[derive(Debug)]
pub struct ControlLink {
    pub inbound: mpsc::UnboundedReceiver<Inbound>,
    pub outbound: mpsc::UnboundedSender<Outbound>,
}

/// A side link subscribing to `subscriptions`: the publisher's end and the
/// control task's.
pub fn side_link(subscriptions: Vec<String>) -> (SideLink, ControlLink) {
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    (
        SideLink {
            subscriptions,
            inbound: in_tx,
            outbound: out_rx,
            queue: VecDeque::new(),
        },
        ControlLink {
            inbound: in_rx,
            outbound: out_tx,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_keeps_one_message_per_topic_the_latest_in_its_place() {
        let (mut side, _control) = side_link(Vec::new());
        let message = |topic: &str, payload: &str| Outbound {
            topic: topic.into(),
            payload: payload.into(),
            retain: true,
        };
        for round in 0..1000 {
            for topic in ["a", "b", "c"] {
                side.enqueue(message(topic, &round.to_string()));
            }
        }
        let queued: Vec<(String, String)> = side
            .queue
            .iter()
            .map(|m| (m.topic.clone(), String::from_utf8_lossy(&m.payload).into_owned()))
            .collect();
        assert_eq!(
            queued,
            [("a", "999"), ("b", "999"), ("c", "999")].map(|(t, p)| (t.to_string(), p.to_string()))
        );
    }
}
