//! Delivery from the durable outbox to the broker.
//!
//! Two tasks, each owning one thing (rumqttc's and mini-redis's way):
//! * the connection task ([`super::connection`]) owns the rumqttc event
//!   loop and polls it forever — a connection error means "wait and
//!   reconnect", never "exit";
//! * the delivery task owns the in-flight bookkeeping: it reads the durable
//!   outbox in sequence order, publishes at QoS 1 within a window, and
//!   removes a record only when its PUBACK arrives.
//!
//! The session is clean: after every reconnect, everything still in the
//! outbox is published again from the oldest record, so an event may arrive
//! twice but is never lost. Consumers de-duplicate by (`incident_id`, `seq`).
//! With several brokers (`mqtt.urls`), each failed connection moves the link
//! to the next one in turn, after the same backoff; as the box's session is
//! its outbox, not the broker's memory, nothing changes for delivery when it
//! lands on another node: the records not yet acknowledged go again, in
//! order, and availability and the cameras' statuses are published there.
//! Broker state changes — up, down and why — are logged once per change.
//!
//! What the broker refuses is told apart from a dropped link by
//! [`super::refusal`]: a suspect goes alone, a snapshot refused
//! `outbox.max_attempts` times is quarantined (the outbox puts it back in
//! the queue at the next start), and a refused incident event is never
//! quarantined but set aside and sent again alone now and then; it then
//! arrives after later events, and its `seq` says where it belongs.
//!
//! With a [`SideLink`], the same connection also carries the control task's
//! traffic: its subscriptions (renewed on every connection), the messages
//! that arrive on them, and its retained state messages, sent beside the
//! outbox records while the link is up and dropped while it is down.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::connection::{LinkEvent, closed_by_broker, describe};
use super::link::{Inbound, SideLink};
use super::mqtt::{MqttPlan, WINDOW};
use super::outbox::{Outbox, Record};
use super::refusal::{Refusals, Verdict};
use super::status::{StatusBoard, StatusSource};

/// Health figures the app adds to each stats message.
pub type StatsSource = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// Raise → PUBACK latencies kept for the stats and the benchmarks.
const LATENCY_SAMPLES: usize = 4096;

/// What a caller (or a test) can read about the link.
#[derive(Debug, Default)]
pub struct PublisherStatus {
    pub connected: AtomicBool,
    /// Incident events the broker refused `outbox.max_attempts` times, set
    /// aside and sent again now and then (never quarantined).
    pub refused_events: std::sync::atomic::AtomicU64,
    /// The latest raise → PUBACK latencies, oldest first.
    latencies: std::sync::Mutex<VecDeque<Duration>>,
    /// The latest PUBACKs: sequence number and arrival, oldest first.
    acks: std::sync::Mutex<VecDeque<(u64, Instant)>>,
}

impl PublisherStatus {
    fn record_latency(&self, latency: Duration) {
        let mut samples = self.latencies.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == LATENCY_SAMPLES {
            samples.pop_front();
        }
        samples.push_back(latency);
    }

    fn record_ack(&self, seq: u64) {
        let mut acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
        if acks.len() == LATENCY_SAMPLES {
            acks.pop_front();
        }
        acks.push_back((seq, Instant::now()));
    }

    /// The latest PUBACKs (at most 4096): the event's sequence number and when
    /// its PUBACK arrived.
    pub fn acks(&self) -> Vec<(u64, Instant)> {
        self.acks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
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

/// Starts the delivery task over a connection task's `client` and events
/// `rx` ([`super::publisher::Publisher`] holds both tasks); it runs until
/// `stop`, then delivers what it can before it says offline and disconnects.
#[allow(clippy::too_many_arguments)]
pub(super) fn start(
    client: AsyncClient,
    rx: mpsc::UnboundedReceiver<LinkEvent>,
    outbox: Arc<Outbox>,
    plan: MqttPlan,
    status: Arc<PublisherStatus>,
    stats: StatsSource,
    cameras: Option<StatusSource>,
    side: Option<SideLink>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    let delivery = Delivery {
        client,
        outbox,
        plan,
        status,
        stats,
        cameras: cameras.map(|source| (source, StatusBoard::default())),
        up: false,
        link_state: LinkState::Unknown,
        unassigned: VecDeque::new(),
        in_flight: HashMap::new(),
        last_sent: 0,
        acked: Vec::new(),
        refusals: Refusals::default(),
        side,
    };
    tokio::spawn(delivery.run(rx, stop))
}

#[derive(Debug, PartialEq, Eq)]
enum LinkState {
    Unknown,
    /// Connected to this broker.
    Up(String),
    Down(String),
}

/// Owns the in-flight bookkeeping between the outbox and the broker.
struct Delivery {
    client: AsyncClient,
    outbox: Arc<Outbox>,
    plan: MqttPlan,
    status: Arc<PublisherStatus>,
    stats: StatsSource,
    /// Where the cameras' statuses come from, and what was published of them.
    cameras: Option<(StatusSource, StatusBoard)>,
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
    /// What the broker refused, or may have ([`super::refusal`]).
    refusals: Refusals,
    /// The control task's link, if any.
    side: Option<SideLink>,
}

impl Delivery {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<LinkEvent>, stop: CancellationToken) {
        let mut flush = tokio::time::interval(Duration::from_millis(50));
        let mut stats = tokio::time::interval(self.plan.keys.stats_interval_secs);
        let mut status = tokio::time::interval(Duration::from_secs(1));
        let outbox = self.outbox.clone();
        loop {
            tokio::select! {
                event = rx.recv() => match event {
                    Some(event) => self.handle(event),
                    None => return,
                },
                _ = outbox.written() => self.fill(),
                _ = flush.tick() => {
                    self.flush_acked();
                    if self.refusals.refused() > 0 {
                        self.fill();
                    }
                }
                _ = stats.tick() => self.publish_stats(),
                open = SideLink::take(&mut self.side, self.up) => if !open {
                    self.side = None;
                },
                _ = status.tick() => self.publish_status(),
                _ = stop.cancelled() => break,
            }
            if let Some(side) = &mut self.side {
                side.drain(&self.client, &mut self.unassigned, self.in_flight.len(), self.up);
            }
        }
        self.finish(&mut rx).await;
    }

    fn handle(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up { broker, .. } => {
                self.up = true;
                self.status.connected.store(true, Ordering::Relaxed);
                let (depth, _) = self.outbox.depth().unwrap_or((0, None));
                if self.link_state != LinkState::Up(broker.clone()) {
                    tracing::info!(broker = %broker, client_id = %self.plan.client_id, pending = depth, "connected to MQTT broker");
                    self.link_state = LinkState::Up(broker);
                }
                self.publish_other(
                    self.plan.topics.availability(),
                    QoS::AtLeastOnce,
                    true,
                    b"online".to_vec(),
                );
                self.last_sent = 0;
                if let Some((_, board)) = &mut self.cameras {
                    board.forget();
                }
                self.publish_status();
                self.fill();
                if let Some(side) = &self.side {
                    side.connected(&self.client);
                }
            }
            LinkEvent::Down { broker, error, confirm } => {
                self.up = false;
                self.status.connected.store(false, Ordering::Relaxed);
                let reason = describe(&error);
                self.count_failure(&reason, closed_by_broker(&error));
                self.unassigned.clear();
                self.in_flight.clear();
                if let Some(side) = &mut self.side {
                    side.queue.clear();
                }
                self.flush_acked();
                if self.link_state != LinkState::Down(reason.clone()) {
                    tracing::warn!(broker = %broker, error = %reason, "MQTT broker unreachable; incidents are kept in the outbox and sent when it is back");
                    self.link_state = LinkState::Down(reason);
                }
                let _ = confirm.send(());
            }
            LinkEvent::Sent(pkid) => {
                if let Some(Some(seq)) = self.unassigned.pop_front()
                    && pkid != 0
                {
                    self.in_flight.insert(pkid, seq);
                    self.refusals.sent(seq, Instant::now());
                }
            }
            LinkEvent::Acked(pkid) => {
                if let Some(seq) = self.in_flight.remove(&pkid) {
                    if self.refusals.acked(seq) {
                        self.note_refused();
                    }
                    if let Some(raised) = self.outbox.raised_at(seq) {
                        self.status.record_latency(raised.elapsed());
                    }
                    self.status.record_ack(seq);
                    self.acked.push(seq);
                }
                self.fill();
            }
            LinkEvent::Message(publish) => {
                if let Some(side) = &self.side {
                    let _ = side.inbound.send(Inbound::Message {
                        topic: publish.topic,
                        payload: publish.payload.to_vec(),
                        retained: publish.retain,
                    });
                }
            }
            LinkEvent::Subscribed(_) => {}
            LinkEvent::Closed => {
                self.up = false;
                self.status.connected.store(false, Ordering::Relaxed);
            }
        }
    }

    /// The link went down: the oldest record in flight becomes a suspect,
    /// and what the broker refused often enough is quarantined (a
    /// snapshot) or set aside (an incident event).
    fn count_failure(&mut self, reason: &str, closed: bool) {
        let oldest = self.in_flight.values().min().copied();
        match self
            .refusals
            .down(oldest, closed, reason, self.outbox.plan().keys.max_attempts)
        {
            Verdict::Pending => {}
            Verdict::Quarantine(seq) => {
                if let Err(e) = self.outbox.quarantine_refused(seq, reason) {
                    tracing::error!(seq, error = %e, "cannot quarantine a snapshot the broker refuses");
                }
            }
            Verdict::SetAside(_) => self.note_refused(),
        }
    }

    /// Sends a refused incident event that is due again, alone, when
    /// nothing else is in flight. True when one went (or is on its way).
    fn retry_refused(&mut self) -> bool {
        let idle = self.idle();
        let Some(seq) = self.refusals.due(Instant::now()) else {
            return false;
        };
        if !idle {
            return true;
        }
        let record = match self.outbox.read_after(seq - 1, 1) {
            Ok(records) => records.into_iter().next().filter(|(s, _)| *s == seq),
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return true;
            }
        };
        let Some((_, record)) = record else {
            // Dropped meanwhile by a bound (counted there).
            self.refusals.forget(seq);
            self.note_refused();
            return false;
        };
        let image = record.image;
        if self.publish_record(seq, record) {
            self.refusals.probe(seq, image);
        }
        true
    }

    /// Publishes outbox records after the last one sent, within the window;
    /// a suspect (one that failed before) only alone; refused incident
    /// events only when due, alone.
    fn fill(&mut self) {
        if !self.up || self.refusals.probing() || self.retry_refused() {
            return;
        }
        if self.outbox.last_seq() <= self.last_sent {
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
        let idle = self.idle();
        for (seq, record) in records {
            if self.refusals.is_refused(seq) {
                self.last_sent = seq;
                continue;
            }
            let suspect = self.refusals.is_suspect(seq);
            if suspect && !(idle && self.unassigned.iter().all(Option::is_none)) {
                break;
            }
            let image = record.image;
            if !self.publish_record(seq, record) {
                break;
            }
            self.last_sent = seq;
            if suspect {
                self.refusals.probe(seq, image);
                break;
            }
        }
    }

    /// Nothing is in flight or waiting for its packet id.
    fn idle(&self) -> bool {
        self.in_flight.is_empty() && self.unassigned.iter().all(Option::is_none)
    }

    /// Publishes one outbox record at QoS 1; false when the client's
    /// request queue is full (it goes on the next fill).
    fn publish_record(&mut self, seq: u64, record: Record) -> bool {
        let sent = self
            .client
            .try_publish(
                record.topic.clone(),
                QoS::AtLeastOnce,
                record.retain,
                record.into_payload(),
            )
            .is_ok();
        if sent {
            self.unassigned.push_back(Some(seq));
        }
        sent
    }

    /// The refused-events gauge follows the set of refused incident events.
    fn note_refused(&self) {
        self.status
            .refused_events
            .store(self.refusals.refused() as u64, Ordering::Relaxed);
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
        if let Err(e) = self.outbox.maintain() {
            tracing::error!(error = %e, "cannot expire old outbox records or compact the file");
        }
        if !self.up {
            return;
        }
        let (depth, oldest) = self.outbox.depth().unwrap_or((0, None));
        let mut message = (self.stats)();
        message["outbox"] = serde_json::json!({
            "depth": depth,
            "held": self.outbox.held(),
            "oldest_age_secs": oldest,
            "dropped": self.outbox.stats.dropped.load(Ordering::Relaxed),
            "dropped_snapshots": self.outbox.stats.dropped_snapshots.load(Ordering::Relaxed),
            "quarantined": self.outbox.stats.quarantined.load(Ordering::Relaxed),
            "poisoned": self.outbox.stats.poisoned.load(Ordering::Relaxed),
            "quarantine": self.outbox.quarantine_depth(),
            "refused_events": self.refusals.refused(),
            "bytes": self.outbox.bytes().0,
            "delivered": self.outbox.stats.delivered.load(Ordering::Relaxed),
        });
        message["mqtt"] = serde_json::json!({ "connected": self.up });
        // Said again now and then: a stale last will (a connection the broker
        // closed late, after the box had moved on) is corrected within one interval.
        self.publish_other(
            self.plan.topics.availability(),
            QoS::AtLeastOnce,
            true,
            b"online".to_vec(),
        );
        self.publish_other(
            self.plan.topics.stats(),
            QoS::AtMostOnce,
            false,
            message.to_string().into_bytes(),
        );
    }

    /// Publishes the camera statuses that changed or are due (retained, QoS 1).
    fn publish_status(&mut self) {
        let Some((source, board)) = self.cameras.as_mut().filter(|_| self.up) else {
            return;
        };
        let due = board.due(&source(), Instant::now(), self.plan.keys.stats_interval_secs);
        for (camera, payload) in due {
            let topic = self.plan.topics.status(&camera);
            self.publish_other(topic, QoS::AtLeastOnce, true, payload);
        }
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
            if let LinkState::Up(broker) = &self.link_state {
                tracing::info!(broker = %broker, "disconnected from MQTT broker");
            }
        }
    }
}
