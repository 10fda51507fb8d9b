//! Password checks the box can afford while someone guesses: one argon2
//! verification at a time, in memory taken once and reused (a check needs
//! the hash's whole memory cost, ~19 MiB by default, and a flood must not
//! multiply it), and backoff before any hashing — per client after each
//! wrong password, and for everyone once wrong passwords pile up. A caller
//! turned away is told when to come back (`429` with `Retry-After`), never
//! queued. It never logs or returns a password or a hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHash;
use subtle::ConstantTimeEq;

use crate::config::Secret;

/// Wrong passwords from one client before its waits start doubling from one second.
const FREE_TRIES: u32 = 1;
/// The longest one client waits between tries.
const CLIENT_MAX_WAIT: Duration = Duration::from_secs(60);
/// A client's failures are forgotten after this long without one.
const CLIENT_FORGET: Duration = Duration::from_secs(15 * 60);
/// Clients remembered at most; the quietest are forgotten first.
const MAX_CLIENTS: usize = 4096;
/// Wrong passwords from everyone within [`GLOBAL_WINDOW`] before every
/// check is spaced by [`GLOBAL_SPACING`].
const GLOBAL_FREE: usize = 10;
const GLOBAL_WINDOW: Duration = Duration::from_secs(60);
const GLOBAL_SPACING: Duration = Duration::from_secs(1);
/// Argon2 memory cost a hash may ask for, at most (KiB): 64 MiB.
pub const MAX_MEMORY_KIB: u32 = 64 * 1024;

/// A parsed argon2 hash, ready to check passwords against without allocating.
struct Hash {
    argon: argon2::Argon2<'static>,
    salt: Vec<u8>,
    expected: Vec<u8>,
    blocks: usize,
}

impl Hash {
    fn parse(secret: &Secret) -> Result<Self, String> {
        let parsed = PasswordHash::new(secret.expose()).map_err(|_| "not an argon2 password hash".to_string())?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
        let version = argon2::Version::try_from(parsed.version.unwrap_or(0x13)).map_err(|e| e.to_string())?;
        let params = argon2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
        if params.m_cost() > MAX_MEMORY_KIB {
            return Err(format!(
                "the hash asks for {} MiB per check, over the {} MiB the console allows; make it again with `watchpost hash-password`",
                params.m_cost() / 1024,
                MAX_MEMORY_KIB / 1024
            ));
        }
        let mut salt = [0u8; 64];
        let salt = parsed
            .salt
            .ok_or("the hash has no salt")?
            .decode_b64(&mut salt)
            .map_err(|e| e.to_string())?
            .to_vec();
        let expected = parsed.hash.ok_or("the hash has no output")?.as_bytes().to_vec();
        let blocks = params.block_count();
        Ok(Self {
            argon: argon2::Argon2::new(algorithm, version, params),
            salt,
            expected,
            blocks,
        })
    }

    /// Checks `password` in `memory`, in constant time over the output.
    fn check(&self, password: &[u8], memory: &mut Vec<argon2::Block>) -> bool {
        memory.resize(self.blocks, argon2::Block::default());
        let mut out = [0u8; 64];
        let out = &mut out[..self.expected.len().min(64)];
        self.argon
            .hash_password_into_with_memory(password, &self.salt, out, &mut memory[..])
            .is_ok()
            && bool::from(out.ct_eq(&self.expected))
    }
}

struct Client {
    failures: u32,
    not_before: Instant,
    last: Instant,
}

#[derive(Default)]
struct Backoff {
    clients: HashMap<IpAddr, Client>,
    /// Times of recent wrong passwords, from everyone.
    recent: std::collections::VecDeque<Instant>,
    /// No check for anyone before this.
    global_not_before: Option<Instant>,
}

/// The console's password check.
pub struct Gate {
    hash: Hash,
    backoff: Mutex<Backoff>,
    /// The memory of the one check that may run; taken while it runs.
    memory: Mutex<Option<Vec<argon2::Block>>>,
}

/// What [`Gate::admit`] hands the check: the memory, given back on drop.
pub struct Turn {
    gate: Arc<Gate>,
    memory: Option<Vec<argon2::Block>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        *self.gate.memory.lock().unwrap_or_else(|p| p.into_inner()) = self.memory.take();
    }
}

impl Turn {
    /// Checks the password (blocking: run it off the async threads).
    pub fn check(&mut self, password: &str) -> bool {
        let memory = self.memory.get_or_insert_with(Vec::new);
        self.gate.hash.check(password.as_bytes(), memory)
    }
}

impl Gate {
    pub fn new(secret: &Secret) -> Result<Self, String> {
        Ok(Self {
            hash: Hash::parse(secret)?,
            backoff: Mutex::new(Backoff::default()),
            memory: Mutex::new(Some(Vec::new())),
        })
    }

    /// May `client` try a password now? The turn holds the one check's
    /// memory; otherwise, how long to wait (backoff, or another check running).
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<Turn, Duration> {
        let now = Instant::now();
        {
            let backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
            let mut wait = Duration::ZERO;
            if let Some(c) = backoff.clients.get(&client) {
                wait = wait.max(c.not_before.saturating_duration_since(now));
            }
            if let Some(at) = backoff.global_not_before {
                wait = wait.max(at.saturating_duration_since(now));
            }
            if !wait.is_zero() {
                return Err(wait);
            }
        }
        let memory = self.memory.lock().unwrap_or_else(|p| p.into_inner()).take();
        match memory {
            // Another check is running: one at a time.
            None => Err(Duration::from_secs(1)),
            Some(memory) => {
                let mut backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
                if backoff.recent.len() >= GLOBAL_FREE {
                    backoff.global_not_before = Some(now + GLOBAL_SPACING);
                }
                Ok(Turn {
                    gate: self.clone(),
                    memory: Some(memory),
                })
            }
        }
    }

    /// Records how `client`'s check went: a wrong password doubles its wait
    /// (from one second, at most [`CLIENT_MAX_WAIT`]), a right one clears it.
    pub fn record(&self, client: IpAddr, right: bool) {
        let now = Instant::now();
        let mut backoff = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        if right {
            backoff.clients.remove(&client);
            return;
        }
        while backoff
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > GLOBAL_WINDOW)
        {
            backoff.recent.pop_front();
        }
        if backoff.recent.len() < 4 * GLOBAL_FREE {
            backoff.recent.push_back(now);
        }
        if backoff.clients.len() >= MAX_CLIENTS && !backoff.clients.contains_key(&client) {
            backoff
                .clients
                .retain(|_, c| now.duration_since(c.last) < CLIENT_FORGET);
            if backoff.clients.len() >= MAX_CLIENTS
                && let Some(quietest) = backoff.clients.iter().min_by_key(|(_, c)| c.last).map(|(ip, _)| *ip)
            {
                backoff.clients.remove(&quietest);
            }
        }
        let entry = backoff.clients.entry(client).or_insert(Client {
            failures: 0,
            not_before: now,
            last: now,
        });
        if now.duration_since(entry.last) >= CLIENT_FORGET {
            entry.failures = 0;
        }
        entry.failures += 1;
        entry.last = now;
        let doublings = entry.failures.saturating_sub(FREE_TRIES).min(16);
        let wait = if entry.failures <= FREE_TRIES {
            Duration::ZERO
        } else {
            Duration::from_secs(1u64 << (doublings - 1)).min(CLIENT_MAX_WAIT)
        };
        entry.not_before = now + wait;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(password: &str) -> Arc<Gate> {
        Arc::new(Gate::new(&Secret::new(super::super::auth::hash_password(password).unwrap())).unwrap())
    }

    #[test]
    fn the_reused_memory_check_agrees_with_argon2() {
        let gate = gate("correct horse");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let mut turn = gate.admit(ip).unwrap();
        assert!(turn.check("correct horse"));
        assert!(!turn.check("correct horsf"));
        assert!(!turn.check(""));
    }

    #[test]
    fn one_check_at_a_time() {
        let gate = gate("pw");
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let turn = gate.admit(a).unwrap();
        assert!(gate.admit(b).is_err());
        drop(turn);
        assert!(gate.admit(b).is_ok());
    }

    #[test]
    fn wrong_passwords_double_the_clients_wait_and_a_right_one_clears_it() {
        let gate = gate("pw");
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        gate.record(ip, false);
        // the first wrong password costs nothing
        assert!(gate.admit(ip).is_ok());
        let mut waits = Vec::new();
        for _ in 0..8 {
            gate.record(ip, false);
            match gate.admit(ip) {
                Err(wait) => waits.push(wait.as_secs_f64().round() as u64),
                other => panic!("not refused: {:?}", other.map(|_| ())),
            }
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        // another client is not held back by this one alone
        assert!(gate.admit(other).is_ok());
        gate.record(ip, true);
        assert!(gate.admit(ip).is_ok());
    }

    #[test]
    fn many_wrong_passwords_space_every_check() {
        let gate = gate("pw");
        for i in 0..GLOBAL_FREE {
            gate.record(IpAddr::from([10, 0, 1, i as u8]), false);
        }
        let fresh: IpAddr = "10.0.9.9".parse().unwrap();
        // this check may run, and the next one from anyone waits
        drop(gate.admit(fresh).unwrap());
        assert!(gate.admit("10.0.9.8".parse().unwrap()).is_err());
    }

    #[test]
    fn a_hash_asking_for_too_much_memory_is_refused() {
        // written by hand: hashing with that much memory is what is refused
        let hash = format!(
            "$argon2id$v=19$m={},t=1,p=1$c2FsdHNhbHRzYWx0${}",
            MAX_MEMORY_KIB * 2,
            "A".repeat(43)
        );
        let error = Gate::new(&Secret::new(hash)).err().unwrap();
        assert!(error.contains("MiB per check"), "{error}");
    }
}
