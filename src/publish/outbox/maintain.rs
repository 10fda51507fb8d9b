//! The periodic chores of the outbox: the age bound on the monotonic clock
//! (a clock step neither drops fresh events nor stops expiry), compaction of
//! a file that is mostly free space, reopening after an I/O error and
//! writing what the memory hold kept meanwhile, the heartbeat of the open
//! incidents' ledger, and the drop log's pending line.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::journal;
use super::record::{RECORDS, Record};
use super::store::Outbox;

/// A file smaller than this is never compacted.
const COMPACT_MIN_FILE: u64 = 8 << 20;

impl Outbox {
    /// A record's age on the monotonic clock: since it was written, for this
    /// process's records; its wall age when the outbox opened (never
    /// negative) plus the time since, for older ones.
    fn age(&self, raised: &HashMap<u64, Instant>, seq: u64, raised_ms: u64) -> Duration {
        match raised.get(&seq) {
            Some(at) => at.elapsed(),
            None => Duration::from_millis(self.opened.0.saturating_sub(raised_ms)) + self.opened.1.elapsed(),
        }
    }

    /// Drops records older than the age bound. Every record is looked at: a
    /// clock step may have left them out of time order.
    pub fn expire(&self) -> Result<(), redb::Error> {
        let old: Vec<u64> = {
            let db = self.db();
            let txn = db.begin_read()?;
            let table = txn.open_table(RECORDS)?;
            let raised = self.raised_at.lock().unwrap_or_else(|p| p.into_inner());
            let mut old = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                if let Ok(r) = serde_json::from_slice::<Record>(v.value())
                    && self.age(&raised, k.value(), r.raised_ms) > self.plan.keys.max_age_hours
                {
                    old.push(k.value());
                }
            }
            old
        };
        self.remove_seqs(&old)?;
        journal::dropped(&old, "older than outbox.max_age_hours");
        self.note_drops(old.len() as u64, "older than outbox.max_age_hours");
        Ok(())
    }

    /// The periodic chores: the age bound, compaction of a file that is
    /// mostly free space, and the drop log's pending line.
    pub fn maintain(&self) -> Result<(), redb::Error> {
        if self.broken.load(Ordering::SeqCst) && !self.try_reopen() {
            let mut log = self.drops.lock().unwrap_or_else(|p| p.into_inner());
            self.flush_drop_log(&mut log);
            return Ok(());
        }
        self.drain_hold();
        self.beat();
        self.expire()?;
        self.compact_if_sparse()?;
        let mut log = self.drops.lock().unwrap_or_else(|p| p.into_inner());
        self.flush_drop_log(&mut log);
        Ok(())
    }

    /// Compacts the file when it is more than twice what it holds (and at
    /// least 8 MiB). Returns whether it compacted.
    pub fn compact_if_sparse(&self) -> Result<bool, redb::Error> {
        let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let before = size(&self.path);
        let held = self.bytes.load(Ordering::SeqCst);
        if before < COMPACT_MIN_FILE || before < 2 * held + COMPACT_MIN_FILE / 2 {
            return Ok(false);
        }
        let compacted = {
            let mut db = self.db.write().unwrap_or_else(|p| p.into_inner());
            db.compact().map_err(redb::Error::from)?
        };
        let after = size(&self.path);
        tracing::info!(outbox = %self.path.display(), before, after, held, "outbox file compacted");
        Ok(compacted)
    }

    /// Undelivered records and the age of the oldest, in seconds.
    pub fn depth(&self) -> Result<(u64, Option<u64>), redb::Error> {
        let db = self.db();
        let txn = db.begin_read()?;
        let table = txn.open_table(RECORDS)?;
        let oldest = match table.first()? {
            Some((k, v)) => serde_json::from_slice::<Record>(v.value()).ok().map(|r| {
                let raised = self.raised_at.lock().unwrap_or_else(|p| p.into_inner());
                self.age(&raised, k.value(), r.raised_ms).as_secs()
            }),
            None => None,
        };
        Ok((table.len()?, oldest))
    }
}
