//! The ledger of open incidents: every incident whose start is in the
//! outbox and whose end is not, kept in the same redb file, so a restart
//! (a crash, an upgrade, a power cut) takes the incident up again instead
//! of raising it a second time. Beside it, a heartbeat, so the next start
//! knows how long the box was down ([`Downtime`]). An incident open across
//! a longer stop than [`RESUME_WITHIN`] is ended at start: what is in sight
//! then is a new incident.
//!
//! The downtime is never read off the wall clock. A box without a
//! battery-backed clock starts with the time it saved at shutdown (or 1970)
//! until NTP answers, so "now minus the last heartbeat" can say a few
//! seconds after days off. The heartbeat keeps the kernel's boot id and the
//! boot clock (CLOCK_BOOTTIME: monotonic, counting suspend, never set):
//! within one boot the downtime is measured on it exactly; across a reboot
//! it cannot be known, and the incidents are ended rather than resumed (at
//! worst a short reboot ends an incident that a new start then reopens).

use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::record::{META, boot_id, boot_ms, now_ms};
use super::store::Outbox;
use crate::rules::{OpenIncident, Severity};

/// Open incidents, keyed by their id.
const OPEN: TableDefinition<&str, &[u8]> = TableDefinition::new("open_incidents");
/// The wall time (ms) this run was last known to be up (for people reading the file).
const ALIVE: &str = "alive_ms";
/// The boot clock (ms) when this run was last known to be up, and its boot.
const ALIVE_BOOT_MS: &str = "alive_boot_ms";
const ALIVE_BOOT_ID: &str = "alive_boot_id";
/// The previous run's last heartbeat, copied at open.
const STOPPED: &str = "stopped_ms";
const STOPPED_BOOT_MS: &str = "stopped_boot_ms";
const STOPPED_BOOT_ID: &str = "stopped_boot_id";

/// How long the box was down before this run, as far as it can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downtime {
    /// A first start: nothing was open.
    FirstStart,
    /// A restart within one boot, measured on the boot clock.
    Measured(Duration),
    /// The machine was rebooted (or the last run left no boot clock
    /// reading): how long it was off is unknown.
    Rebooted,
}

/// Incidents open across a stop longer than this are ended at start.
pub const RESUME_WITHIN: Duration = Duration::from_secs(10 * 60);

/// One ledger entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    camera: String,
    rule: String,
    zone: String,
    severity: Severity,
    started_ms: u64,
}

impl Entry {
    fn incident(&self, id: &str) -> Option<OpenIncident> {
        Some(OpenIncident {
            incident_id: Uuid::parse_str(id).ok()?,
            rule: self.rule.as_str().into(),
            zone: self.zone.as_str().into(),
            severity: self.severity,
        })
    }
}

impl Outbox {
    /// At open: keeps the previous run's last heartbeat, then beats.
    pub(super) fn note_start(&self) -> Result<(), redb::Error> {
        self.in_write(|txn| {
            txn.open_table(OPEN)?;
            let mut meta = txn.open_table(META)?;
            for (alive, stopped) in [
                (ALIVE, STOPPED),
                (ALIVE_BOOT_MS, STOPPED_BOOT_MS),
                (ALIVE_BOOT_ID, STOPPED_BOOT_ID),
            ] {
                let value = meta.get(alive)?.map(|v| v.value());
                match value {
                    Some(value) => meta.insert(stopped, value)?,
                    None => meta.remove(stopped)?,
                };
            }
            beat_into(&mut meta)
        })
    }

    /// Records that the box is up now (the periodic chores and a stop call it).
    pub fn beat(&self) {
        if !self.writable() {
            return;
        }
        if let Err(e) = self.in_write(|txn| beat_into(&mut txn.open_table(META)?)) {
            tracing::debug!(outbox = %self.path.display(), error = %e, "cannot record the heartbeat");
        }
    }

    /// How long the box was down before this run: from the previous run's
    /// last heartbeat to this open, on the boot clock (module doc).
    pub fn down_for(&self) -> Downtime {
        let read = || -> Result<[Option<u64>; 3], redb::Error> {
            let db = self.db();
            let txn = db.begin_read()?;
            let meta = txn.open_table(META)?;
            let get = |key: &str| -> Result<Option<u64>, redb::Error> { Ok(meta.get(key)?.map(|v| v.value())) };
            Ok([get(STOPPED)?, get(STOPPED_BOOT_MS)?, get(STOPPED_BOOT_ID)?])
        };
        match read() {
            Ok([None, _, _]) => Downtime::FirstStart,
            Ok([Some(_), Some(stopped), Some(boot)]) if boot != 0 && boot == self.opened_boot.1 => {
                Downtime::Measured(Duration::from_millis(self.opened_boot.0.saturating_sub(stopped)))
            }
            _ => Downtime::Rebooted,
        }
    }

    /// Notes incident `incident` of `camera` as open (its start is stored).
    pub fn mark_open(&self, camera: &str, incident: &OpenIncident) {
        let entry = Entry {
            camera: camera.to_string(),
            rule: incident.rule.to_string(),
            zone: incident.zone.to_string(),
            severity: incident.severity,
            started_ms: now_ms(),
        };
        let id = incident.incident_id.to_string();
        self.ledger_write(&id, |table| {
            let bytes = serde_json::to_vec(&entry).unwrap_or_default();
            table.insert(id.as_str(), bytes.as_slice())?;
            Ok(())
        });
    }

    /// Notes incident `id` as ended (its end is stored).
    pub fn mark_closed(&self, id: Uuid) {
        let id = id.to_string();
        self.ledger_write(&id, |table| {
            table.remove(id.as_str())?;
            Ok(())
        });
    }

    fn ledger_write(&self, id: &str, f: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<(), redb::Error>) {
        if !self.writable() {
            return;
        }
        if let Err(e) = self.in_write(|txn| f(&mut txn.open_table(OPEN)?)) {
            tracing::warn!(outbox = %self.path.display(), incident = %id, error = %e,
                "cannot note an incident as open or ended; a restart may raise it again");
        }
    }

    /// The incidents open when the box last stopped, by camera.
    pub fn open_incidents(&self) -> Vec<(String, OpenIncident)> {
        let read = || -> Result<Vec<(String, OpenIncident)>, redb::Error> {
            let db = self.db();
            let txn = db.begin_read()?;
            let table = match txn.open_table(OPEN) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(e.into()),
            };
            let mut out = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                let parsed = serde_json::from_slice::<Entry>(v.value()).ok();
                if let Some(incident) = parsed.as_ref().and_then(|e| e.incident(k.value())) {
                    out.push((parsed.map(|e| e.camera).unwrap_or_default(), incident));
                }
            }
            Ok(out)
        };
        read().unwrap_or_else(|e| {
            tracing::warn!(outbox = %self.path.display(), error = %e, "cannot read the open incidents; a restart may raise them again");
            Vec::new()
        })
    }
}

/// One heartbeat into the meta table: the wall time, the boot clock and the boot.
fn beat_into(meta: &mut redb::Table<&str, u64>) -> Result<(), redb::Error> {
    meta.insert(ALIVE, now_ms())?;
    meta.insert(ALIVE_BOOT_MS, boot_ms())?;
    meta.insert(ALIVE_BOOT_ID, boot_id())?;
    Ok(())
}

/// When an incident open across a stop is ended rather than taken up:
/// after a longer stop than [`RESUME_WITHIN`], or a reboot.
pub fn too_long_down(down: Downtime) -> bool {
    match down {
        Downtime::FirstStart => false,
        Downtime::Measured(d) => d > RESUME_WITHIN,
        Downtime::Rebooted => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::outbox::OutboxPlan;

    fn incident(rule: &str) -> OpenIncident {
        OpenIncident {
            incident_id: Uuid::now_v7(),
            rule: rule.into(),
            zone: "lane".into(),
            severity: Severity::High,
        }
    }

    #[test]
    fn open_incidents_outlive_a_restart_and_an_end_clears_them() {
        let dir = tempfile::tempdir().unwrap();
        let plan = OutboxPlan::in_dir(dir.path());
        let (parked, bicycle) = (incident("parked"), incident("bicycle"));
        {
            let outbox = Outbox::open(&plan).unwrap();
            assert_eq!(outbox.down_for(), Downtime::FirstStart, "a first start");
            assert!(outbox.open_incidents().is_empty());
            outbox.mark_open("gate", &parked);
            outbox.mark_open("lobby", &bicycle);
            outbox.mark_closed(bicycle.incident_id);
        }
        let outbox = Outbox::open(&plan).unwrap();
        assert_eq!(outbox.open_incidents(), vec![("gate".to_string(), parked.clone())]);
        let down = outbox.down_for();
        assert!(matches!(down, Downtime::Measured(_)), "{down:?}");
        assert!(!too_long_down(down));
        outbox.mark_closed(parked.incident_id);
        drop(outbox);
        assert!(Outbox::open(&plan).unwrap().open_incidents().is_empty());
    }

    #[test]
    fn a_long_stop_ends_what_was_open() {
        assert!(too_long_down(Downtime::Measured(
            RESUME_WITHIN + Duration::from_secs(1)
        )));
        assert!(!too_long_down(Downtime::Measured(RESUME_WITHIN)));
        assert!(!too_long_down(Downtime::FirstStart));
        assert!(too_long_down(Downtime::Rebooted));
    }

    /// Rewrites the previous run's heartbeat as another situation would have left it.
    fn set_stopped(plan: &OutboxPlan, wall_ms: u64, boot: Option<(u64, u64)>) {
        let _lock = super::super::lock::StateLock::acquire(plan.path.parent().unwrap()).unwrap();
        let db = redb::Database::create(&plan.path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn.open_table(META).unwrap();
            meta.insert(ALIVE, wall_ms).unwrap();
            match boot {
                Some((ms, id)) => {
                    meta.insert(ALIVE_BOOT_MS, ms).unwrap();
                    meta.insert(ALIVE_BOOT_ID, id).unwrap();
                }
                None => {
                    meta.remove(ALIVE_BOOT_MS).unwrap();
                    meta.remove(ALIVE_BOOT_ID).unwrap();
                }
            }
        }
        txn.commit().unwrap();
    }

    #[test]
    fn the_downtime_never_comes_from_the_wall_clock() {
        let dir = tempfile::tempdir().unwrap();
        let plan = OutboxPlan::in_dir(dir.path());
        drop(Outbox::open(&plan).unwrap());
        let (now_boot, id) = super::super::record::boot_now();
        assert_ne!(id, 0, "this machine has a boot id");
        // The wall clock says the last beat was just now, as on a box without
        // an RTC that restored its shutdown time: after a reboot that means nothing.
        set_stopped(&plan, now_ms(), Some((now_boot.saturating_sub(1000), id ^ 1)));
        assert_eq!(Outbox::open(&plan).unwrap().down_for(), Downtime::Rebooted);
        // A heartbeat written before this version kept the boot clock: no guess either.
        set_stopped(&plan, now_ms(), None);
        assert_eq!(Outbox::open(&plan).unwrap().down_for(), Downtime::Rebooted);
        // The same boot, 20 minutes ago on the boot clock, whatever the wall
        // clock says (here: the beat seems to be in the future).
        set_stopped(
            &plan,
            now_ms() + 86_400_000,
            Some((now_boot.saturating_sub(20 * 60 * 1000), id)),
        );
        let down = Outbox::open(&plan).unwrap().down_for();
        let Downtime::Measured(d) = down else {
            panic!("{down:?}");
        };
        assert!(d >= Duration::from_secs(20 * 60) && too_long_down(down), "{d:?}");
    }
}
