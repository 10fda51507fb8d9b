//! The durable outbox: every incident event is written here, durably, before
//! it counts as raised, and removed only after the broker acknowledged it
//! (PUBACK). It survives broker outages, crashes and power loss.
//!
//! It is a redb database: one table of records keyed by the box-wide event
//! sequence number (so order is kept — per camera and overall — and `seq`
//! keeps increasing across restarts), a table of the redacted snapshots some
//! records carry, a table holding the next sequence number, and a quarantine
//! table for records that can no longer be read and snapshots the broker
//! refused again and again (those come back to the queue at every start). A snapshot is written after its incident's start event,
//! so it is always delivered after it; the only image type it accepts is
//! [`RedactedJpeg`], which only the redaction stage can make.
//! It is bounded by count, bytes and age (the age measured on the monotonic
//! clock, so a clock jump neither drops fresh events nor stops expiry);
//! what the bounds drop is counted and logged at most once a minute. It is
//! opened only under the state directory's lock, and only a file that redb
//! finds corrupted is ever moved aside.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable};

use super::config::OutboxPlan;
use super::journal;
use super::lock::StateLock;
use super::record::{
    Held, IMAGES, META, NEXT_SEQ, OutboxError, OutboxStats, QUARANTINE, QUARANTINE_IMAGES, RECORDS, Record, Writer,
    now_ms,
};
use crate::anonymize::{Alert, EncodedClip, RedactedJpeg};

/// Drops are logged at most this often, with the count since the last line.
const DROP_LOG_EVERY: Duration = Duration::from_secs(60);

pub(super) const UNWRITABLE: &str = "the outbox cannot write (disk full or an I/O error)";
/// A broken database is reopened at most this often.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Drops not logged yet, and when the last line was.
#[derive(Debug, Default)]
pub(super) struct DropLog {
    unlogged: u64,
    last: Option<Instant>,
    reason: &'static str,
}

pub struct Outbox {
    pub(super) db: RwLock<Database>,
    pub(super) path: PathBuf,
    pub(super) plan: OutboxPlan,
    /// The byte bound in force (configured or worked out at open).
    pub(super) max_bytes: u64,
    /// Bytes of the records and snapshots held.
    pub(super) bytes: AtomicU64,
    /// The highest sequence number written so far (0: none).
    pub(super) last_seq: AtomicU64,
    pub stats: OutboxStats,
    /// Wakes the publisher when a record is written.
    pub(super) written: tokio::sync::Notify,
    /// When each record written by this process was raised, until it is
    /// acknowledged: its age for the age bound, and the raise → PUBACK latency.
    pub(super) raised_at: Mutex<HashMap<u64, Instant>>,
    /// The wall clock and the monotonic clock at open: the age of records
    /// from earlier runs is their wall age at open plus the monotonic time since.
    pub(super) opened: (u64, Instant),
    /// The boot clock (ms) and the boot id at open, for the ledger's downtime.
    pub(super) opened_boot: (u64, u64),
    pub(super) drops: Mutex<DropLog>,
    /// The last write hit an I/O error: redb refuses every write until reopened.
    pub(super) broken: std::sync::atomic::AtomicBool,
    pub(super) last_reopen: Mutex<Option<Instant>>,
    /// The next sequence number and the memory hold: every write takes it first.
    pub(super) writer: Mutex<Writer>,
    /// Events in the hold, for the stats and the watchdog.
    pub(super) held_len: AtomicU64,
    /// A fault the next write transaction fails with (tests inject one).
    #[cfg(test)]
    pub(super) fault: Mutex<Option<redb::Error>>,
    _lock: StateLock,
}

/// What an open error means: only real corruption lets the file be moved aside.
fn is_corruption(e: &redb::DatabaseError) -> bool {
    match e {
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(_)) => true,
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => {
            matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            )
        }
        _ => false,
    }
}

fn explain(e: &redb::DatabaseError) -> String {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            "the file is already open (another process holds it); it was left untouched".into()
        }
        redb::DatabaseError::UpgradeRequired(v) => format!(
            "the file is in an older redb format ({v}); it was left untouched — upgrade it with the watchpost release that wrote it"
        ),
        other => format!("cannot open: {other}; the file was left untouched"),
    }
}

impl Outbox {
    /// Takes the state directory's lock, then opens (or creates) the outbox.
    /// A file redb finds corrupted is moved aside as `<name>.corrupt-<unix
    /// time>` and a new one started; any other open error (already open, a
    /// format upgrade, I/O) is returned and the file left as it is. Records
    /// that cannot be decoded are quarantined. All of it is logged.
    pub fn open(plan: &OutboxPlan) -> Result<Self, OutboxError> {
        let path = plan.path.clone();
        let fail = |reason: String| OutboxError::Store {
            path: path.clone(),
            reason,
        };
        let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        let lock = StateLock::acquire(&dir)?;
        let db = match Database::create(&path) {
            Ok(db) => db,
            Err(e) if is_corruption(&e) => {
                let aside = path.with_extension(format!("redb.corrupt-{}", now_ms() / 1000));
                tracing::error!(outbox = %path.display(), moved_to = %aside.display(), error = %e,
                    "the outbox file is damaged beyond repair; it is kept aside and a new outbox started");
                std::fs::rename(&path, &aside).map_err(|e| fail(format!("cannot move the damaged file aside: {e}")))?;
                Database::create(&path).map_err(|e| fail(e.to_string()))?
            }
            Err(e) => return Err(fail(explain(&e))),
        };
        let outbox = Self {
            db: RwLock::new(db),
            path: path.clone(),
            plan: plan.clone(),
            max_bytes: plan.byte_bound(&dir),
            bytes: AtomicU64::new(0),
            last_seq: AtomicU64::new(0),
            stats: OutboxStats::default(),
            written: tokio::sync::Notify::new(),
            raised_at: Mutex::default(),
            opened: (now_ms(), Instant::now()),
            opened_boot: super::record::boot_now(),
            drops: Mutex::default(),
            broken: Default::default(),
            last_reopen: Mutex::default(),
            writer: Mutex::default(),
            held_len: AtomicU64::new(0),
            #[cfg(test)]
            fault: Mutex::default(),
            _lock: lock,
        };
        let (last, bytes) = outbox.init().map_err(|e| fail(e.to_string()))?;
        outbox.last_seq.store(last, Ordering::SeqCst);
        outbox.writer().next_seq = last + 1;
        outbox.bytes.store(bytes, Ordering::SeqCst);
        outbox.restore_quarantined().map_err(|e| fail(e.to_string()))?;
        outbox.quarantine_unreadable().map_err(|e| fail(e.to_string()))?;
        outbox.note_start().map_err(|e| fail(e.to_string()))?;
        tracing::debug!(outbox = %path.display(), max_bytes = outbox.max_bytes, bytes, "outbox bounds");
        Ok(outbox)
    }

    /// Reopens the database after an I/O error (at most once a second);
    /// true once it can write again.
    pub(super) fn try_reopen(&self) -> bool {
        {
            let mut last = self.last_reopen.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
        // redb holds its own lock on the file: the old handle goes first, and
        // an empty in-memory one stands in until the file opens (no write
        // reaches it: `broken` stays set).
        let Ok(stand_in) = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new()) else {
            return false;
        };
        drop(std::mem::replace(&mut *db, stand_in));
        match Database::create(&self.path) {
            Ok(reopened) => {
                *db = reopened;
                self.broken.store(false, Ordering::SeqCst);
                tracing::info!(outbox = %self.path.display(), "the outbox was reopened and writes again");
                true
            }
            Err(e) => {
                tracing::debug!(outbox = %self.path.display(), error = %e, "the outbox cannot be reopened yet");
                false
            }
        }
    }

    /// Whether the outbox can store events now.
    pub fn writable(&self) -> bool {
        !self.broken.load(Ordering::SeqCst)
    }

    pub(super) fn db(&self) -> RwLockReadGuard<'_, Database> {
        self.db.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in one write transaction, committed when `f` succeeds.
    pub(super) fn in_write<T>(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, redb::Error> {
        let db = self.db();
        let txn = db.begin_write()?;
        let value = f(&txn)?;
        txn.commit()?;
        Ok(value)
    }

    /// Creates the tables; returns the last sequence number ever written and
    /// the bytes held.
    fn init(&self) -> Result<(u64, u64), redb::Error> {
        self.in_write(|txn| {
            txn.open_table(QUARANTINE)?;
            txn.open_table(QUARANTINE_IMAGES)?;
            let meta = txn.open_table(META)?;
            let last = meta.get(NEXT_SEQ)?.map_or(0, |v| v.value().saturating_sub(1));
            let mut bytes = 0;
            for table in [RECORDS, IMAGES] {
                for entry in txn.open_table(table)?.iter()? {
                    bytes += entry?.1.value().len() as u64;
                }
            }
            Ok((last, bytes))
        })
    }

    /// Writes one event durably and returns its sequence number. `make`
    /// builds the alert from the sequence number the outbox assigns.
    pub fn push(
        &self,
        make: impl FnOnce(u64) -> Alert,
        topic_of: impl FnOnce(&Alert) -> String,
    ) -> Result<Alert, OutboxError> {
        let mut built = None;
        self.write(true, |seq| {
            let alert = make(seq);
            let record = Record {
                topic: topic_of(&alert),
                camera: alert.camera().to_string(),
                raised_ms: now_ms(),
                payload: serde_json::to_string(&alert)?,
                image: false,
                retain: false,
                jpeg: None,
            };
            let incident = alert.incident_id().to_string();
            built = Some(alert);
            Ok((record, None, incident))
        })?;
        built.ok_or_else(|| OutboxError::Store {
            path: self.path.clone(),
            reason: "no alert was built".into(),
        })
    }

    /// Writes an operator's acknowledgement of an incident (its JSON)
    /// durably, as an incident event is kept (held in memory while the
    /// store cannot write): the office hears of it however long the broker
    /// is away. Returns its sequence number.
    pub fn push_ack(&self, camera: &str, topic: String, payload: String, incident: &str) -> Result<u64, OutboxError> {
        self.write(true, |_| {
            let record = Record {
                topic,
                camera: camera.to_string(),
                raised_ms: now_ms(),
                payload,
                image: false,
                retain: false,
                jpeg: None,
            };
            Ok((record, None, incident.to_string()))
        })
    }

    /// Writes one redacted snapshot durably, after whatever is already
    /// queued. None: the byte bound had no room for it even after dropping
    /// older snapshots (snapshots never push out incident events); it is counted.
    pub fn push_snapshot(&self, camera: &str, topic: String, jpeg: &RedactedJpeg) -> Result<Option<u64>, OutboxError> {
        self.push_image(camera, topic, jpeg.as_bytes())
    }

    /// Writes one part of a redacted evidence clip (bytes `offset..offset +
    /// len` of its MP4) durably, as a snapshot is: the byte bound drops
    /// older snapshots and parts before it, and never an incident event.
    /// None: no room (counted with the dropped snapshots).
    pub fn push_clip_part(
        &self,
        camera: &str,
        topic: String,
        clip: &EncodedClip,
        (offset, len): (u64, usize),
    ) -> Result<Option<u64>, OutboxError> {
        let part = clip.read_part(offset, len).map_err(|e| OutboxError::Store {
            path: clip.path().to_path_buf(),
            reason: e.to_string(),
        })?;
        self.push_image(camera, topic, &part)
    }

    /// Writes redacted image bytes (a snapshot, a clip's part) durably under
    /// the byte bound that drops them before incident events; None when
    /// there was no room.
    fn push_image(&self, camera: &str, topic: String, bytes: &[u8]) -> Result<Option<u64>, OutboxError> {
        let seq = self.write(false, |_| {
            let record = Record {
                topic,
                camera: camera.to_string(),
                raised_ms: now_ms(),
                payload: String::new(),
                image: true,
                retain: false,
                jpeg: None,
            };
            Ok((record, Some(bytes), String::new()))
        })?;
        Ok((seq != 0).then_some(seq))
    }

    /// Writes a small JSON message durably, kept as an incident event is
    /// (an evidence clip's signed manifest, the box's public key), retained
    /// at the broker when `retain`. Returns its sequence number.
    pub fn push_notice(
        &self,
        camera: &str,
        topic: String,
        payload: String,
        incident: &str,
        retain: bool,
    ) -> Result<u64, OutboxError> {
        self.write(true, |_| {
            let record = Record {
                topic,
                camera: camera.to_string(),
                raised_ms: now_ms(),
                payload,
                image: false,
                retain,
                jpeg: None,
            };
            Ok((record, None, incident.to_string()))
        })
    }

    /// One write: under the writer lock, the held events first, then the
    /// record `make` builds from its sequence number (and its image). While
    /// the store cannot write, an incident event is held in memory and a
    /// snapshot dropped (counted). Returns 0 for a snapshot the byte bound
    /// had no room for.
    /// `make` also names the event's incident (empty for a snapshot), for
    /// the [`journal`].
    fn write<'i>(
        &self,
        is_event: bool,
        make: impl FnOnce(u64) -> Result<(Record, Option<&'i [u8]>, String), serde_json::Error>,
    ) -> Result<u64, OutboxError> {
        let mut w = self.writer();
        let mut usable = !self.broken.load(Ordering::SeqCst) || self.try_reopen();
        if usable && let Err(e) = self.drain_locked(&mut w) {
            self.write_failed(&e);
            usable = false;
        }
        if !usable && !is_event {
            return Err(self.refuse_snapshot());
        }
        if !usable && w.held.len() >= self.plan.max_held {
            return Err(self.hold_full());
        }
        let seq = w.next_seq;
        let encoded = make(seq)
            .and_then(|(record, image, incident)| Ok((serde_json::to_vec(&record)?, image, record.camera, incident)));
        let (bytes, image, camera, incident) = encoded.map_err(|e| OutboxError::Store {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        w.next_seq += 1;
        let held = Held {
            seq,
            bytes,
            camera,
            incident,
            at: Instant::now(),
        };
        if !usable {
            return self.hold(&mut w, held);
        }
        match self.write_txn(seq, &held.bytes, image) {
            Ok((fits, bytes, dropped, snapshots)) => {
                if fits && is_event {
                    journal::kept(seq, &held.camera, &held.incident, false);
                }
                self.settle(seq, fits, bytes, dropped, snapshots)
            }
            // Whatever the store's error, an incident event is held (and
            // written first once the store is reopened), a snapshot dropped
            // and counted: nothing is lost silently.
            Err(e) => {
                self.write_failed(&e);
                if image.is_none() {
                    self.hold(&mut w, held)
                } else {
                    Err(self.refuse_snapshot())
                }
            }
        }
    }

    /// After a write: the counters, the latency clock and the publisher's wake-up.
    fn settle(&self, seq: u64, fits: bool, held: u64, dropped: Vec<u64>, snapshots: u64) -> Result<u64, OutboxError> {
        self.bytes.store(held, Ordering::SeqCst);
        journal::dropped(&dropped, "max_events or max_bytes");
        self.last_seq.fetch_max(seq, Ordering::SeqCst);
        {
            let mut raised = self.raised_at.lock().unwrap_or_else(|p| p.into_inner());
            for seq in &dropped {
                raised.remove(seq);
            }
            if fits {
                raised.insert(seq, Instant::now());
            }
        }
        let refused = u64::from(!fits);
        self.stats
            .dropped_snapshots
            .fetch_add(snapshots + refused, Ordering::Relaxed);
        self.note_drops(
            dropped.len() as u64 + refused,
            "the outbox is full (max_events or max_bytes)",
        );
        if fits {
            self.written.notify_one();
            Ok(seq)
        } else {
            Ok(0)
        }
    }

    /// Counts drops and logs them: the first at once, then at most one line
    /// a minute with the count since the last one.
    pub(super) fn note_drops(&self, n: u64, why: &'static str) {
        if n == 0 {
            return;
        }
        self.stats.dropped.fetch_add(n, Ordering::Relaxed);
        let mut log = self.drops.lock().unwrap_or_else(|p| p.into_inner());
        log.unlogged += n;
        log.reason = why;
        self.flush_drop_log(&mut log);
    }

    pub(super) fn flush_drop_log(&self, log: &mut DropLog) {
        if log.unlogged == 0 || log.last.is_some_and(|t| t.elapsed() < DROP_LOG_EVERY) {
            return;
        }
        tracing::warn!(outbox = %self.path.display(), dropped = log.unlogged,
            total_dropped = self.stats.dropped.load(Ordering::Relaxed),
            snapshots_dropped = self.stats.dropped_snapshots.load(Ordering::Relaxed),
            "undelivered incident events dropped: {}; the totals are in the stats message and metrics", log.reason);
        log.unlogged = 0;
        log.last = Some(Instant::now());
    }

    /// Up to `limit` records after `after`, in order. Undecodable ones are quarantined and skipped.
    pub fn read_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Record)>, redb::Error> {
        let mut out = Vec::new();
        let mut bad = Vec::new();
        {
            let db = self.db();
            let txn = db.begin_read()?;
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
            self.quarantine(seq, None)?;
        }
        Ok(out)
    }

    /// Removes records: acknowledged ones, or (`dropped`) ones a bound let go.
    pub(super) fn remove_seqs(&self, seqs: &[u64]) -> Result<(), redb::Error> {
        if seqs.is_empty() {
            return Ok(());
        }
        let freed = self.in_write(|txn| {
            let mut table = txn.open_table(RECORDS)?;
            let mut images = txn.open_table(IMAGES)?;
            let mut freed = 0;
            for &seq in seqs {
                freed += table.remove(seq)?.map_or(0, |v| v.value().len());
                freed += images.remove(seq)?.map_or(0, |v| v.value().len());
            }
            Ok(freed)
        })?;
        self.bytes.fetch_sub(freed as u64, Ordering::SeqCst);
        let mut raised = self.raised_at.lock().unwrap_or_else(|p| p.into_inner());
        for seq in seqs {
            raised.remove(seq);
        }
        Ok(())
    }

    /// Removes acknowledged records.
    pub fn remove(&self, seqs: &[u64]) -> Result<(), redb::Error> {
        self.remove_seqs(seqs)?;
        self.stats.delivered.fetch_add(seqs.len() as u64, Ordering::Relaxed);
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

    /// Bytes of records and snapshots held, and the byte bound in force.
    pub fn bytes(&self) -> (u64, u64) {
        (self.bytes.load(Ordering::SeqCst), self.max_bytes)
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

    pub fn plan(&self) -> &OutboxPlan {
        &self.plan
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::rules::{EventKind, EventSource, Severity, Target};
    use crate::vocab::BBox;

    fn plan(dir: &Path, max_events: u64) -> OutboxPlan {
        let mut plan = OutboxPlan::in_dir(dir);
        plan.keys.max_events = max_events;
        plan.keys.max_age_hours = Duration::from_secs(3600);
        plan
    }

    /// [`plan`] with a byte bound.
    fn bounded(dir: &Path, max_bytes: u64) -> OutboxPlan {
        let mut plan = plan(dir, 100_000);
        plan.keys.max_bytes = Some(max_bytes);
        plan
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

    /// `n` events pushed, their sequence numbers in order.
    fn pushed(outbox: &Outbox, n: usize) -> Vec<u64> {
        (0..n).map(|_| push(outbox)).collect()
    }

    /// The sequence numbers the outbox holds, the first `n`.
    fn stored(outbox: &Outbox, n: usize) -> Vec<u64> {
        outbox.read_after(0, n).unwrap().into_iter().map(|(s, _)| s).collect()
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
    fn an_event_whose_write_fails_for_any_reason_is_held_and_written_first_after() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&plan(dir.path(), 100)).unwrap();
        let first = push(&outbox);
        // not an I/O error: the store refuses the value itself
        *outbox.fault.lock().unwrap() = Some(redb::Error::ValueTooLarge(usize::MAX));
        let failed = push(&outbox);
        assert_eq!(failed, first + 1, "the event kept its place");
        assert_eq!(outbox.held(), 1);
        assert!(!outbox.writable());
        // the next write reopens the store, writes the held event, then its own
        let next = push(&outbox);
        assert_eq!(outbox.held(), 0);
        assert_eq!(stored(&outbox, 10), [first, failed, next]);
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn records_come_back_in_order_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&plan(dir.path(), 100)).unwrap();
        let seqs = pushed(&outbox, 5);
        let read = stored(&outbox, 10);
        assert_eq!(read, seqs);
        outbox.remove(&seqs[..2]).unwrap();
        let read = stored(&outbox, 2);
        assert_eq!(read, seqs[2..4]);
        let payload: Alert = serde_json::from_str(&outbox.read_after(seqs[3], 1).unwrap()[0].1.payload).unwrap();
        assert_eq!(payload.seq(), seqs[4]);
    }

    #[test]
    fn the_count_bound_drops_the_oldest_and_counts_it() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&plan(dir.path(), 3)).unwrap();
        let seqs = pushed(&outbox, 5);
        let kept = stored(&outbox, 10);
        assert_eq!(kept, seqs[2..]);
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_damaged_record_is_quarantined_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(dir.path(), 100);
        let seqs: Vec<u64> = {
            let outbox = Outbox::open(&p).unwrap();
            pushed(&outbox, 3)
        };
        {
            let _lock = StateLock::acquire(dir.path()).unwrap();
            let db = Database::create(&p.path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(RECORDS)
                .unwrap()
                .insert(seqs[1], &b"\xff\x00 not a record"[..])
                .unwrap();
            txn.commit().unwrap();
        }
        let outbox = Outbox::open(&p).unwrap();
        let kept = stored(&outbox, 10);
        assert_eq!(kept, vec![seqs[0], seqs[2]]);
        assert_eq!(outbox.stats.quarantined.load(Ordering::Relaxed), 1);
        let db = outbox.db();
        let txn = db.begin_read().unwrap();
        assert!(txn.open_table(QUARANTINE).unwrap().get(seqs[1]).unwrap().is_some());
    }

    /// How many files in `dir` are outboxes moved aside as corrupt.
    fn corrupt_files(dir: &Path) -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("corrupt"))
            .count()
    }

    #[test]
    fn a_file_that_is_not_an_outbox_is_moved_aside_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(dir.path(), 100);
        std::fs::write(&p.path, vec![0x5a; 64 * 1024]).unwrap();
        let outbox = Outbox::open(&p).unwrap();
        assert_eq!(push(&outbox), 1);
        assert_eq!(corrupt_files(dir.path()), 1);
    }

    #[test]
    fn a_file_open_elsewhere_is_an_error_and_is_never_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(dir.path(), 100);
        let seq = {
            let outbox = Outbox::open(&p).unwrap();
            push(&outbox)
        };
        // redb's own file lock, without ours: "database already open".
        let held = Database::create(&p.path).unwrap();
        let err = Outbox::open(&p).err().expect("a second open must fail");
        assert!(err.to_string().contains("already open"), "{err}");
        assert_eq!(corrupt_files(dir.path()), 0);
        drop(held);
        let outbox = Outbox::open(&p).unwrap();
        assert_eq!(outbox.read_after(0, 10).unwrap()[0].0, seq);
    }

    #[test]
    fn only_corruption_counts_as_damage() {
        use redb::{DatabaseError as D, StorageError as S};
        assert!(is_corruption(&D::Storage(S::Corrupted("x".into()))));
        assert!(!is_corruption(&D::DatabaseAlreadyOpen));
        assert!(!is_corruption(&D::UpgradeRequired(2)));
        assert!(!is_corruption(&D::Storage(S::Io(
            std::io::ErrorKind::StorageFull.into()
        ))));
        assert!(!is_corruption(&D::Storage(S::PreviousIo)));
    }

    /// Rewrites the `raised_ms` of a stored record, as a wall clock step would see it.
    fn set_raised_ms(outbox: &Outbox, seq: u64, raised_ms: u64) {
        let db = outbox.db();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(RECORDS).unwrap();
            let mut record: Record = serde_json::from_slice(table.get(seq).unwrap().unwrap().value()).unwrap();
            record.raised_ms = raised_ms;
            table
                .insert(seq, serde_json::to_vec(&record).unwrap().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }

    #[test]
    fn a_forward_clock_jump_does_not_expire_fresh_events() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&plan(dir.path(), 100)).unwrap();
        let seqs = pushed(&outbox, 3);
        // Seen from a clock that jumped two hours ahead, they look two hours old.
        for &seq in &seqs {
            set_raised_ms(&outbox, seq, now_ms() - 2 * 3600 * 1000);
        }
        outbox.expire().unwrap();
        assert_eq!(outbox.depth().unwrap().0, 3);
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_backward_clock_jump_does_not_stop_expiry_of_older_records() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(dir.path(), 100);
        let seqs: Vec<u64> = {
            let outbox = Outbox::open(&p).unwrap();
            let seqs = pushed(&outbox, 3);
            // The first was raised before the clock went back a day: "in the
            // future"; the others are two hours old by the wall clock.
            set_raised_ms(&outbox, seqs[0], now_ms() + 24 * 3600 * 1000);
            set_raised_ms(&outbox, seqs[1], now_ms() - 2 * 3600 * 1000);
            set_raised_ms(&outbox, seqs[2], now_ms() - 2 * 3600 * 1000);
            seqs
        };
        let outbox = Outbox::open(&p).unwrap();
        outbox.expire().unwrap();
        let kept = stored(&outbox, 10);
        assert_eq!(kept, vec![seqs[0]], "the old ones behind a future one must expire");
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(
            outbox.depth().unwrap().1,
            Some(0),
            "a future record has age 0, not a negative one"
        );
    }

    /// A redacted JPEG of noise, `side` pixels square (noise barely compresses).
    fn jpeg(side: usize) -> RedactedJpeg {
        let mut rng = fastrand::Rng::with_seed(side as u64);
        let rgb: Vec<u8> = (0..side * side * 3).map(|_| rng.u8(..)).collect();
        let image = crate::anonymize::RawImage::from_rgb(&rgb, side, side, side * 3).unwrap();
        crate::anonymize::redact::redact(image, &[])
            .to_jpeg(90, 2 << 20)
            .unwrap()
    }

    fn snapshot(outbox: &Outbox, jpeg: &RedactedJpeg) -> Option<u64> {
        outbox.push_snapshot("north", "s".into(), jpeg).unwrap()
    }

    fn held(outbox: &Outbox) -> (Vec<u64>, Vec<u64>) {
        let all = outbox.read_after(0, 100_000).unwrap();
        let (images, events): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, r)| r.image);
        (
            events.into_iter().map(|(s, _)| s).collect(),
            images.into_iter().map(|(s, _)| s).collect(),
        )
    }

    /// An evidence clip of `frames` redacted noise pictures (noise barely
    /// compresses: the encoder spends its whole bit rate).
    fn noise_clip(path: &Path, frames: usize) -> EncodedClip {
        let (w, h) = (320usize, 180usize);
        let mut encoder = crate::anonymize::VideoEncoder::start(path, w as u32, h as u32, 5).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..frames {
            let rgb: Vec<u8> = (0..w * h * 3).map(|_| rng.u8(..)).collect();
            let image = crate::anonymize::RawImage::from_rgb(&rgb, w, h, w * 3).unwrap();
            encoder.push(&crate::anonymize::redact::redact(image, &[])).unwrap();
        }
        encoder.finish().unwrap()
    }

    #[test]
    fn clip_parts_are_bounded_with_snapshots_and_never_push_out_an_event() {
        gstreamer::init().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&bounded(dir.path(), super::super::config::MIN_BYTES)).unwrap();
        let clip = noise_clip(&dir.path().join("clip.mp4"), 50);
        const PART: usize = 256 * 1024;
        let parts = clip.bytes().div_ceil(PART as u64);
        let (mut events, mut pushed) = (Vec::new(), 0u64);
        for _ in 0..8 {
            events.push(push(&outbox));
            for i in 0..parts {
                outbox
                    .push_clip_part("north", format!("c/part/{i}/{parts}"), &clip, (i * PART as u64, PART))
                    .unwrap();
                pushed += 1;
            }
        }
        assert!(
            clip.bytes() * 8 > super::super::config::MIN_BYTES,
            "the parts pushed exceed the bound"
        );
        let (held_events, held_parts) = held(&outbox);
        assert_eq!(held_events, events, "no incident event may go for a clip part");
        assert!(
            !held_parts.is_empty() && (held_parts.len() as u64) < pushed,
            "{held_parts:?} of {pushed}"
        );
        assert_eq!(
            outbox.stats.dropped_snapshots.load(Ordering::Relaxed),
            pushed - held_parts.len() as u64,
            "every dropped part is counted"
        );
        // a part holds the clip's bytes at its offset
        let last = *held_parts.last().unwrap();
        let (_, record) = outbox.read_after(last - 1, 1).unwrap().remove(0);
        let i: u64 = record.topic.split('/').nth(2).unwrap().parse().unwrap();
        assert_eq!(record.jpeg.unwrap(), clip.read_part(i * PART as u64, PART).unwrap());
    }

    #[test]
    fn the_byte_bound_drops_the_oldest_snapshots_before_any_event() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&bounded(dir.path(), super::super::config::MIN_BYTES)).unwrap();
        let picture = jpeg(600);
        let size = picture.as_bytes().len() as u64;
        let (mut events, mut snapshots) = (Vec::new(), Vec::new());
        for _ in 0..12 {
            events.push(push(&outbox));
            snapshots.push(snapshot(&outbox, &picture).unwrap());
        }
        let (held_events, held_snapshots) = held(&outbox);
        assert_eq!(held_events, events, "no incident event may go for a snapshot");
        let fit = (outbox.bytes().1 / size) as usize;
        assert!(
            held_snapshots.len() <= fit && held_snapshots.len() + 1 >= fit,
            "{fit} {held_snapshots:?}"
        );
        assert_eq!(
            held_snapshots,
            snapshots[12 - held_snapshots.len()..],
            "the oldest go first"
        );
        let dropped = (12 - held_snapshots.len()) as u64;
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), dropped);
        assert_eq!(outbox.stats.dropped_snapshots.load(Ordering::Relaxed), dropped);
        assert!(outbox.bytes().0 <= outbox.bytes().1);
        // The count survives a reopen: the held bytes are summed again.
        let held_now = outbox.bytes().0;
        drop(outbox);
        let outbox = Outbox::open(&bounded(dir.path(), super::super::config::MIN_BYTES)).unwrap();
        assert_eq!(outbox.bytes().0, held_now);
    }

    #[test]
    fn a_snapshot_never_pushes_out_an_event_and_events_push_out_the_oldest_events() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&bounded(dir.path(), 4000)).unwrap();
        let events = pushed(&outbox, 30);
        let (kept, _) = held(&outbox);
        assert!(kept.len() < 30 && !kept.is_empty());
        assert_eq!(kept, events[30 - kept.len()..], "the newest events are kept");
        let dropped = outbox.stats.dropped.load(Ordering::Relaxed);
        assert_eq!(dropped, 30 - kept.len() as u64);
        // No room for a snapshot without dropping events: it is not stored.
        assert_eq!(snapshot(&outbox, &jpeg(64)), None);
        assert_eq!(held(&outbox).0, kept);
        assert_eq!(outbox.stats.dropped.load(Ordering::Relaxed), dropped + 1);
        assert_eq!(outbox.stats.dropped_snapshots.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_refused_snapshot_is_quarantined_with_its_jpeg_and_queued_again_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(dir.path(), 100);
        let picture = jpeg(64);
        let (event, shot, damaged) = {
            let outbox = Outbox::open(&p).unwrap();
            let event = push(&outbox);
            let shot = snapshot(&outbox, &picture).unwrap();
            let damaged = push(&outbox);
            let bytes = outbox.bytes().0;
            outbox.quarantine_refused(shot, "closed by the broker").unwrap();
            assert_eq!(outbox.quarantine_depth(), 1);
            assert!(outbox.bytes().0 < bytes);
            assert_eq!(held(&outbox), (vec![event, damaged], vec![]));
            (event, shot, damaged)
        };
        {
            // A damaged record in quarantine has no way back.
            let _lock = StateLock::acquire(dir.path()).unwrap();
            let db = Database::create(&p.path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(RECORDS)
                .unwrap()
                .insert(damaged, &b"\xff not a record"[..])
                .unwrap();
            txn.commit().unwrap();
        }
        let outbox = Outbox::open(&p).unwrap();
        assert_eq!(held(&outbox), (vec![event], vec![shot]), "the snapshot is queued again");
        let back = outbox.read_after(event, 1).unwrap();
        assert_eq!(back[0].1.jpeg.as_deref(), Some(picture.as_bytes()), "with its JPEG");
        assert_eq!(outbox.quarantined().unwrap(), vec![damaged]);
        assert_eq!(outbox.quarantine_depth(), 1);
        let counted = outbox.bytes().0;
        drop(outbox);
        let outbox = Outbox::open(&p).unwrap();
        assert_eq!(
            outbox.quarantined().unwrap(),
            vec![damaged],
            "what does not decode stays"
        );
        assert_eq!(held(&outbox), (vec![event], vec![shot]));
        assert_eq!(
            outbox.bytes().0,
            counted,
            "the bytes that came back were counted as a fresh count finds them"
        );
    }

    #[test]
    fn a_file_that_is_mostly_free_space_is_compacted() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&plan(dir.path(), 100_000)).unwrap();
        let picture = jpeg(600);
        let seqs: Vec<u64> = (0..24).filter_map(|_| snapshot(&outbox, &picture)).collect();
        let keep = push(&outbox);
        outbox.remove(&seqs).unwrap();
        let before = std::fs::metadata(&outbox.path).unwrap().len();
        assert!(outbox.compact_if_sparse().unwrap());
        let after = std::fs::metadata(&outbox.path).unwrap().len();
        eprintln!("compaction: {before} -> {after} bytes, {} held", outbox.bytes().0);
        assert!(after * 2 < before, "{before} -> {after}");
        assert_eq!(held(&outbox).0, vec![keep]);
        assert!(!outbox.compact_if_sparse().unwrap(), "nothing left to compact");
    }
}
