//! `watchpost fleet watch`: incidents from every box, over a durable
//! session (clean session off, QoS 1, a fixed client id): while the office
//! is away the hub keeps what arrives (in JetStream, on three nodes), and
//! hands it over when the office is back, on whichever node it reconnects
//! to. Each message is acknowledged only after its line is written out (and,
//! with `--ledger`, flushed to the file), so a killed office loses nothing;
//! it may see an event twice, and prints it once (by site, box, incident and
//! `seq`, over the latest 100,000).

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rumqttc::QoS;

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
}

pub fn command(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(watch(args))
}

async fn watch(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let mut brokers = args.hub.options(&args.client_id, false)?;
    for (_, options) in &mut brokers {
        options.set_manual_acks(true);
    }
    let mut ledger = match &args.ledger {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        )),
        None => None,
    };
    let (client, mut events) = spawn_link(brokers, 1024);
    let mut seen = HashSet::new();
    let mut order = VecDeque::new();
    let mut stdout = std::io::stdout().lock();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(event) => event,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        match event {
            LinkEvent::Up {
                broker,
                session_present,
            } => {
                tracing::info!(broker = %broker, session_present, "connected to the hub");
                // A session the node still has keeps its subscription; asking again is harmless.
                client
                    .subscribe(args.topic.clone(), QoS::AtLeastOnce)
                    .await
                    .context("cannot subscribe")?;
            }
            LinkEvent::Down {
                broker,
                reason,
                confirm,
            } => {
                tracing::warn!(broker = %broker, error = %reason, "hub node unreachable; trying the next");
                let _ = confirm.send(());
            }
            LinkEvent::Message(publish) => {
                let received = now_ms();
                let Some((site, box_id, rest)) = split_topic(&publish.topic) else {
                    client.ack(&publish).await?;
                    continue;
                };
                let camera = rest.strip_suffix("/incidents").unwrap_or(rest);
                let mut incident: serde_json::Value = match serde_json::from_slice(&publish.payload) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::warn!(topic = %publish.topic, error = %e, "not an incident payload; skipped");
                        client.ack(&publish).await?;
                        continue;
                    }
                };
                let id = incident["incident_id"].as_str().unwrap_or("").to_string();
                let seq = incident["seq"].as_u64().unwrap_or(0);
                let event_ms = incident["time"].as_str().and_then(time_ms).unwrap_or(0);
                if let Some(ledger) = &mut ledger {
                    writeln!(
                        ledger,
                        "R\t{received}\t{site}\t{box_id}\t{camera}\t{id}\t{seq}\t{event_ms}"
                    )?;
                    ledger.flush()?;
                }
                let key = (site.to_string(), box_id.to_string(), id.clone(), seq);
                if !args.quiet && seen.insert(key.clone()) {
                    order.push_back(key);
                    if order.len() > REMEMBERED
                        && let Some(old) = order.pop_front()
                    {
                        seen.remove(&old);
                    }
                    if args.json {
                        incident["site"] = site.into();
                        incident["box_id"] = box_id.into();
                        writeln!(stdout, "{incident}")?;
                    } else {
                        writeln!(
                            stdout,
                            "{} {site}/{box_id} {camera} {} {} {} {} seq={seq}",
                            incident["time"].as_str().unwrap_or("-"),
                            incident["event"].as_str().unwrap_or("-"),
                            incident["rule"].as_str().unwrap_or("-"),
                            incident["zone"].as_str().unwrap_or("-"),
                            id,
                        )?;
                    }
                    stdout.flush()?;
                }
                client.ack(&publish).await?;
            }
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
            LinkEvent::Sent(_) | LinkEvent::Acked(_) => {}
        }
    }
    if let Some(ledger) = &mut ledger {
        ledger.flush()?;
    }
    let _ = client.disconnect().await;
    Ok(ExitCode::SUCCESS)
}
