//! `watchpost fleet watch`: incidents from every box, over a durable
//! session (clean session off, QoS 1, a fixed client id): while the office
//! is away the hub keeps what arrives (in JetStream, on three nodes), and
//! hands it over when the office is back, on whichever node it reconnects
//! to. Each message is acknowledged only after its line is written out (and,
//! with `--ledger`, flushed to the file), so a killed office loses nothing;
//! it may see an event twice, and prints it once (by site, box, incident and
//! `seq`, over the latest 100,000).
//!
//! Per camera, events are written in `seq` order, across the office's own
//! restarts and node losses too. The hub hands a message that a previous
//! connection received but never acknowledged over again only when its ack
//! wait has run out, behind newer ones; so after a connection that resumes
//! the session, what arrives is held for the settle time (the hub's ack
//! wait and a margin) and written out sorted by box and `seq`.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rumqttc::{AsyncClient, Publish, QoS};

use super::connect::{HubArgs, LinkEvent, now_ms, spawn_link, split_topic, time_ms};

/// Events remembered to print each once.
const REMEMBERED: usize = 100_000;

#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub hub: HubArgs,
    /// The durable session's name: the same id finds what arrived while away,
    /// e.g. "office-desk-1". Two offices need two ids.
    #[arg(long, default_value = "watchpost-office")]
    pub client_id: String,
    /// Which incidents, as an MQTT filter, e.g. "watchpost/maple-court/+/+/incidents".
    #[arg(long, default_value = "watchpost/+/+/+/incidents")]
    pub topic: String,
    /// One JSON object a line (the incident with `site` and `box_id` added)
    /// instead of text.
    #[arg(long)]
    pub json: bool,
    /// Append every receipt, duplicates included, to this file (the fleet
    /// simulation's count): R, receipt ms, site, box, camera, incident, seq,
    /// event ms — tab-separated.
    #[arg(long, hide = true)]
    pub ledger: Option<PathBuf>,
    /// Print nothing on standard output (with --ledger).
    #[arg(long, hide = true)]
    pub quiet: bool,
    /// After a connection that resumes the session, hold what arrives this
    /// long and write it in per-box `seq` order: the hub's ack wait (10 s in
    /// make-hub's config) plus 5 s. 0 writes each as it arrives, and
    /// an event the previous connection left unacknowledged may then come
    /// after newer ones of its camera.
    #[arg(long, default_value_t = 15, value_name = "SECS")]
    pub settle_secs: u64,
}

pub fn command(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(watch(args))
}

/// One incident message, read.
struct Receipt {
    site: String,
    box_id: String,
    camera: String,
    id: String,
    seq: u64,
    event_ms: i64,
    incident: serde_json::Value,
    publish: Publish,
}

/// Reads an incident message; what is not one comes back (to be acknowledged and skipped).
fn read(publish: Publish) -> Result<Receipt, Publish> {
    let Some((site, box_id, rest)) = split_topic(&publish.topic) else {
        return Err(publish);
    };
    let (site, box_id) = (site.to_string(), box_id.to_string());
    let camera = rest.strip_suffix("/incidents").unwrap_or(rest).to_string();
    let incident: serde_json::Value = match serde_json::from_slice(&publish.payload) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(topic = %publish.topic, error = %e, "not an incident payload; skipped");
            return Err(publish);
        }
    };
    Ok(Receipt {
        site,
        box_id,
        camera,
        id: incident["incident_id"].as_str().unwrap_or("").to_string(),
        seq: incident["seq"].as_u64().unwrap_or(0),
        event_ms: incident["time"].as_str().and_then(time_ms).unwrap_or(0),
        incident,
        publish,
    })
}

/// Where receipts are written, and what was already printed.
struct Desk<'a> {
    args: &'a WatchArgs,
    ledger: Option<std::io::BufWriter<std::fs::File>>,
    seen: HashSet<(String, String, String, u64)>,
    order: VecDeque<(String, String, String, u64)>,
    stdout: std::io::StdoutLock<'static>,
}

impl Desk<'_> {
    /// Writes one receipt out (the ledger line, and the incident once), then acknowledges it.
    async fn deliver(&mut self, client: &AsyncClient, r: Receipt) -> anyhow::Result<()> {
        let Receipt {
            site,
            box_id,
            camera,
            id,
            seq,
            event_ms,
            mut incident,
            publish,
        } = r;
        if let Some(ledger) = &mut self.ledger {
            let received = now_ms();
            writeln!(
                ledger,
                "R\t{received}\t{site}\t{box_id}\t{camera}\t{id}\t{seq}\t{event_ms}"
            )?;
            ledger.flush()?;
        }
        let key = (site.clone(), box_id.clone(), id.clone(), seq);
        if !self.args.quiet && self.seen.insert(key.clone()) {
            self.order.push_back(key);
            if self.order.len() > REMEMBERED
                && let Some(old) = self.order.pop_front()
            {
                self.seen.remove(&old);
            }
            if self.args.json {
                incident["site"] = site.as_str().into();
                incident["box_id"] = box_id.as_str().into();
                writeln!(self.stdout, "{incident}")?;
            } else {
                writeln!(
                    self.stdout,
                    "{} {site}/{box_id} {camera} {} {} {} {} seq={seq}",
                    incident["time"].as_str().unwrap_or("-"),
                    incident["event"].as_str().unwrap_or("-"),
                    incident["rule"].as_str().unwrap_or("-"),
                    incident["zone"].as_str().unwrap_or("-"),
                    id,
                )?;
            }
            self.stdout.flush()?;
        }
        client.ack(&publish).await?;
        Ok(())
    }

    /// Writes out what was held, per box in `seq` order.
    async fn release(&mut self, client: &AsyncClient, held: &mut Vec<Receipt>) -> anyhow::Result<()> {
        held.sort_by(|a, b| (&a.site, &a.box_id, a.seq).cmp(&(&b.site, &b.box_id, b.seq)));
        for receipt in held.drain(..) {
            self.deliver(client, receipt).await?;
        }
        Ok(())
    }
}

async fn watch(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let mut brokers = args.hub.options(&args.client_id, false)?;
    for (_, options) in &mut brokers {
        options.set_manual_acks(true);
    }
    let ledger = match &args.ledger {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => None,
    };
    let mut desk = Desk {
        args,
        ledger,
        seen: HashSet::new(),
        order: VecDeque::new(),
        stdout: std::io::stdout().lock(),
    };
    let (client, mut events) = spawn_link(brokers, 1024);
    let settle = std::time::Duration::from_secs(args.settle_secs);
    let mut held: Vec<Receipt> = Vec::new();
    let mut hold_until: Option<tokio::time::Instant> = None;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let settled = async {
            match hold_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            () = settled => {
                hold_until = None;
                tracing::info!(events = held.len(), "settled: writing what arrived since the connection, in seq order");
                desk.release(&client, &mut held).await?;
                continue;
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        match event {
            LinkEvent::Up {
                broker,
                session_present,
            } => {
                tracing::info!(broker = %broker, session_present, "connected to the hub");
                if session_present && !settle.is_zero() {
                    hold_until = Some(tokio::time::Instant::now() + settle);
                    tracing::info!(
                        settle_secs = args.settle_secs,
                        "session resumed: holding what arrives to write it in seq order"
                    );
                }
                // A session the node still has keeps its subscription; asking again is harmless.
                client
                    .subscribe(args.topic.clone(), QoS::AtLeastOnce)
                    .await
                    .context("cannot subscribe")?;
            }
            LinkEvent::Down { broker, error, confirm } => {
                tracing::warn!(broker = %broker, error = %error, "hub node unreachable; trying the next");
                let _ = confirm.send(());
            }
            LinkEvent::Message(publish) => match read(publish) {
                Err(skipped) => client.ack(&skipped).await?,
                Ok(receipt) if hold_until.is_some() => held.push(receipt),
                Ok(receipt) => desk.deliver(&client, receipt).await?,
            },
            LinkEvent::Subscribed(true) => tracing::info!(topic = %args.topic, "subscribed"),
            LinkEvent::Subscribed(false) => {
                // A node whose JetStream is not ready yet (just started, no quorum) refuses.
                tracing::warn!(topic = %args.topic, "the hub refused the subscription; asking again in 2 s");
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                client
                    .subscribe(args.topic.clone(), QoS::AtLeastOnce)
                    .await
                    .context("cannot subscribe")?;
            }
            LinkEvent::Sent(_) | LinkEvent::Acked(_) | LinkEvent::Closed => {}
        }
    }
    // Stopping: what is held is written out (in order) rather than left to the hub's ack wait.
    desk.release(&client, &mut held).await?;
    if let Some(ledger) = &mut desk.ledger {
        ledger.flush()?;
    }
    let _ = client.disconnect().await;
    Ok(ExitCode::SUCCESS)
}
