//! The fleet simulation's load generator (`watchpost fleet simulate`, run by
//! `scripts/fleet`): many simulated boxes in one process, each with its own
//! connection, client id and login, on the boxes' topics, payloads and QoS —
//! retained `online` (and `offline` as last will) and camera statuses on
//! every connection, incident events built by [`crate::anonymize::alert`]
//! at QoS 1, a snapshot of a realistic size with each incident's start —
//! and the box's delivery rules: an in-memory outbox sent oldest first
//! within a window, an event removed only on its PUBACK, everything not yet
//! acknowledged sent again after a reconnect, to the next node of the hub.
//!
//! Incidents come as a Poisson process (`--events-per-min` per box); each
//! incident is a start and, 5 to 60 s later, an end. Every event raised is
//! written to the `--sent` ledger (S, site, box, camera, incident, seq, event
//! ms); each connection (C, site, box, ms, node); at the end, events still
//! unacknowledged (U, site, box, seq).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rumqttc::{AsyncClient, LastWill, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connect::{HubArgs, LinkEvent, spawn_link};
use crate::anonymize;
use crate::publish::Topics;
use crate::rules::{EventKind, EventSource, IncidentEvent, Severity, Target};
use crate::vocab::BBox;

/// Publishes in flight per simulated box (the box's own window is 64).
const WINDOW: usize = 16;

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub hub: HubArgs,
    /// How many boxes.
    #[arg(long, default_value_t = 1000)]
    pub boxes: usize,
    /// The first box's number (to split boxes over processes).
    #[arg(long, default_value_t = 0)]
    pub first: usize,
    /// Boxes per site: box n is box `b<n % this>` of site `sim<n / this>`.
    #[arg(long, default_value_t = 50)]
    pub per_site: usize,
    /// Cameras per box.
    #[arg(long, default_value_t = 2)]
    pub cameras: usize,
    /// Incidents started per box per minute, on average (each also ends: two events).
    #[arg(long, default_value_t = 1.0)]
    pub events_per_min: f64,
    /// Size of the snapshot sent with each incident's start, in KiB (0: none).
    #[arg(long, default_value_t = 40)]
    pub snapshot_kb: usize,
    /// How long to raise incidents; then every box delivers what it holds and stops.
    #[arg(long, default_value_t = 300)]
    pub duration_secs: u64,
    /// Longest wait for the last acknowledgements after the run.
    #[arg(long, default_value_t = 120)]
    pub drain_secs: u64,
    /// Log in as `<site>.<box>` with the password in DIR/<site>.<box>
    /// (configs/fleet/make-hub's passwords folder).
    #[arg(long)]
    pub passwords: Option<PathBuf>,
    /// Where to write what was raised.
    #[arg(long)]
    pub sent: PathBuf,
    /// Print the boxes' `<site> <box>` lines (for make-hub) and exit.
    #[arg(long)]
    pub list: bool,
}

/// Site and box id of box `n`.
pub fn names(n: usize, per_site: usize) -> (String, String) {
    (
        format!("sim{:03}", n / per_site.max(1)),
        format!("b{:03}", n % per_site.max(1)),
    )
}

pub fn command(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        for n in args.first..args.first + args.boxes {
            let (site, box_id) = names(n, args.per_site);
            println!("{site} {box_id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(simulate(args))
}

/// One ledger line from a box task.
type Line = String;

async fn simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&args.sent).with_context(|| format!("cannot create {}", args.sent.display()))?,
    );
    let (lines, mut rx) = mpsc::unbounded_channel::<Line>();
    let stop = CancellationToken::new();
    let snapshot: Arc<Vec<u8>> = Arc::new((0..args.snapshot_kb * 1024).map(|_| fastrand::u8(..)).collect());
    let mut tasks = Vec::new();
    for n in args.first..args.first + args.boxes {
        let (site, box_id) = names(n, args.per_site);
        let mut hub = args.hub.clone();
        if let Some(dir) = &args.passwords {
            hub.username = Some(format!("{site}.{box_id}"));
            hub.password_file = Some(dir.join(format!("{site}.{box_id}")));
        }
        let topics = Topics::new(format!("watchpost/{site}/{box_id}"));
        let mut brokers = hub.options(&format!("watchpost-{site}-{box_id}-sim"), true)?;
        for (_, options) in &mut brokers {
            options.set_last_will(LastWill::new(topics.availability(), "offline", QoS::AtLeastOnce, true));
        }
        let sim = SimBox {
            site,
            box_id,
            topics,
            cameras: (0..args.cameras).map(|c| format!("cam{c}")).collect(),
            rate_per_sec: args.events_per_min / 60.0,
            snapshot: snapshot.clone(),
            lines: lines.clone(),
        };
        tasks.push(tokio::spawn(sim.run(
            brokers,
            stop.clone(),
            Duration::from_secs(args.drain_secs),
        )));
        // Boxes do not all come up in the same millisecond.
        if n % 50 == 49 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    drop(lines);
    let writer = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
        let mut count = 0;
        while let Some(line) = rx.blocking_recv() {
            writeln!(file, "{line}")?;
            count += 1;
            if count % 1000 == 0 {
                file.flush()?;
            }
        }
        file.flush()?;
        Ok(count)
    });
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(args.duration_secs)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    stop.cancel();
    let mut undelivered = 0;
    for task in tasks {
        undelivered += task.await.unwrap_or(0);
    }
    let lines = writer.await??;
    eprintln!(
        "simulate: {} boxes stopped; {lines} ledger lines; {undelivered} events unacknowledged",
        args.boxes
    );
    Ok(ExitCode::SUCCESS)
}

struct SimBox {
    site: String,
    box_id: String,
    topics: Topics,
    cameras: Vec<String>,
    rate_per_sec: f64,
    snapshot: Arc<Vec<u8>>,
    lines: mpsc::UnboundedSender<Line>,
}

/// One record of a simulated box's outbox.
struct Record {
    seq: u64,
    topic: String,
    payload: Vec<u8>,
}

/// A simulated box's delivery state (the box's [`crate::publish::delivery`] in small).
#[derive(Default)]
struct Outbox {
    records: VecDeque<Record>,
    next_seq: u64,
    last_sent: u64,
    /// Publishes handed to rumqttc without a packet id yet: Some(seq) for records.
    unassigned: VecDeque<Option<u64>>,
    in_flight: HashMap<u16, u64>,
    up: bool,
}

impl Outbox {
    fn push(&mut self, topic: String, payload: Vec<u8>) -> u64 {
        self.next_seq += 1;
        self.records.push_back(Record {
            seq: self.next_seq,
            topic,
            payload,
        });
        self.next_seq
    }

    fn fill(&mut self, client: &AsyncClient) {
        if !self.up {
            return;
        }
        for record in &self.records {
            if self.in_flight.len() + self.unassigned.len() >= WINDOW {
                return;
            }
            if record.seq <= self.last_sent {
                continue;
            }
            if client
                .try_publish(record.topic.clone(), QoS::AtLeastOnce, false, record.payload.clone())
                .is_err()
            {
                return;
            }
            self.unassigned.push_back(Some(record.seq));
            self.last_sent = record.seq;
        }
    }

    fn acked(&mut self, pkid: u16) {
        if let Some(seq) = self.in_flight.remove(&pkid)
            && let Some(at) = self.records.iter().position(|r| r.seq == seq)
        {
            self.records.remove(at);
        }
    }
}

impl SimBox {
    /// Runs until `stop`, then delivers what it holds for at most `drain`;
    /// the number of events left unacknowledged.
    async fn run(
        self,
        brokers: Vec<(String, rumqttc::MqttOptions)>,
        stop: CancellationToken,
        drain: Duration,
    ) -> usize {
        let (client, mut events) = spawn_link(brokers, WINDOW * 4);
        let mut outbox = Outbox::default();
        // Open incidents: camera, id, when it ends.
        let mut open: Vec<(usize, uuid::Uuid, tokio::time::Instant)> = Vec::new();
        let mut next = tokio::time::Instant::now() + self.wait();
        let mut stopping: Option<tokio::time::Instant> = None;
        // As a box does with each stats message: `online` and the statuses again.
        let mut states = tokio::time::interval(Duration::from_secs(60));
        loop {
            let soonest_end = open.iter().map(|o| o.2).min();
            let timer = match (stopping, soonest_end) {
                (Some(_), _) => tokio::time::Instant::now() + Duration::from_secs(3600),
                (None, Some(end)) => end.min(next),
                (None, None) => next,
            };
            tokio::select! {
                event = events.recv() => match event {
                    Some(LinkEvent::Up { broker, .. }) => {
                        let _ = self.lines.send(format!(
                            "C\t{}\t{}\t{}\t{broker}",
                            self.site,
                            self.box_id,
                            jiff::Timestamp::now().as_millisecond()
                        ));
                        outbox.up = true;
                        outbox.last_sent = 0;
                        outbox.unassigned.clear();
                        outbox.in_flight.clear();
                        self.publish_states(&client, &mut outbox);
                        outbox.fill(&client);
                    }
                    Some(LinkEvent::Down { confirm, .. }) => {
                        outbox.up = false;
                        outbox.unassigned.clear();
                        outbox.in_flight.clear();
                        let _ = confirm.send(());
                    }
                    Some(LinkEvent::Sent(pkid)) => {
                        if let Some(Some(seq)) = outbox.unassigned.pop_front()
                            && pkid != 0
                        {
                            outbox.in_flight.insert(pkid, seq);
                        }
                    }
                    Some(LinkEvent::Acked(pkid)) => {
                        outbox.acked(pkid);
                        outbox.fill(&client);
                    }
                    Some(LinkEvent::Message(_) | LinkEvent::Subscribed(_) | LinkEvent::Closed) => {}
                    None => break,
                },
                _ = tokio::time::sleep_until(timer) => {
                    let now = tokio::time::Instant::now();
                    if let Some(at) = open.iter().position(|o| o.2 <= now) {
                        let (camera, id, _) = open.swap_remove(at);
                        self.raise(&mut outbox, camera, id, EventKind::End);
                    } else if now >= next {
                        let camera = fastrand::usize(..self.cameras.len().max(1));
                        let id = uuid::Uuid::now_v7();
                        self.raise(&mut outbox, camera, id, EventKind::Start);
                        let ends = now + Duration::from_secs(fastrand::u64(5..=60));
                        open.push((camera, id, ends));
                        next = now + self.wait();
                    }
                    outbox.fill(&client);
                }
                _ = states.tick(), if outbox.up => self.publish_states(&client, &mut outbox),
                _ = stop.cancelled(), if stopping.is_none() => {
                    stopping = Some(tokio::time::Instant::now() + drain);
                }
                _ = tokio::time::sleep_until(stopping.unwrap_or(timer)), if stopping.is_some() => break,
            }
            if stopping.is_some() && outbox.records.is_empty() {
                break;
            }
        }
        let left = outbox.records.len();
        for record in &outbox.records {
            let _ = self
                .lines
                .send(format!("U\t{}\t{}\t{}", self.site, self.box_id, record.seq));
        }
        let _ = client
            .publish(self.topics.availability(), QoS::AtLeastOnce, true, "offline")
            .await;
        let _ = client.disconnect().await;
        left
    }

    /// The wait until the next incident starts (exponential: a Poisson process).
    fn wait(&self) -> Duration {
        if self.rate_per_sec <= 0.0 {
            return Duration::from_secs(365 * 86_400);
        }
        Duration::from_secs_f64(-(1.0 - fastrand::f64()).ln() / self.rate_per_sec)
    }

    /// Retained `online` and camera statuses, on every connection.
    fn publish_states(&self, client: &AsyncClient, outbox: &mut Outbox) {
        let now = jiff::Timestamp::now().to_string();
        if client
            .try_publish(self.topics.availability(), QoS::AtLeastOnce, true, "online")
            .is_ok()
        {
            outbox.unassigned.push_back(None);
        }
        for camera in &self.cameras {
            let status = serde_json::json!({
                "camera": camera, "state": "streaming", "since": now, "fps": 10.0,
                "last_frame_age_secs": 0.1, "health": [], "down": false, "reason": null, "time": now,
            });
            if client
                .try_publish(self.topics.status(camera), QoS::AtLeastOnce, true, status.to_string())
                .is_ok()
            {
                outbox.unassigned.push_back(None);
            }
        }
    }

    /// One incident event (and a snapshot with a start) into the outbox and the ledger.
    fn raise(&self, outbox: &mut Outbox, camera: usize, id: uuid::Uuid, kind: EventKind) {
        let camera = &self.cameras[camera];
        let source = EventSource::new("intrusion".into(), "driveway".into(), Severity::High);
        let person = Target::new(1, "person".into(), 0.9, BBox::new(0.2, 0.3, 0.35, 0.9));
        let event: IncidentEvent = source.event(kind, id, Duration::ZERO, SystemTime::now(), vec![person]);
        let seq = outbox.next_seq + 1;
        let alert = anonymize::alert(camera, &event, seq);
        let payload = serde_json::to_vec(&alert).unwrap_or_default();
        outbox.push(self.topics.incidents(camera), payload);
        let _ = self.lines.send(format!(
            "S\t{}\t{}\t{camera}\t{id}\t{seq}\t{}",
            self.site,
            self.box_id,
            jiff::Timestamp::now().as_millisecond()
        ));
        if kind == EventKind::Start && !self.snapshot.is_empty() {
            outbox.push(self.topics.snapshots(camera, &id.to_string()), self.snapshot.to_vec());
        }
    }
}
