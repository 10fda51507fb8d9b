//! Incident events per second through the durable outbox to a real Mosquitto,
//! and the latency from raise (the durable write) to PUBACK.
//!
//! Each run starts a Mosquitto on a free port, pushes EVENTS events from one
//! thread as fast as the outbox accepts them (every write is durable on
//! return), and waits until the broker acknowledged all of them. Five runs;
//! the medians go to docs/benchmarks.md. Run with `cargo bench --bench outbox`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use watchpost::anonymize;
use watchpost::publish::Publisher;
use watchpost::publish::mqtt::MqttPlan;
use watchpost::publish::{Outbox, OutboxPlan, Topics};
use watchpost::rules::{EventKind, EventSource, IncidentEvent, Severity, Target};
use watchpost::vocab::BBox;

use support::{Broker, median};

const EVENTS: usize = 2000;
const RUNS: usize = 5;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn one_run() -> (f64, Duration, Duration) {
    let broker = Broker::start();
    let port = broker.port;
    let dir = tempfile::tempdir().unwrap();
    let outbox = Arc::new(
        Outbox::open(&OutboxPlan {
            keys: watchpost::publish::OutboxKeys {
                max_events: 1_000_000,
                max_age_hours: Duration::from_secs(3600),
                ..Default::default()
            },
            ..OutboxPlan::in_dir(dir.path())
        })
        .unwrap(),
    );
    let topics = Topics::new("watchpost/bench/box");
    let plan = MqttPlan {
        url: format!("mqtt://127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        port,
        alternates: Vec::new(),
        tls: None,
        password: None,
        client_id: "watchpost-bench".into(),
        topics: topics.clone(),
        keys: watchpost::publish::MqttKeys {
            keep_alive_secs: Duration::from_secs(30),
            retry_max_secs: Duration::from_secs(1),
            stats_interval_secs: Duration::from_secs(3600),
            ..Default::default()
        },
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let publisher =
        runtime.block_on(async { Publisher::spawn(plan, outbox.clone(), Arc::new(|| serde_json::json!({}))).unwrap() });
    let status = publisher.status();
    while !status.connected.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }

    let start = Instant::now();
    for _ in 0..EVENTS {
        outbox
            .push(
                |seq| anonymize::alert("north", &event(), seq),
                |a| topics.incidents(a.camera()),
            )
            .unwrap();
    }
    while status.latencies().len() < EVENTS {
        std::thread::sleep(Duration::from_millis(1));
    }
    let elapsed = start.elapsed();
    let mut latencies = status.latencies();
    latencies.sort();
    runtime.block_on(publisher.shutdown(Duration::from_secs(5)));
    drop(broker);
    (
        EVENTS as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let runs: Vec<_> = (0..RUNS).map(|_| one_run()).collect();
    for (i, (rate, p50, p99)) in runs.iter().enumerate() {
        println!(
            "run {}: {rate:.0} events/s, raise→PUBACK p50 {:.2} ms, p99 {:.2} ms",
            i + 1,
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    println!(
        "median of {RUNS} runs, {EVENTS} events each: {:.0} events/s, p50 {:.2} ms, p99 {:.2} ms",
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1.as_secs_f64() * 1e3).collect()),
        median(runs.iter().map(|r| r.2.as_secs_f64() * 1e3).collect()),
    );
}

/// A started incident of one person, as a rule raises it.
fn event() -> IncidentEvent {
    let source = EventSource::new("r".into(), "z".into(), Severity::High);
    let person = Target::new(1, "person".into(), 0.9, BBox::new(0.1, 0.1, 0.2, 0.3));
    source.event(
        EventKind::Start,
        uuid::Uuid::now_v7(),
        Duration::ZERO,
        std::time::SystemTime::now(),
        vec![person],
    )
}
