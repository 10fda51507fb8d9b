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
        std::fs::create_dir_all(dir).map_err(io)?;
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
}
