//! The incidents page's history on disk, so a restart does not empty it:
//! every incident event and acknowledgement the feed tells, one JSON line
//! each in `<state_dir>/console/history.jsonl`, and each published
//! snapshot's JPEG beside it in `snapshots/` (written only from a
//! [`RedactedJpeg`], read back only as a [`KeptSnapshot`]). On start the
//! file is read back, what is older than the retention (the outbox's
//! `max_age_hours`) is left out and the file written again without it;
//! so are the snapshots of incidents no longer kept. A write that fails is
//! logged once and the page goes on from memory.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::anonymize::RedactedJpeg;

/// Lines kept at most, however long the retention.
pub const MAX_LINES: usize = 5000;

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// When it was written, ms since the Unix epoch.
    pub at_ms: u64,
    /// `incident`, `snapshot` or `ack`.
    pub kind: String,
    pub camera: String,
    /// The incident's id (snapshots, acks) or the event's JSON (incidents).
    pub data: String,
}

/// A snapshot the box published and kept in its history folder: the bytes
/// of a [`RedactedJpeg`], read back after a restart.
pub struct KeptSnapshot {
    bytes: Vec<u8>,
}

impl KeptSnapshot {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The history's folder and file.
pub struct History {
    dir: PathBuf,
    retention: Duration,
    failed: Mutex<bool>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A snapshot's file name: only ids made of safe characters are kept.
fn snapshot_name(incident: &str) -> Option<String> {
    (!incident.is_empty() && incident.len() <= 64 && incident.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then(|| format!("{incident}.jpg"))
}

impl History {
    /// The history in `<state_dir>/console/`, made when missing.
    pub fn open(state_dir: &Path, retention: Duration) -> Self {
        let dir = state_dir.join("console");
        if let Err(e) = fs::create_dir_all(dir.join("snapshots")) {
            tracing::warn!(dir = %dir.display(), error = %e, "console: cannot keep the incident history on disk; it starts empty after a restart");
        }
        Self {
            dir,
            retention,
            failed: Mutex::new(false),
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("history.jsonl")
    }

    fn failed(&self, e: &std::io::Error) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if !*failed {
            tracing::warn!(dir = %self.dir.display(), error = %e, "console: cannot write the incident history; the page goes on from memory");
            *failed = true;
        }
    }

    /// The lines within the retention, oldest first (at most [`MAX_LINES`]);
    /// the file and the snapshots folder are rewritten without the rest.
    pub fn load(&self) -> Vec<Line> {
        let Ok(file) = File::open(self.file()) else {
            return Vec::new();
        };
        let oldest = now_ms().saturating_sub(self.retention.as_millis() as u64);
        let mut lines: Vec<Line> = BufReader::new(file)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| serde_json::from_str::<Line>(&l).ok())
            .filter(|l| l.at_ms >= oldest)
            .collect();
        if lines.len() > MAX_LINES {
            lines.drain(..lines.len() - MAX_LINES);
        }
        let mut text = String::new();
        for line in &lines {
            if let Ok(json) = serde_json::to_string(line) {
                text.push_str(&json);
                text.push('\n');
            }
        }
        let fresh = self.dir.join("history.jsonl.new");
        if let Err(e) = fs::write(&fresh, text).and_then(|()| fs::rename(&fresh, self.file())) {
            self.failed(&e);
        }
        let kept: std::collections::HashSet<String> = lines
            .iter()
            .filter(|l| l.kind == "snapshot")
            .filter_map(|l| snapshot_name(&l.data))
            .collect();
        if let Ok(entries) = fs::read_dir(self.dir.join("snapshots")) {
            for entry in entries.flatten() {
                if !kept.contains(&entry.file_name().to_string_lossy().into_owned()) {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        lines
    }

    /// Appends one line.
    pub fn append(&self, kind: &str, camera: &str, data: &str) {
        let line = Line {
            at_ms: now_ms(),
            kind: kind.to_string(),
            camera: camera.to_string(),
            data: data.to_string(),
        };
        let Ok(mut json) = serde_json::to_string(&line) else {
            return;
        };
        json.push('\n');
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.file())
            .and_then(|mut f| f.write_all(json.as_bytes()));
        if let Err(e) = written {
            self.failed(&e);
        }
    }

    /// Keeps a published snapshot's JPEG.
    pub fn keep_snapshot(&self, incident: &str, jpeg: &RedactedJpeg) {
        let Some(name) = snapshot_name(incident) else {
            return;
        };
        let path = self.dir.join("snapshots").join(name);
        if let Err(e) = fs::write(path, jpeg.as_bytes()) {
            self.failed(&e);
        }
    }

    /// A kept snapshot of `incident`, if any.
    pub fn snapshot(&self, incident: &str) -> Option<KeptSnapshot> {
        let name = snapshot_name(incident)?;
        let bytes = fs::read(self.dir.join("snapshots").join(name)).ok()?;
        Some(KeptSnapshot { bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_retention_are_left_out_and_the_rest_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(dir.path(), Duration::from_secs(3600));
        let old = Line {
            at_ms: now_ms() - 2 * 3600 * 1000,
            kind: "incident".into(),
            camera: "gate".into(),
            data: "{}".into(),
        };
        fs::write(
            history.file(),
            format!("{}\nnot json\n", serde_json::to_string(&old).unwrap()),
        )
        .unwrap();
        history.append("incident", "gate", "{\"seq\":1}");
        history.append("ack", "gate", "{\"incident_id\":\"x\"}");
        let again = History::open(dir.path(), Duration::from_secs(3600));
        let lines = again.load();
        assert_eq!(
            lines.iter().map(|l| l.kind.as_str()).collect::<Vec<_>>(),
            ["incident", "ack"]
        );
        assert_eq!(fs::read_to_string(again.file()).unwrap().lines().count(), 2);
        assert!(snapshot_name("../etc/passwd").is_none());
    }
}
