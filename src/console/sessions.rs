//! The console's sessions on disk, so an operator's page goes on after the
//! box restarts instead of falling back to the login form: each live
//! session's SHA-256 key (never the cookie itself), its CSRF token and
//! when it was opened and last used, in `<state_dir>/console/sessions.json`
//! (mode 0600, written whole and renamed). A session read back keeps its
//! lifetime and idle limits, but must give the password again before
//! removing anything that protects people.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The key a session is kept under: the SHA-256 of its cookie, as hex.
pub fn key(id: &str) -> String {
    Sha256::digest(id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One kept session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    pub key: String,
    pub csrf: String,
    /// Unix ms.
    pub created_ms: u64,
    pub seen_ms: u64,
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The wall-clock ms of an instant.
pub fn wall_ms(at: Instant) -> u64 {
    unix_ms(SystemTime::now()).saturating_sub(at.elapsed().as_millis() as u64)
}

/// The instant of a wall-clock ms (now, for a time in the future).
pub fn instant(ms: u64) -> Instant {
    let ago = Duration::from_millis(unix_ms(SystemTime::now()).saturating_sub(ms));
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

/// Where sessions are kept.
pub struct SessionFile {
    path: PathBuf,
}

impl SessionFile {
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("console").join("sessions.json"),
        }
    }

    pub fn load(&self) -> Vec<Kept> {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, sessions: &[Kept]) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let fresh = self.path.with_extension("json.new");
        let written = serde_json::to_vec(sessions)
            .map_err(std::io::Error::other)
            .and_then(|json| {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&fresh)?;
                file.write_all(&json)?;
                std::fs::rename(&fresh, &self.path)
            });
        if let Err(e) = written {
            tracing::debug!(path = %self.path.display(), error = %e, "console: cannot keep the sessions; a restart asks operators to log in again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_come_back_by_key_and_the_cookie_is_not_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = SessionFile::in_dir(dir.path());
        let kept = Kept {
            key: key("cookie-value"),
            csrf: "c".into(),
            created_ms: wall_ms(Instant::now()),
            seen_ms: wall_ms(Instant::now()),
        };
        file.save(std::slice::from_ref(&kept));
        assert_eq!(file.load(), vec![kept]);
        let text = std::fs::read_to_string(dir.path().join("console/sessions.json")).unwrap();
        assert!(!text.contains("cookie-value"));
        assert!(instant(wall_ms(Instant::now()) - 5000).elapsed() >= Duration::from_secs(4));
    }
}
