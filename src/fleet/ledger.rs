//! The fleet simulation's count (`watchpost fleet tally`): what was raised —
//! the load generator's `S` lines, and each real box's outbox journal
//! (`outbox: incident event kept … kept=stored`, docs/delivery.md) — against
//! what the office received (`watchpost fleet watch --ledger`'s `R` lines,
//! across its restarts). Every `(site, box, incident_id, seq)` is counted:
//! delivered, lost (raised, never received, not left in an outbox at the
//! end), duplicates, out of order per camera (a first receipt whose `seq` is
//! below one already received from that camera), and the latency from the
//! event's time to its first receipt, overall and in steady state (events
//! outside the fault windows and the minute after each). For each fault
//! (a node killed or paused at its start), how long each box that connected
//! again within five minutes took to do so.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

#[derive(Debug, Clone, clap::Args)]
pub struct TallyArgs {
    /// Ledgers of the load generator (`fleet simulate --sent`).
    #[arg(long)]
    pub sent: Vec<PathBuf>,
    /// A real box's JSON log with the outbox journal on, as SITE/BOX=FILE.
    #[arg(long)]
    pub journal: Vec<String>,
    /// The office's ledgers (`fleet watch --ledger`).
    #[arg(long, required = true)]
    pub received: Vec<PathBuf>,
    /// A fault window, START_MS-END_MS (Unix ms): excluded from steady state.
    #[arg(long)]
    pub fault: Vec<String>,
    /// The office away and settling, START_MS-END_MS (Unix ms): excluded
    /// from steady state like a fault, but no box reconnects after it.
    #[arg(long)]
    pub office_restart: Vec<String>,
}

/// The count, as `docs/fleet.md` tables it.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Tally {
    pub raised: usize,
    pub delivered: usize,
    pub lost: usize,
    /// Raised, not received, still in an outbox when the run ended.
    pub left_in_outbox: usize,
    pub duplicates: usize,
    pub out_of_order: usize,
    /// Receipts of events nobody raised (should be 0).
    pub unknown: usize,
    pub latency_ms: Percentiles,
    pub steady_latency_ms: Percentiles,
    /// Per fault: the boxes that connected again after it, and how long they took.
    pub reconnects: Vec<Reconnects>,
    /// Up to 20 lost events, for a look.
    pub lost_examples: Vec<String>,
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Reconnects {
    pub fault_start_ms: i64,
    pub boxes: usize,
    pub p50_ms: i64,
    pub max_ms: i64,
}

/// Per fault start: the delay of each box's first connection after it (within 5 minutes).
pub fn reconnects(connections: &[(String, i64)], faults: &[(i64, i64)]) -> Vec<Reconnects> {
    faults
        .iter()
        .map(|&(start, _)| {
            let mut first: HashMap<&str, i64> = HashMap::new();
            for (name, at) in connections {
                if *at >= start && *at <= start + 300_000 {
                    let delay = first.entry(name).or_insert(at - start);
                    *delay = (*delay).min(at - start);
                }
            }
            let p = Percentiles::of(first.into_values().collect());
            Reconnects {
                fault_start_ms: start,
                boxes: p.count,
                p50_ms: p.p50,
                max_ms: p.max,
            }
        })
        .collect()
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub p50: i64,
    pub p95: i64,
    pub p99: i64,
    pub max: i64,
}

impl Percentiles {
    pub fn of(mut values: Vec<i64>) -> Self {
        values.sort_unstable();
        let at = |q: f64| {
            if values.is_empty() {
                0
            } else {
                values[((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1]
            }
        };
        Self {
            count: values.len(),
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: values.last().copied().unwrap_or(0),
        }
    }
}

/// (site, box, incident, seq).
type Key = (String, String, String, u64);

/// The raised events (with their event ms when known), the ones left in an
/// outbox, and every receipt in file order: (key, camera, received ms, event ms).
pub fn tally(
    raised: &HashMap<Key, Option<i64>>,
    left: &HashSet<(String, String, u64)>,
    receipts: &[(Key, String, i64, i64)],
    faults: &[(i64, i64)],
) -> Tally {
    let mut first: HashSet<&Key> = HashSet::new();
    let mut highest: HashMap<(&str, &str, &str), u64> = HashMap::new();
    let mut tally = Tally {
        raised: raised.len(),
        ..Tally::default()
    };
    let (mut all, mut steady) = (Vec::new(), Vec::new());
    for (key, camera, received, event_ms) in receipts {
        if !first.insert(key) {
            tally.duplicates += 1;
            continue;
        }
        if !raised.contains_key(key) {
            tally.unknown += 1;
        }
        let top = highest.entry((&key.0, &key.1, camera)).or_insert(0);
        if key.3 < *top {
            tally.out_of_order += 1;
        }
        *top = (*top).max(key.3);
        let latency = received - event_ms;
        all.push(latency);
        if !faults.iter().any(|(a, b)| *event_ms >= *a && *event_ms <= b + 60_000) {
            steady.push(latency);
        }
    }
    for key in raised.keys() {
        if first.contains(key) {
            tally.delivered += 1;
        } else if left.contains(&(key.0.clone(), key.1.clone(), key.3)) {
            tally.left_in_outbox += 1;
        } else {
            tally.lost += 1;
            if tally.lost_examples.len() < 20 {
                tally
                    .lost_examples
                    .push(format!("{}/{} {} seq {}", key.0, key.1, key.2, key.3));
            }
        }
    }
    tally.latency_ms = Percentiles::of(all);
    tally.steady_latency_ms = Percentiles::of(steady);
    tally
}

pub fn command(args: &TallyArgs) -> anyhow::Result<ExitCode> {
    let mut raised: HashMap<Key, Option<i64>> = HashMap::new();
    let mut left = HashSet::new();
    let mut connections = Vec::new();
    for path in &args.sent {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            match f.as_slice() {
                ["S", site, box_id, _camera, id, seq, ms] => {
                    raised.insert(key(site, box_id, id, seq)?, ms.parse().ok());
                }
                ["U", site, box_id, seq] => {
                    left.insert((site.to_string(), box_id.to_string(), seq.parse()?));
                }
                ["C", site, box_id, ms, _node] => connections.push((format!("{site}/{box_id}"), ms.parse()?)),
                _ => {}
            }
        }
    }
    for spec in &args.journal {
        let (name, path) = spec.split_once('=').context("--journal takes SITE/BOX=FILE")?;
        let (site, box_id) = name.split_once('/').context("--journal takes SITE/BOX=FILE")?;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["message"] == "connected to MQTT broker"
                && let Some(at) = v["timestamp"].as_str().and_then(super::connect::time_ms)
            {
                connections.push((name.to_string(), at));
            }
            if v["kept"] == "stored"
                && let (Some(id), Some(seq)) = (v["incident"].as_str(), v["seq"].as_u64())
            {
                raised.insert((site.into(), box_id.into(), id.into(), seq), None);
            }
        }
    }
    let mut receipts = Vec::new();
    for path in &args.received {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        for line in text.lines() {
            if let ["R", received, site, box_id, camera, id, seq, event] =
                line.split('\t').collect::<Vec<_>>().as_slice()
            {
                receipts.push((
                    key(site, box_id, id, seq)?,
                    camera.to_string(),
                    received.parse()?,
                    event.parse()?,
                ));
            }
        }
    }
    let windows = |specs: &[String]| {
        specs
            .iter()
            .map(|f| {
                let (a, b) = f.split_once('-').context("a window is START_MS-END_MS")?;
                Ok((a.parse()?, b.parse()?))
            })
            .collect::<anyhow::Result<Vec<(i64, i64)>>>()
    };
    let faults = windows(&args.fault)?;
    let away = [faults.clone(), windows(&args.office_restart)?].concat();
    let mut tally = tally(&raised, &left, &receipts, &away);
    tally.reconnects = reconnects(&connections, &faults);
    println!("{}", serde_json::to_string_pretty(&tally)?);
    let clean = tally.lost == 0 && tally.out_of_order == 0 && tally.unknown == 0;
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(3) })
}

fn key(site: &str, box_id: &str, id: &str, seq: &str) -> anyhow::Result<Key> {
    Ok((site.into(), box_id.into(), id.into(), seq.parse()?))
}

/// Per (site, box): events raised — for a summary by box.
pub fn by_box(raised: &HashMap<Key, Option<i64>>) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for key in raised.keys() {
        *counts.entry((key.0.clone(), key.1.clone())).or_default() += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(seq: u64) -> Key {
        ("s".into(), "b".into(), format!("i{seq}"), seq)
    }

    #[test]
    fn lost_duplicated_out_of_order_and_left_are_told_apart() {
        let raised: HashMap<Key, Option<i64>> = (1..=5).map(|s| (k(s), Some(0))).collect();
        let left: HashSet<_> = [("s".to_string(), "b".to_string(), 5)].into();
        let r = |seq: u64, at: i64| (k(seq), "cam".to_string(), at, 0);
        // 2 arrives twice, 3 arrives after 4, 1 never arrives, 5 is still in the outbox.
        let receipts = vec![r(2, 100), r(4, 200), r(3, 300), r(2, 400)];
        let t = tally(&raised, &left, &receipts, &[]);
        assert_eq!(
            (
                t.raised,
                t.delivered,
                t.lost,
                t.left_in_outbox,
                t.duplicates,
                t.out_of_order
            ),
            (5, 3, 1, 1, 1, 1)
        );
        assert_eq!((t.latency_ms.p50, t.latency_ms.max), (200, 300));
        // An event inside a fault window (or the minute after) is not steady state.
        let t = tally(&raised, &left, &receipts, &[(0, 10)]);
        assert_eq!(t.steady_latency_ms.count, 0);
        assert_eq!(by_box(&raised).values().sum::<usize>(), 5);
        let c = |n: &str, at: i64| (n.to_string(), at);
        let back = reconnects(&[c("a", 5), c("a", 1500), c("b", 2500), c("b", 900)], &[(1000, 2000)]);
        assert_eq!((back[0].boxes, back[0].max_ms), (2, 1500));
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let p = Percentiles::of((1..=100).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50, 95, 99, 100));
        assert_eq!(Percentiles::of(Vec::new()).count, 0);
    }
}
