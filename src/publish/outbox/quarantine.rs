//! The quarantine table: records that cannot be decoded (a damaged disk) or
//! that the broker refused `outbox.max_attempts` times are moved there,
//! logged once each and counted, so that delivery goes on with the rest.

use std::sync::atomic::Ordering;

use redb::{ReadableDatabase, ReadableTable};

use super::record::{IMAGES, QUARANTINE, RECORDS, Record};
use super::store::Outbox;

impl Outbox {
    /// Moves every record that does not decode into the quarantine table.
    pub(super) fn quarantine_unreadable(&self) -> Result<(), redb::Error> {
        let bad: Vec<u64> = {
            let db = self.db();
            let txn = db.begin_read()?;
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
            self.quarantine(seq, None)?;
        }
        Ok(())
    }

    /// Moves a record to the quarantine table (its snapshot is dropped);
    /// `refused` holds the broker's answer for a record it kept refusing.
    pub(super) fn quarantine(&self, seq: u64, refused: Option<&str>) -> Result<(), redb::Error> {
        let db = self.db();
        let txn = db.begin_write()?;
        let size = {
            let mut records = txn.open_table(RECORDS)?;
            let raw = records.remove(seq)?.map(|v| v.value().to_vec());
            let image = txn.open_table(IMAGES)?.remove(seq)?.map_or(0, |v| v.value().len());
            if let Some(raw) = &raw {
                txn.open_table(QUARANTINE)?.insert(seq, raw.as_slice())?;
            }
            raw.map(|r| r.len() + image)
        };
        txn.commit()?;
        let Some(size) = size else {
            return Ok(());
        };
        self.bytes.fetch_sub(size as u64, Ordering::SeqCst);
        self.stats.quarantined.fetch_add(1, Ordering::Relaxed);
        match refused {
            None => {
                tracing::error!(outbox = %self.path.display(), seq, "an outbox record is damaged and cannot be sent; it was moved to quarantine")
            }
            Some(answer) => {
                self.stats.poisoned.fetch_add(1, Ordering::Relaxed);
                tracing::error!(outbox = %self.path.display(), seq, bytes = size, attempts = self.plan.max_attempts,
                    broker = %answer, "the broker refused an event every time it was sent; it was moved to quarantine and delivery goes on")
            }
        }
        Ok(())
    }

    /// Moves a record the broker kept refusing to quarantine, with its answer.
    pub fn quarantine_refused(&self, seq: u64, answer: &str) -> Result<(), redb::Error> {
        self.quarantine(seq, Some(answer))
    }

    /// Records held in quarantine.
    pub fn quarantined(&self) -> Result<Vec<u64>, redb::Error> {
        let db = self.db();
        let txn = db.begin_read()?;
        let table = txn.open_table(QUARANTINE)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            out.push(entry?.0.value());
        }
        Ok(out)
    }
}
