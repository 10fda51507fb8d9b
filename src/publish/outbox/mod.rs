//! The durable outbox: its `[outbox]` settings ([`config`]), the state
//! directory's one-owner lock ([`lock`]), what it stores and counts
//! ([`record`]), the redb store and its writes ([`store`]), the memory hold
//! for incident events while it cannot write ([`hold`]), the byte and
//! count bounds ([`room`]), the quarantine ([`quarantine`]), the ledger of
//! open incidents a restart takes up ([`ledger`]), the periodic
//! chores: age, compaction, reopening ([`maintain`]) and the debug journal of
//! every event kept or dropped ([`journal`]). Nothing outside this
//! folder writes to the state directory.

pub mod config;
mod hold;
mod journal;
pub mod ledger;
pub mod lock;
mod maintain;
mod quarantine;
pub mod record;
mod room;
pub mod store;

pub use config::{OutboxConfig, OutboxKeys, OutboxPlan, check};
pub use lock::{LOCK_FILE, LockError, StateLock};
pub use record::{OutboxError, OutboxStats, Record};
pub use store::Outbox;
