//! The side link between the publisher's connection and the control task
//! ([`super::control`]): what the box subscribes to (arming commands, Home
//! Assistant's status), the messages that arrive on it, and the retained
//! state and discovery messages the control task asks to publish.
//!
//! None of this passes through the outbox: it is state, not events. When
//! the broker is away these messages are dropped, and the control task
//! publishes everything again on the next connection ([`Inbound::Connected`]).

use tokio::sync::mpsc;

/// What the connection tells the control task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A (new) session is up and subscribed: publish every state again.
    Connected,
    /// A message arrived on a subscribed topic.
    Message { topic: String, payload: Vec<u8> },
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
        },
        ControlLink {
            inbound: in_rx,
            outbound: out_tx,
        },
    )
}
