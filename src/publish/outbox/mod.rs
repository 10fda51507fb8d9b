//! The durable outbox, in four parts: its `[outbox]` settings ([`config`]),
//! the state directory's one-owner lock ([`lock`]), and the redb store with
//! its bounds, quarantine and compaction ([`store`]). Nothing outside this
//! folder writes to the state directory.

pub mod config;
pub mod lock;
pub mod store;

pub use config::{OutboxConfig, OutboxPlan, check};
pub use lock::{LOCK_FILE, LockError, StateLock};
pub use store::{Outbox, OutboxError, OutboxStats, Record};
