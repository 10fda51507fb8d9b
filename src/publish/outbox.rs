//! The durable outbox: every incident event is written here, durably, before
//! it counts as raised, and removed only after the broker acknowledged it
//! (PUBACK). It survives broker outages, crashes and power loss.
//!
//! It is a redb database: one table of records keyed by the box-wide event
//! sequence number (so order is kept — per camera and overall — and `seq`
//! keeps increasing across restarts), a table of the redacted snapshots some
//! records carry, a table holding the next sequence number, and a quarantine
//! table for records that can no longer be read. A snapshot is written after
//! its incident's start event, so it is always delivered after it; the only
//! image type it accepts is [`RedactedJpeg`], which only the redaction stage
//! can make.
//! It is bounded by count and age; what the bounds drop is logged and counted.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::anonymize::{Alert, RedactedJpeg};
use crate::config::Ctx;

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// Redacted JPEG snapshots, keyed by the sequence number of their record.
const IMAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("images");
const QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const NEXT_SEQ: &str = "next_seq";

/// `[outbox]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Most events kept undelivered, e.g. 100000; beyond it the oldest are dropped.
    #[serde(default = "default_max_events")]
    pub max_events: Spanned<u64>,
    /// Undelivered events older than this are dropped, e.g. 168 (a week).
    #[serde(default = "default_max_age_hours")]
    pub max_age_hours: Spanned<u64>,
}

fn default_max_events() -> Spanned<u64> {
    Spanned::new(0..0, 100_000)
}

fn default_max_age_hours() -> Spanned<u64> {
    Spanned::new(0..0, 168)
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_events: default_max_events(),
            max_age_hours: default_max_age_hours(),
        }
    }
}

/// Checked outbox settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPlan {
    pub path: PathBuf,
    pub max_events: u64,
    pub max_age: Duration,
}

pub fn check(config: &OutboxConfig, state_dir: &Path, ctx: &mut Ctx<'_>) -> Option<OutboxPlan> {
    let max_events = ctx.in_range(&config.max_events, 100..=100_000_000, "outbox.max_events");
    let hours = ctx.in_range(&config.max_age_hours, 1..=24 * 365, "outbox.max_age_hours");
    Some(OutboxPlan {
        path: state_dir.join("outbox.redb"),
        max_events: max_events?,
        max_age: Duration::from_secs(hours? * 3600),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {reason}")]
    Store { path: PathBuf, reason: String },
}

/// One stored event: where it goes and what it says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub topic: String,
    pub camera: String,
    /// When it was raised, milliseconds since the Unix epoch.
    pub raised_ms: u64,
    /// The alert's JSON; empty for a snapshot.
    pub payload: String,
    /// The record is a snapshot: its JPEG is in the images table.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub image: bool,
    /// The snapshot's bytes, read back with the record.
    #[serde(skip)]
    pub jpeg: Option<Vec<u8>>,
}

impl Record {
    /// What is published.
    pub fn into_payload(self) -> Vec<u8> {
        match self.jpeg {
            Some(jpeg) => jpeg,
            None => self.payload.into_bytes(),
        }
    }
}

/// Counters, read by the stats message and the tests.
#[derive(Debug, Default)]
pub struct OutboxStats {
    /// Events dropped by the count or age bound.
    pub dropped: AtomicU64,
    /// Records moved to quarantine because they could not be read.
    pub quarantined: AtomicU64,
    /// Events acknowledged by the broker and removed.
    pub delivered: AtomicU64,
}

pub struct Outbox {
    db: Database,
    path: PathBuf,
    plan: OutboxPlan,
    /// The highest sequence number written so far (0: none).
    last_seq: AtomicU64,
    pub stats: OutboxStats,
    /// Wakes the publisher when a record is written.
    written: tokio::sync::Notify,
    /// When each record written by this process was raised, until it is
    /// acknowledged: the start of the raise → PUBACK latency.
    raised_at: Mutex<HashMap<u64, Instant>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Outbox {
    /// Opens (or creates) the outbox. A file that is not a readable database
    /// is moved aside as `<name>.corrupt-<unix time>` and a new one started;
    /// records that cannot be decoded are quarantined. Both are logged.
    pub fn open(plan: &OutboxPlan) -> Result<Self, OutboxError> {
        let path = plan.path.clone();
        let fail = |reason: String| OutboxError::Store {
            path: path.clone(),
            reason,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create its folder: {e}")))?;
        }
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::Storage(redb::StorageError::Io(e)))
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Err(fail(format!("cannot open: {e}")));
            }
            Err(e) => {
                let aside = path.with_extension(format!("redb.corrupt-{}", now_ms() / 1000));
                tracing::error!(outbox = %path.display(), moved_to = %aside.display(), error = %e,
                    "the outbox file is damaged beyond repair; it is kept aside and a new outbox started");
                std::fs::rename(&path, &aside).map_err(|e| fail(format!("cannot move the damaged file aside: {e}")))?;
                Database::create(&path).map_err(|e| fail(e.to_string()))?
            }
        };
        let outbox = Self {
            db,
            path: path.clone(),
            plan: plan.clone(),
            last_seq: AtomicU64::new(0),
            stats: OutboxStats::default(),
            written: tokio::sync::Notify::new(),
            raised_at: Mutex::default(),
        };
        let last = outbox.init().map_err(|e| fail(e.to_string()))?;
        outbox.last_seq.store(last, Ordering::SeqCst);
        outbox.quarantine_unreadable().map_err(|e| fail(e.to_string()))?;
        Ok(outbox)
    }

    /// Creates the tables; returns the last sequence number ever written.
    fn init(&self) -> Result<u64, redb::Error> {
        let txn = self.db.begin_write()?;
        let last = {
            txn.open_table(RECORDS)?;
            txn.open_table(IMAGES)?;
            txn.open_table(QUARANTINE)?;
            let meta = txn.open_table(META)?;
            meta.get(NEXT_SEQ)?.map_or(0, |v| v.value().saturating_sub(1))
        };
        txn.commit()?;
        Ok(last)
    }

    /// Moves every record that does not decode into the quarantine table.
    fn quarantine_unreadable(&self) -> Result<(), redb::Error> {
        let bad: Vec<u64> = {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(RECORDS)?;
            let mut bad = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                if serde_json::from_slice::<Record>(v.value()).is_err() {
                    bad.push(k.value());
                }
            }
            bad
        };
        for seq in bad {
            self.quarantine(seq)?;
        }
        Ok(())
    }

    fn quarantine(&self, seq: u64) -> Result<(), redb::Error> {
        let txn = self.db.begin_write()?;
        {
            let mut records = txn.open_table(RECORDS)?;
            let raw = records.remove(seq)?.map(|v| v.value().to_vec());
            if let Some(raw) = raw {
                txn.open_table(QUARANTINE)?.insert(seq, raw.as_slice())?;
            }
            txn.open_table(IMAGES)?.remove(seq)?;
        }
        txn.commit()?;
        self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
        tracing::error!(outbox = %self.path.display(), seq, "an outbox record is damaged and cannot be sent; it was moved to quarantine");
        Ok(())
    }

    /// Writes one event durably and returns its sequence number. `make`
    /// builds the alert from the sequence number the outbox assigns.
    pub fn push(
        &self,
        make: impl FnOnce(u64) -> Alert,
        topic_of: impl FnOnce(&Alert) -> String,
    ) -> Result<Alert, OutboxError> {
        let mut built = None;
        self.write(|seq| {
            let alert = make(seq);
            let record = Record {
                topic: topic_of(&alert),
                camera: alert.camera().to_string(),
                raised_ms: now_ms(),
                payload: serde_json::to_string(&alert)?,
                image: false,
                jpeg: None,
            };
            built = Some(alert);
            Ok((record, None))
        })?;
        built.ok_or_else(|| OutboxError::Store {
            path: self.path.clone(),
            reason: "no alert was built".into(),
        })
    }

    /// Writes one redacted snapshot durably, after whatever is already queued.
    pub fn push_snapshot(&self, camera: &str, topic: String, jpeg: &RedactedJpeg) -> Result<u64, OutboxError> {
        self.write(|_| {
            let record = Record {
                topic,
                camera: camera.to_string(),
                raised_ms: now_ms(),
                payload: String::new(),
                image: true,
                jpeg: None,
            };
            Ok((record, Some(jpeg.as_bytes())))
        })
    }

    /// One write transaction: the next sequence number, the record (and its
    /// image), and the count bound.
    fn write<'i>(
        &self,
        make: impl FnOnce(u64) -> Result<(Record, Option<&'i [u8]>), serde_json::Error>,
    ) -> Result<u64, OutboxError> {
        let fail = |e: &dyn std::fmt::Display| OutboxError::Store {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        let txn = self.db.begin_write().map_err(|e| fail(&e))?;
        let (seq, dropped) = {
            let mut meta = txn.open_table(META).map_err(|e| fail(&e))?;
            let seq = meta.get(NEXT_SEQ).map_err(|e| fail(&e))?.map_or(1, |v| v.value());
            meta.insert(NEXT_SEQ, seq + 1).map_err(|e| fail(&e))?;
            let (record, image) = make(seq).map_err(|e| fail(&e))?;
            let bytes = serde_json::to_vec(&record).map_err(|e| fail(&e))?;
            let mut records = txn.open_table(RECORDS).map_err(|e| fail(&e))?;
            let mut images = txn.open_table(IMAGES).map_err(|e| fail(&e))?;
            records.insert(seq, bytes.as_slice()).map_err(|e| fail(&e))?;
            if let Some(image) = image {
                images.insert(seq, image).map_err(|e| fail(&e))?;
            }
            let mut dropped = Vec::new();
            while records.len().map_err(|e| fail(&e))? > self.plan.max_events {
                match records.pop_first().map_err(|e| fail(&e))? {
                    Some((k, _)) => {
                        let k = k.value();
                        images.remove(k).map_err(|e| fail(&e))?;
                        dropped.push(k);
                    }
                    None => break,
                }
            }
            (seq, dropped)
        };
        txn.commit().map_err(|e| fail(&e))?;
        self.raised_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(seq, Instant::now());
        self.last_seq.fetch_max(seq, Ordering::SeqCst);
        self.log_dropped(&dropped, "the outbox is full (outbox.max_events)");
        self.written.notify_one();
        Ok(seq)
    }

    fn log_dropped(&self, seqs: &[u64], why: &str) {
        if seqs.is_empty() {
            return;
        }
        let before = self.stats.dropped.fetch_add(seqs.len() as u64, Ordering::Relaxed);
        // The first drop, then one line per thousand: the count is in the stats.
        if before == 0 || (before + seqs.len() as u64) / 1000 > before / 1000 {
            tracing::warn!(outbox = %self.path.display(), dropped = seqs.len(), first_seq = seqs[0],
                total_dropped = before + seqs.len() as u64, "undelivered incident events dropped: {why}");
        }
    }

    /// Up to `limit` records after `after`, in order. Undecodable ones are quarantined and skipped.
    pub fn read_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Record)>, redb::Error> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(RECORDS)?;
            let images = txn.open_table(IMAGES)?;
            for entry in table.range(after.saturating_add(1)..)? {
                let (k, v) = entry?;
                let seq = k.value();
                match serde_json::from_slice::<Record>(v.value()) {
                    Ok(mut record) if record.image => match images.get(seq)? {
                        Some(jpeg) => {
                            record.jpeg = Some(jpeg.value().to_vec());
                            out.push((seq, record));
                        }
                        None => bad.push(seq),
                    },
                    Ok(record) => out.push((seq, record)),
                    Err(_) => bad.push(seq),
                }
                if out.len() >= limit {
                    break;
                }
            }
        }
        for seq in bad {
            self.quarantine(seq)?;
        }
        Ok(out)
    }

    /// Removes acknowledged records.
    pub fn remove(&self, seqs: &[u64]) -> Result<(), redb::Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        {
            let mut table = txn.open_table(RECORDS)?;
            let mut images = txn.open_table(IMAGES)?;
            for &seq in seqs {
                table.remove(seq)?;
                images.remove(seq)?;
            }
        }
        txn.commit()?;
        self.stats.delivered.fetch_add(seqs.len() as u64, Ordering::Relaxed);
        let mut raised = self.raised_at.lock().unwrap_or_else(|p| p.into_inner());
        for seq in seqs {
            raised.remove(seq);
        }
        Ok(())
    }

    /// When a record written by this process was raised (until it is removed).
    pub fn raised_at(&self, seq: u64) -> Option<Instant> {
        self.raised_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&seq)
            .copied()
    }

    /// Drops records older than the age bound.
    pub fn expire(&self) -> Result<(), redb::Error> {
        let limit = now_ms().saturating_sub(self.plan.max_age.as_millis() as u64);
        let old: Vec<u64> = {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(RECORDS)?;
            let mut old = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                match serde_json::from_slice::<Record>(v.value()) {
                    Ok(r) if r.raised_ms < limit => old.push(k.value()),
                    // records are in time order: the first recent one ends the scan
                    Ok(_) => break,
                    Err(_) => {}
                }
            }
            old
        };
        if !old.is_empty() {
            let txn = self.db.begin_write()?;
            {
                let mut table = txn.open_table(RECORDS)?;
                let mut images = txn.open_table(IMAGES)?;
                for &seq in &old {
                    table.remove(seq)?;
                    images.remove(seq)?;
                }
            }
            txn.commit()?;
            self.log_dropped(&old, "older than outbox.max_age_hours");
        }
        Ok(())
    }

    /// Undelivered records and the age of the oldest, in seconds.
    pub fn depth(&self) -> Result<(u64, Option<u64>), redb::Error> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        let oldest = match table.first()? {
            Some((_, v)) => serde_json::from_slice::<Record>(v.value())
                .ok()
                .map(|r| now_ms().saturating_sub(r.raised_ms) / 1000),
            None => None,
        };
        Ok((table.len()?, oldest))
    }

    /// The highest sequence number written.
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::SeqCst)
    }

    /// Resolves once a record is written after the last call.
    pub async fn written(&self) {
        self.written.notified().await;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{EventKind, EventSource, Severity, Target};
    use crate::vocab::BBox;

    fn plan(dir: &Path, max_events: u64) -> OutboxPlan {
        OutboxPlan {
            path: dir.join("outbox.redb"),
            max_events,
            max_age: Duration::from_secs(3600),
        }
    }

    fn alert(seq: u64) -> Alert {
        let source = EventSource::new("r".into(), "z".into(), Severity::High);
        let person = Target::new(1, "person".into(), 0.9, BBox::new(0.1, 0.1, 0.2, 0.2));
        let event = source.event(
            EventKind::Start,
            uuid::Uuid::now_v7(),
            Duration::ZERO,
            SystemTime::now(),
            vec![person],
        );
        crate::anonymize::alert("north", &event, seq)
    }

    fn push(outbox: &Outbox) -> u64 {
        outbox.push(alert, |_| "t".into()).unwrap().seq()
    }

    #[test]
    fn sequence_numbers_keep_increasing_across_reopen_even_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        let first = {
            let outbox = Outbox::open(&plan(dir.path(), 100)).unwrap();
            let a = push(&outbox);
            let b = push(&outbox);
            assert_eq!(b, a + 1);
            outbox.remove(&[a, b]).unwrap();
            b
        };
        let outbox = Outbox::open(&plan(dir.path(), 100)).unwrap();
        assert_eq!(outbox.depth().unwrap().0, 0);
        assert_eq!(push(&outbox), first + 1);
    }

    #[test]
    fn records_come_back_in_order_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&plan(dir.path(), 100)).unwrap();
        let seqs: Vec<u64> = (0..5).map(|_| push(&outbox)).collect();
        let read: Vec<u64> = outbox.read_after(0, 10).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(read, seqs);
        outbox.remove(&seqs[..2]).unwrap();
        let read: Vec<u64> = outbox.read_after(0, 2).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(read, seqs[2..4]);
        let payload: Alert = serde_json::from_str(&outbox.read_after(seqs[3], 1).unwrap()[0].1.payload).unwrap();
        assert_eq!(payload.seq(), seqs[4]);
    }

    #[test]
    fn the_count_bound_drops_the_oldest_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&plan(dir.path(), 3)).unwrap();
        let seqs: Vec<u64> = (0..5).map(|_| push(&outbox)).collect();
        let kept: Vec<u64> = outbox.read_after(0, 10).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(kept, seqs[2..]);
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_damaged_record_is_quarantined_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(dir.path(), 100);
        let seqs: Vec<u64> = {
            let outbox = Outbox::open(&p).unwrap();
            (0..3).map(|_| push(&outbox)).collect()
        };
        {
            let db = Database::create(&p.path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(RECORDS)
                .unwrap()
                .insert(seqs[1], &b"\xff\x00 not a record"[..])
                .unwrap();
            txn.commit().unwrap();
        }
        let outbox = Outbox::open(&p).unwrap();
        let kept: Vec<u64> = outbox.read_after(0, 10).unwrap().into_iter().map(|(s, _)| s).collect();
        assert_eq!(kept, vec![seqs[0], seqs[2]]);
        assert_eq!(outbox.stats.quarantined.load(Ordering::Relaxed), 1);
        let txn = outbox.db.begin_read().unwrap();
        assert!(txn.open_table(QUARANTINE).unwrap().get(seqs[1]).unwrap().is_some());
    }

    #[test]
    fn a_file_that_is_not_an_outbox_is_moved_aside_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(dir.path(), 100);
        std::fs::write(&p.path, vec![0x5a; 64 * 1024]).unwrap();
        let outbox = Outbox::open(&p).unwrap();
        assert_eq!(push(&outbox), 1);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .collect();
        assert_eq!(aside.len(), 1);
    }
}
