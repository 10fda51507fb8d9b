//! `[outbox]`: the outbox's bounds (count, age, bytes) and how often a record
//! may fail delivery before it is quarantined. Checked into an
//! [`OutboxPlan`]; the byte bound's default is worked out from the state
//! directory's free space when the outbox opens, not at check time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::Ctx;
use crate::config::Spanned;

/// The smallest byte bound: a few snapshots at their 1 MiB cap.
pub const MIN_BYTES: u64 = 4 << 20;
/// The default byte bound is a quarter of the free space, at most this.
pub const DEFAULT_MAX_BYTES_CAP: u64 = 4 << 30;

/// `[outbox]`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Most events kept undelivered, e.g. 100000; beyond it the oldest are dropped.
    #[serde(default = "default_max_events")]
    pub max_events: Spanned<u64>,
    /// Undelivered events older than this are dropped, e.g. 168 (a week).
    #[serde(default = "default_max_age_hours")]
    pub max_age_hours: Spanned<u64>,
    /// Most bytes of undelivered events and snapshots, e.g. 536870912 (512 MiB);
    /// at least 4194304. Snapshots are dropped before incident events. Default:
    /// a quarter of the state directory's free space at start, at most 4 GiB.
    #[serde(default)]
    pub max_bytes: Option<Spanned<u64>>,
    /// Failed deliveries of one record (the broker dropped the link while it
    /// was in flight) before it is quarantined and delivery goes on, e.g. 5.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: Spanned<u32>,
}

fn default_max_events() -> Spanned<u64> {
    Spanned::new(0..0, 100_000)
}

fn default_max_age_hours() -> Spanned<u64> {
    Spanned::new(0..0, 168)
}

fn default_max_attempts() -> Spanned<u32> {
    Spanned::new(0..0, 5)
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_events: default_max_events(),
            max_age_hours: default_max_age_hours(),
            max_bytes: None,
            max_attempts: default_max_attempts(),
        }
    }
}

/// Checked outbox settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxPlan {
    pub path: PathBuf,
    pub max_events: u64,
    pub max_age: Duration,
    /// None: worked out from the free space when the outbox opens.
    pub max_bytes: Option<u64>,
    pub max_attempts: u32,
    /// Incident events held in memory while the outbox cannot write.
    pub max_held: usize,
}

/// Incident events held in memory while the outbox cannot write (disk full).
pub const MAX_HELD: usize = 10_000;

impl OutboxPlan {
    /// The defaults, for `<state_dir>/outbox.redb`.
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("outbox.redb"),
            max_events: *default_max_events().get_ref(),
            max_age: Duration::from_secs(default_max_age_hours().get_ref() * 3600),
            max_bytes: None,
            max_attempts: *default_max_attempts().get_ref(),
            max_held: MAX_HELD,
        }
    }

    /// The byte bound: the configured one, or a quarter of the free space of
    /// the filesystem holding `dir` (at least [`MIN_BYTES`], at most 4 GiB).
    pub fn byte_bound(&self, dir: &Path) -> u64 {
        self.max_bytes.unwrap_or_else(|| {
            let free = rustix::fs::statvfs(dir)
                .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                .unwrap_or(DEFAULT_MAX_BYTES_CAP);
            (free / 4).clamp(MIN_BYTES, DEFAULT_MAX_BYTES_CAP)
        })
    }
}

pub fn check(config: &OutboxConfig, state_dir: &Path, ctx: &mut Ctx<'_>) -> Option<OutboxPlan> {
    let max_events = ctx.in_range(&config.max_events, 100..=100_000_000, "outbox.max_events");
    let hours = ctx.in_range(&config.max_age_hours, 1..=24 * 365, "outbox.max_age_hours");
    let max_bytes = match &config.max_bytes {
        Some(bytes) => ctx.in_range(bytes, MIN_BYTES..=1 << 40, "outbox.max_bytes").map(Some),
        None => Some(None),
    };
    let max_attempts = ctx.in_range(&config.max_attempts, 1..=1000, "outbox.max_attempts");
    Some(OutboxPlan {
        path: state_dir.join("outbox.redb"),
        max_events: max_events?,
        max_age: Duration::from_secs(hours? * 3600),
        max_bytes: max_bytes?,
        max_attempts: max_attempts?,
        max_held: MAX_HELD,
    })
}
