//! What the outbox stores and counts: the redb tables, one [`Record`] per
//! event, the counters the stats message and metrics read, and the errors
//! callers act on, and the writer's state (the next sequence number and the
//! memory hold), and the clocks records and heartbeats are stamped with.
//! No logic beyond (de)serialising lives here.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::{Instant, SystemTime};

use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use super::lock::LockError;

pub(super) const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// Redacted JPEG snapshots, keyed by the sequence number of their record.
pub(super) const IMAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("images");
pub(super) const QUARANTINE: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine");
/// The JPEGs of quarantined snapshots, so they can come back at start.
pub(super) const QUARANTINE_IMAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("quarantine_images");
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const NEXT_SEQ: &str = "next_seq";

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox {path}: {reason}")]
    Store { path: PathBuf, reason: String },
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Disk full or an I/O error: the event was not stored; it is counted as dropped.
    #[error("outbox {path}: cannot write (disk full or an I/O error); the event was counted as dropped")]
    Unwritable { path: PathBuf },
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
    /// Published retained (the box's evidence key).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retain: bool,
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

/// Counters, read by the stats message, the metrics and the tests.
#[derive(Debug, Default)]
pub struct OutboxStats {
    /// Events (incident events and snapshots) dropped by a bound.
    pub dropped: AtomicU64,
    /// Of those, snapshots dropped by the byte bound.
    pub dropped_snapshots: AtomicU64,
    /// Records moved to quarantine since start: unreadable, or snapshots
    /// refused by the broker (those held now: `Outbox::quarantine_depth`).
    pub quarantined: AtomicU64,
    /// Of those, snapshots the broker refused `max_attempts` times.
    pub poisoned: AtomicU64,
    /// Events acknowledged by the broker and removed.
    pub delivered: AtomicU64,
}

/// One incident event the store could not take yet: its record, encoded.
#[derive(Debug)]
pub(super) struct Held {
    pub(super) seq: u64,
    pub(super) bytes: Vec<u8>,
    /// Its camera and incident, for the journal when it is stored.
    pub(super) camera: String,
    pub(super) incident: String,
    /// When it was raised (the age bound and the raise → PUBACK latency).
    pub(super) at: Instant,
}

/// What every write takes first: the next sequence number and the hold.
#[derive(Debug, Default)]
pub(super) struct Writer {
    pub(super) next_seq: u64,
    pub(super) held: VecDeque<Held>,
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The boot clock in ms: monotonic, counting suspend, never set.
pub(super) fn boot_ms() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    (t.tv_sec.max(0) as u64) * 1000 + (t.tv_nsec.max(0) as u64) / 1_000_000
}

/// This boot's id (the kernel's random boot id, folded to 64 bits); 0 when unknown.
pub(super) fn boot_id() -> u64 {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let hex: String = id.chars().filter(char::is_ascii_hexdigit).take(16).collect();
    u64::from_str_radix(&hex, 16).unwrap_or(0)
}

/// The boot clock and the boot now, for the ledger's downtime.
pub(super) fn boot_now() -> (u64, u64) {
    (boot_ms(), boot_id())
}
