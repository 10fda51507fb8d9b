//! The write path's memory hold: while the outbox cannot write (disk full,
//! an I/O error), incident events wait here, in order, up to
//! `OutboxPlan::max_held` (the [`Writer`] in [`super::record`]), and are written into the store before anything
//! newer once it can write again. Snapshots are never held (they are the big
//! ones): they are dropped and counted. Only an event that finds the hold
//! full is dropped. The store's one-record transaction lives here too, with
//! what a failed write means (an I/O error marks the outbox broken).
//!
//! Sequence numbers have one source of truth: [`Writer::next_seq`], taken
//! under the writer lock by every write, held or stored, so they stay
//! increasing and unique across the hold and the store; the store keeps a
//! copy (`next_seq` in the meta table) for the next start. Events still held
//! when the process dies are lost (they were never durable), and their
//! numbers may be given again after the restart: none of them was published.

use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use super::journal;
use super::record::{Held, META, NEXT_SEQ, OutboxError, Writer};
use super::room::Room;
use super::store::{Outbox, UNWRITABLE};

/// Held events written per transaction when the hold drains.
const DRAIN_BATCH: usize = 500;

impl Outbox {
    pub(super) fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Incident events held in memory, waiting for the store.
    pub fn held(&self) -> u64 {
        self.held_len.load(Ordering::SeqCst)
    }

    /// Why nothing new can be kept: the outbox cannot write and the hold is
    /// full. None while events are stored or held.
    pub fn cannot_keep(&self) -> Option<String> {
        (!self.writable() && self.held() >= self.plan.max_held as u64).then(|| {
            format!(
                "the outbox cannot write (disk full or an I/O error) and its memory hold is full ({} events): new incidents are dropped",
                self.plan.max_held
            )
        })
    }

    /// Holds an encoded incident event; an error (counted as dropped) when the hold is full.
    pub(super) fn hold(&self, w: &mut Writer, held: Held) -> Result<u64, OutboxError> {
        if w.held.len() >= self.plan.max_held {
            return Err(self.hold_full());
        }
        let seq = held.seq;
        journal::kept(seq, &held.camera, &held.incident, true);
        w.held.push_back(held);
        self.held_len.store(w.held.len() as u64, Ordering::SeqCst);
        Ok(seq)
    }

    /// Drops an incident event that finds the hold full: counted, logged at most once a minute.
    pub(super) fn hold_full(&self) -> OutboxError {
        self.note_drops(1, "the outbox cannot write and its memory hold is full");
        OutboxError::Unwritable {
            path: self.path.clone(),
        }
    }

    /// Refuses a snapshot the broken outbox cannot store: counted as dropped.
    pub(super) fn refuse_snapshot(&self) -> OutboxError {
        self.stats.dropped_snapshots.fetch_add(1, Ordering::Relaxed);
        self.note_drops(1, UNWRITABLE);
        OutboxError::Unwritable {
            path: self.path.clone(),
        }
    }

    /// Reopens a broken outbox when due and writes what is held; for the
    /// periodic chores, so the hold drains even when no new event comes.
    pub fn drain_hold(&self) {
        let mut w = self.writer();
        if w.held.is_empty() || (!self.writable() && !self.try_reopen()) {
            return;
        }
        if let Err(e) = self.drain_locked(&mut w) {
            self.write_failed(&e);
        }
    }

    /// Writes the held events into the store, oldest first, in batches; on
    /// an error the rest stay held.
    pub(super) fn drain_locked(&self, w: &mut Writer) -> Result<(), redb::Error> {
        while !w.held.is_empty() {
            let n = w.held.len().min(DRAIN_BATCH);
            let (held, dropped) = self.drain_txn(w, n)?;
            let last = w.held[n - 1].seq;
            self.bytes.store(held, Ordering::SeqCst);
            self.last_seq.fetch_max(last, Ordering::SeqCst);
            {
                let mut raised = self.raised_at.lock().unwrap_or_else(|p| p.into_inner());
                for h in w.held.drain(..n) {
                    journal::kept(h.seq, &h.camera, &h.incident, false);
                    raised.insert(h.seq, h.at);
                }
                for seq in &dropped {
                    raised.remove(seq);
                }
            }
            self.held_len.store(w.held.len() as u64, Ordering::SeqCst);
            journal::dropped(&dropped, "max_events or max_bytes");
            self.note_drops(dropped.len() as u64, "the outbox is full (max_events or max_bytes)");
            tracing::info!(outbox = %self.path.display(), written = n, still_held = w.held.len(),
                "held incident events written to the outbox");
            self.written.notify_one();
        }
        Ok(())
    }

    /// One transaction of [`Self::drain_locked`]: the first `n` held events
    /// under the byte and count bounds. Returns the bytes held and what the bounds dropped.
    fn drain_txn(&self, w: &Writer, n: usize) -> Result<(u64, Vec<u64>), redb::Error> {
        self.in_write(|txn| {
            let mut room = Room::open(txn, self.bytes.load(Ordering::SeqCst), self.max_bytes)?;
            for h in w.held.iter().take(n) {
                let size = h.bytes.len() as u64;
                room.make_room(size, true)?;
                room.records.insert(h.seq, h.bytes.as_slice())?;
                room.held += size;
            }
            room.keep_count(self.plan.keys.max_events)?;
            let mut meta = txn.open_table(META)?;
            meta.insert(NEXT_SEQ, w.next_seq)?;
            Ok((room.held, room.dropped))
        })
    }

    /// A write failed: the outbox is marked broken whatever the error (an
    /// I/O error leaves redb refusing every write until it is reopened, and
    /// any other is not trusted to pass on its own), so it is reopened at
    /// most once a second and events wait in the memory hold meanwhile.
    pub(super) fn write_failed(&self, e: &redb::Error) {
        if !self.broken.swap(true, Ordering::SeqCst) {
            let cause = if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
                "disk full or an I/O error"
            } else {
                "the store refused the write"
            };
            tracing::error!(outbox = %self.path.display(), error = %e, max_held = self.plan.max_held,
                "the outbox cannot write ({cause}); it is reopened at most once a second, and incident events until then are held in memory (snapshots are dropped)");
        }
    }

    /// The transaction of [`Self::write`]: the record (and its image) under
    /// the byte and count bounds, and the next sequence number's copy.
    #[allow(clippy::type_complexity)]
    pub(super) fn write_txn(
        &self,
        seq: u64,
        bytes: &[u8],
        image: Option<&[u8]>,
    ) -> Result<(bool, u64, Vec<u64>, u64), redb::Error> {
        #[cfg(test)]
        if let Some(fault) = self.fault.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Err(fault);
        }
        self.in_write(|txn| {
            let mut meta = txn.open_table(META)?;
            meta.insert(NEXT_SEQ, seq + 1)?;
            let mut room = Room::open(txn, self.bytes.load(Ordering::SeqCst), self.max_bytes)?;
            let size = (bytes.len() + image.map_or(0, <[u8]>::len)) as u64;
            let fits = room.make_room(size, image.is_none())?;
            if fits {
                room.records.insert(seq, bytes)?;
                if let Some(image) = image {
                    room.images.insert(seq, image)?;
                }
                room.held += size;
                room.keep_count(self.plan.keys.max_events)?;
            }
            Ok((fits, room.held, room.dropped, room.snapshots))
        })
    }
}
