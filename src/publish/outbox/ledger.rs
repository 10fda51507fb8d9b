//! The ledger of open incidents: every incident whose start is in the
//! outbox and whose end is not, kept in the same redb file, so a restart
//! (a crash, an upgrade, a power cut) takes the incident up again instead
//! of raising it a second time. Beside it, a heartbeat: the wall time the
//! box was last known to run, so the next start knows how long it was down.
//! An incident open across a longer stop than [`RESUME_WITHIN`] is ended
//! at start: what is in sight then is a new incident.

use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::record::{META, now_ms};
use super::store::Outbox;
use crate::rules::{OpenIncident, Severity};

/// Open incidents, keyed by their id.
const OPEN: TableDefinition<&str, &[u8]> = TableDefinition::new("open_incidents");
/// The wall time (ms) this run was last known to be up.
const ALIVE: &str = "alive_ms";
/// The previous run's last heartbeat, copied at open.
const STOPPED: &str = "stopped_ms";

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
        let db = self.db();
        let txn = db.begin_write()?;
        {
            txn.open_table(OPEN)?;
            let mut meta = txn.open_table(META)?;
            let alive = meta.get(ALIVE)?.map(|v| v.value());
            if let Some(alive) = alive {
                meta.insert(STOPPED, alive)?;
            }
            meta.insert(ALIVE, now_ms())?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Records that the box is up now (the periodic chores and a stop call it).
    pub fn beat(&self) {
        if !self.writable() {
            return;
        }
        let result = (|| -> Result<(), redb::Error> {
            let db = self.db();
            let txn = db.begin_write()?;
            txn.open_table(META)?.insert(ALIVE, now_ms())?;
            txn.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::debug!(outbox = %self.path.display(), error = %e, "cannot record the heartbeat");
        }
    }

    /// How long the box was down before this run: from the previous run's
    /// last heartbeat to this open. None on a first start.
    pub fn down_for(&self) -> Option<Duration> {
        let db = self.db();
        let txn = db.begin_read().ok()?;
        let stopped = txn.open_table(META).ok()?.get(STOPPED).ok()??.value();
        Some(Duration::from_millis(self.opened.0.saturating_sub(stopped)))
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
        let result = (|| -> Result<(), redb::Error> {
            let db = self.db();
            let txn = db.begin_write()?;
            f(&mut txn.open_table(OPEN)?)?;
            txn.commit()?;
            Ok(())
        })();
        if let Err(e) = result {
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

/// When an incident open across a stop is ended rather than taken up.
pub fn too_long_down(down: Option<Duration>) -> bool {
    down.is_some_and(|d| d > RESUME_WITHIN)
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
            assert_eq!(outbox.down_for(), None, "a first start");
            assert!(outbox.open_incidents().is_empty());
            outbox.mark_open("gate", &parked);
            outbox.mark_open("lobby", &bicycle);
            outbox.mark_closed(bicycle.incident_id);
        }
        let outbox = Outbox::open(&plan).unwrap();
        assert_eq!(outbox.open_incidents(), vec![("gate".to_string(), parked.clone())]);
        let down = outbox.down_for().expect("the previous run's heartbeat");
        assert!(!too_long_down(Some(down)));
        outbox.mark_closed(parked.incident_id);
        drop(outbox);
        assert!(Outbox::open(&plan).unwrap().open_incidents().is_empty());
    }

    #[test]
    fn a_long_stop_ends_what_was_open() {
        assert!(too_long_down(Some(RESUME_WITHIN + Duration::from_secs(1))));
        assert!(!too_long_down(Some(RESUME_WITHIN)));
        assert!(!too_long_down(None));
    }
}
