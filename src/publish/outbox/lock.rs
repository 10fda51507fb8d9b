//! One owner per state directory. `run` takes an exclusive advisory lock
//! (flock) on `<state_dir>/watchpost.lock` before it opens the outbox, and
//! writes its pid and command line into the file so that a second instance
//! can say who holds it. The lock goes with the process (also on SIGKILL), so
//! a stale file never blocks a restart. A second instance must never touch
//! the owner's files: it reads the lock file and leaves.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "watchpost.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the state directory {dir} is in use by another watchpost ({holder}); stop it first (`systemctl stop watchpost`) or give this one its own state_dir"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock the state directory {dir}: {source}")]
    Io { dir: PathBuf, source: std::io::Error },
    /// Another user could replace the outbox or the arming state.
    #[error(
        "the state directory {dir} {reason}; fix it with `chown watchpost:watchpost {dir} && chmod 0750 {dir}` (the package makes it so)"
    )]
    Unsafe { dir: PathBuf, reason: String },
}

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    path: PathBuf,
}

impl StateLock {
    /// Takes the state directory's lock, creating the directory if needed.
    pub fn acquire(dir: &Path) -> Result<Self, LockError> {
        let io = |source: std::io::Error| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        if !dir.exists() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(io)?;
        }
        let meta = std::fs::metadata(dir).map_err(io)?;
        {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            if let Some(reason) = unsafe_dir(meta.uid(), meta.mode(), me) {
                return Err(LockError::Unsafe {
                    dir: dir.to_path_buf(),
                    reason,
                });
            }
        }
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => {}
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err(LockError::Held {
                    dir: dir.to_path_buf(),
                    holder: holder(&path),
                });
            }
            Err(e) => return Err(io(e.into())),
        }
        // Ours now: say who we are, for the next one who asks.
        let me = format!("{}\n{}\n", std::process::id(), command_line(std::process::id()));
        file.set_len(0).map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        Ok(Self { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a state directory with this owner and mode is not safe for a
/// process running as `me`: owned by another user (other than root), or
/// writable by its group or by everyone, either of whom could then replace
/// the outbox (forging or deleting alerts) or the arming state.
fn unsafe_dir(owner: u32, mode: u32, me: u32) -> Option<String> {
    if owner != me && owner != 0 {
        return Some(format!(
            "belongs to another user (uid {owner}; this process runs as uid {me})"
        ));
    }
    if mode & 0o002 != 0 {
        return Some(format!("is writable by every user (mode {:04o})", mode & 0o7777));
    }
    if mode & 0o020 != 0 {
        return Some(format!("is writable by its group (mode {:04o})", mode & 0o7777));
    }
    None
}

/// "pid 1234: watchpost run --config …", from the lock file and /proc.
fn holder(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    match lines.next().and_then(|l| l.trim().parse::<u32>().ok()) {
        Some(pid) => {
            let live = command_line(pid);
            let command = if live.is_empty() {
                lines.next().unwrap_or("").to_string()
            } else {
                live
            };
            format!("pid {pid}: {command}")
        }
        None => "a process that has not written its pid yet".into(),
    }
}

fn command_line(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_names_the_holder_and_the_first_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path()).unwrap();
        let second = StateLock::acquire(dir.path()).unwrap_err();
        let text = second.to_string();
        assert!(matches!(second, LockError::Held { .. }), "{text}");
        assert!(text.contains(&format!("pid {}", std::process::id())), "{text}");
        drop(first);
        StateLock::acquire(dir.path()).unwrap();
    }

    #[test]
    fn a_state_dir_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        for (mode, word) in [(0o777, "every user"), (0o770, "its group")] {
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
            let err = StateLock::acquire(dir.path()).unwrap_err();
            assert!(matches!(err, LockError::Unsafe { .. }), "{err}");
            assert!(err.to_string().contains(word), "{err}");
            assert!(!dir.path().join(LOCK_FILE).exists(), "nothing is written there");
        }
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        StateLock::acquire(dir.path()).unwrap();
        let made = dir.path().join("new/state");
        StateLock::acquire(&made).unwrap();
        let mode = std::fs::metadata(&made).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "made without group or world write: {mode:o}");
        assert!(unsafe_dir(1234, 0o40750, 1000).unwrap().contains("another user"));
        assert_eq!(unsafe_dir(0, 0o40755, 1000), None, "root's folder is trusted");
        assert_eq!(unsafe_dir(1000, 0o40750, 1000), None);
    }
}
