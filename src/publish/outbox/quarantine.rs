//! The quarantine table: records that cannot be decoded (a damaged disk) and
//! snapshots the broker refused `outbox.max_attempts` times
//! ([`super::super::delivery`] decides; an incident event is never
//! quarantined) are moved there, logged once each and counted, so that
//! delivery goes on with the rest. A refused snapshot keeps its JPEG
//! beside it, and at every start ([`Outbox::open`]) whatever in quarantine
//! still decodes goes back to the queue under its own sequence number (the
//! age bound applies to it as to any record): a broker whose limit was
//! raised, or a link that was mistaken for a refusal, then delivers it.
//! Only records that no longer decode stay. The number held is a gauge
//! (`watchpost_outbox_quarantine_records`).

use std::sync::atomic::Ordering;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::record::{IMAGES, QUARANTINE, QUARANTINE_IMAGES, RECORDS, Record};
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
        let size = self.in_write(|txn| {
            let mut records = txn.open_table(RECORDS)?;
            let raw = records.remove(seq)?.map(|v| v.value().to_vec());
            let image = txn.open_table(IMAGES)?.remove(seq)?.map(|v| v.value().to_vec());
            if let Some(raw) = &raw {
                txn.open_table(QUARANTINE)?.insert(seq, raw.as_slice())?;
                // A refused snapshot comes back at the next start, JPEG and all.
                if let (Some(image), Some(_)) = (&image, refused) {
                    txn.open_table(QUARANTINE_IMAGES)?.insert(seq, image.as_slice())?;
                }
            }
            Ok(raw.map(|r| r.len() + image.map_or(0, |i| i.len())))
        })?;
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
                tracing::error!(outbox = %self.path.display(), seq, bytes = size, attempts = self.plan.keys.max_attempts,
                    broker = %answer, "the broker refused a snapshot every time it was sent; it was moved to quarantine, delivery goes on, and it is queued again at the next start")
            }
        }
        Ok(())
    }

    /// At open: puts every quarantined record that decodes (and, for a
    /// snapshot, still has its JPEG) back in the queue, counted in the
    /// bytes held; returns how many came back. The bounds apply at the next write.
    pub(super) fn restore_quarantined(&self) -> Result<u64, redb::Error> {
        let (back, bytes) = self.in_write(|txn| {
            let mut quarantine = txn.open_table(QUARANTINE)?;
            let mut quarantine_images = txn.open_table(QUARANTINE_IMAGES)?;
            let mut records = txn.open_table(RECORDS)?;
            let mut images = txn.open_table(IMAGES)?;
            let mut candidates = Vec::new();
            for entry in quarantine.iter()? {
                let (k, v) = entry?;
                if let Ok(record) = serde_json::from_slice::<Record>(v.value()) {
                    candidates.push((k.value(), v.value().to_vec(), record.image));
                }
            }
            let (mut back, mut bytes) = (0u64, 0u64);
            for (seq, raw, is_image) in candidates {
                let image = if is_image {
                    match quarantine_images.remove(seq)? {
                        Some(jpeg) => Some(jpeg.value().to_vec()),
                        None => continue,
                    }
                } else {
                    None
                };
                quarantine.remove(seq)?;
                records.insert(seq, raw.as_slice())?;
                bytes += raw.len() as u64;
                if let Some(image) = image {
                    bytes += image.len() as u64;
                    images.insert(seq, image.as_slice())?;
                }
                back += 1;
            }
            Ok((back, bytes))
        })?;
        if back > 0 {
            self.bytes.fetch_add(bytes, Ordering::SeqCst);
            tracing::info!(outbox = %self.path.display(), records = back, bytes,
                "quarantined records are queued again at start: the broker gets another chance at them");
        }
        Ok(back)
    }

    /// Records held in quarantine now (0 when it cannot be read).
    pub fn quarantine_depth(&self) -> u64 {
        let read = || -> Result<u64, redb::Error> {
            let db = self.db();
            let txn = db.begin_read()?;
            Ok(txn.open_table(QUARANTINE)?.len()?)
        };
        read().unwrap_or(0)
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
