//! `[outbox]`: the outbox's bounds (count, age, bytes) and how often a record
//! may fail delivery before it is quarantined. Checked into an
//! [`OutboxPlan`]; the byte bound's default is worked out from the state
//! directory's free space when the outbox opens, not at check time.

use std::path::{Path, PathBuf};

use crate::config::{Checked, Ctx, Hours, Spanned};

/// The smallest byte bound: a few snapshots at their 1 MiB cap.
pub const MIN_BYTES: u64 = 4 << 20;
/// The default byte bound is a quarter of the free space, at most this.
pub const DEFAULT_MAX_BYTES_CAP: u64 = 4 << 30;

crate::config::table! {
    /// `[outbox]`.
    pub struct OutboxConfig in "outbox." => #[derive(Copy, Eq)] OutboxKeys {
        /// Most events kept undelivered, e.g. 100000; beyond it the oldest are dropped.
        pub max_events: Spanned<u64> = 100_000, range 100..=100_000_000;
        /// Undelivered events older than this are dropped, e.g. 168 (a week).
        pub max_age_hours: Spanned<Hours> = 168, range 1..=24 * 365;
        /// Most bytes of undelivered events and snapshots, e.g. 536870912 (512 MiB);
        /// at least 4194304. Snapshots are dropped before incident events. Default:
        /// a quarter of the state directory's free space at start, at most 4 GiB.
        pub max_bytes: Option<Spanned<u64>>, range MIN_BYTES..=1 << 40;
        /// Failed deliveries of one record (the broker dropped the link while it
        /// was in flight) before it is quarantined and delivery goes on, e.g. 5.
        pub max_attempts: Spanned<u32> = 5, range 1..=1000;
    }
}

/// Checked outbox settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPlan {
    pub path: PathBuf,
    /// Incident events held in memory while the outbox cannot write.
    pub max_held: usize,
    /// The `[outbox]` keys, checked (`max_bytes` None: worked out from the
    /// free space when the outbox opens).
    pub keys: OutboxKeys,
}

/// Incident events held in memory while the outbox cannot write (disk full).
pub const MAX_HELD: usize = 10_000;

impl OutboxPlan {
    /// The defaults, for `<state_dir>/outbox.redb`.
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("outbox.redb"),
            max_held: MAX_HELD,
            keys: OutboxKeys::default(),
        }
    }

    /// The byte bound: the configured one, or a quarter of the free space of
    /// the filesystem holding `dir` (at least [`MIN_BYTES`], at most 4 GiB).
    pub fn byte_bound(&self, dir: &Path) -> u64 {
        self.keys.max_bytes.unwrap_or_else(|| {
            let free = rustix::fs::statvfs(dir)
                .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                .unwrap_or(DEFAULT_MAX_BYTES_CAP);
            (free / 4).clamp(MIN_BYTES, DEFAULT_MAX_BYTES_CAP)
        })
    }
}

pub fn check(config: &OutboxConfig, state_dir: &Path, ctx: &mut Ctx<'_>) -> Option<OutboxPlan> {
    Some(OutboxPlan {
        path: state_dir.join("outbox.redb"),
        max_held: MAX_HELD,
        keys: config.checked(ctx)?,
    })
}
