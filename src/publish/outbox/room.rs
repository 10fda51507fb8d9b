//! Making room in one write transaction: the byte bound drops the oldest
//! snapshots first and lets an incident event push out only older events; a
//! snapshot that does not fit is refused. Then the count bound.

use redb::{ReadableTable, ReadableTableMetadata};

use super::record::{IMAGES, RECORDS};

/// The tables inside one write transaction, and the bytes they hold: makes
/// room for a new record under the byte and count bounds.
pub(super) struct Room<'t> {
    pub(super) records: redb::Table<'t, u64, &'static [u8]>,
    pub(super) images: redb::Table<'t, u64, &'static [u8]>,
    pub(super) held: u64,
    pub(super) limit: u64,
    pub(super) dropped: Vec<u64>,
    /// Of `dropped`, snapshots.
    pub(super) snapshots: u64,
}

impl<'t> Room<'t> {
    /// The tables of `txn`, holding `held` bytes under the bound `limit`.
    pub(super) fn open(txn: &'t redb::WriteTransaction, held: u64, limit: u64) -> Result<Self, redb::Error> {
        Ok(Self {
            records: txn.open_table(RECORDS)?,
            images: txn.open_table(IMAGES)?,
            held,
            limit,
            dropped: Vec::new(),
            snapshots: 0,
        })
    }

    /// Frees room for `size` bytes: the oldest snapshots first, then — only
    /// for an incident event — the oldest events. False: a snapshot that
    /// does not fit even without the older snapshots (nothing was dropped).
    pub(super) fn make_room(&mut self, size: u64, is_event: bool) -> Result<bool, redb::Error> {
        if self.held + size <= self.limit {
            return Ok(true);
        }
        let mut snapshots = Vec::new();
        let mut freeable = 0;
        for entry in self.images.iter()? {
            let (k, v) = entry?;
            let record = self.records.get(k.value())?.map_or(0, |r| r.value().len());
            snapshots.push(k.value());
            freeable += (v.value().len() + record) as u64;
            if self.held + size <= self.limit + freeable {
                break;
            }
        }
        if !is_event && self.held + size > self.limit + freeable {
            return Ok(false);
        }
        for seq in snapshots {
            self.drop_one(seq)?;
            self.snapshots += 1;
        }
        while is_event && self.held + size > self.limit {
            let Some(seq) = self.records.first()?.map(|(k, _)| k.value()) else {
                break;
            };
            self.drop_one(seq)?;
        }
        Ok(true)
    }

    /// The count bound: the oldest go first.
    pub(super) fn keep_count(&mut self, max_events: u64) -> Result<(), redb::Error> {
        while self.records.len()? > max_events {
            let Some(seq) = self.records.first()?.map(|(k, _)| k.value()) else {
                break;
            };
            self.drop_one(seq)?;
        }
        Ok(())
    }

    fn drop_one(&mut self, seq: u64) -> Result<(), redb::Error> {
        let record = self.records.remove(seq)?.map_or(0, |v| v.value().len());
        let image = self.images.remove(seq)?.map_or(0, |v| v.value().len());
        self.held = self.held.saturating_sub((record + image) as u64);
        self.dropped.push(seq);
        Ok(())
    }
}
