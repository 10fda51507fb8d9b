//! Who gets a connection's worth of the console while someone floods it.
//!
//! Every connection starts as a guest. A request carrying a live session
//! makes its connection an operator's for good; a guest's request needs one
//! of a few guest slots ([`GUEST_SLOTS`] in all, [`GUEST_SLOTS_PER_CLIENT`]
//! per address), held while the connection lives; a connection that is
//! not an operator's is closed [`GUEST_LIFETIME`] after it was accepted. So slow or idle clients that never logged in can
//! hold only the guest slots, and a logged-in operator's next connection
//! is still served; a guest turned away gets `503` and a closed
//! connection, not a queue.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections not (yet) known to be an operator's, served at once.
pub const GUEST_SLOTS: usize = 32;
/// Of those, from one address.
pub const GUEST_SLOTS_PER_CLIENT: usize = 16;
/// A connection that is not an operator's is closed this long after it
/// was accepted (the request it is serving finishes first).
pub const GUEST_LIFETIME: Duration = Duration::from_secs(30);

/// The guest slots, and how many each address holds.
#[derive(Default)]
pub struct Guests {
    held: Mutex<HashMap<IpAddr, usize>>,
}

/// One guest slot, given back on drop.
pub struct GuestSlot {
    guests: Arc<Guests>,
    client: IpAddr,
}

impl Drop for GuestSlot {
    fn drop(&mut self) {
        let mut held = self.guests.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.client);
            }
        }
    }
}

impl Guests {
    /// A slot for `client`, if one is free for it.
    pub fn take(self: &Arc<Self>, client: IpAddr) -> Option<GuestSlot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = held.values().sum();
        let mine = held.get(&client).copied().unwrap_or(0);
        if total >= GUEST_SLOTS || mine >= GUEST_SLOTS_PER_CLIENT {
            return None;
        }
        *held.entry(client).or_default() += 1;
        Some(GuestSlot {
            guests: self.clone(),
            client,
        })
    }

    /// Slots held now.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).values().sum()
    }
}

/// One connection's standing, shared by its requests (a request extension).
pub struct Connection {
    pub client: IpAddr,
    operator: AtomicBool,
    guest: Mutex<Option<GuestSlot>>,
}

impl Connection {
    pub fn new(client: IpAddr) -> Self {
        Self {
            client,
            operator: AtomicBool::new(false),
            guest: Mutex::new(None),
        }
    }

    /// Has a request on this connection shown a live session?
    pub fn is_operator(&self) -> bool {
        self.operator.load(Ordering::Relaxed)
    }

    /// A request showed a live session: the connection is an operator's,
    /// and gives back its guest slot.
    pub fn promote(&self) {
        self.operator.store(true, Ordering::Relaxed);
        self.guest.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// May a request without a session be served on this connection?
    pub fn admit_guest(&self, guests: &Arc<Guests>) -> bool {
        if self.is_operator() {
            return true;
        }
        let mut guest = self.guest.lock().unwrap_or_else(|p| p.into_inner());
        if guest.is_some() {
            return true;
        }
        match guests.take(self.client) {
            Some(slot) => {
                *guest = Some(slot);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_are_capped_in_all_and_per_client_and_operators_are_not() {
        let guests = Arc::new(Guests::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let conns: Vec<_> = (0..GUEST_SLOTS_PER_CLIENT + 1).map(|_| Connection::new(a)).collect();
        let admitted = conns.iter().filter(|c| c.admit_guest(&guests)).count();
        assert_eq!(admitted, GUEST_SLOTS_PER_CLIENT);
        // a second request on an admitted connection needs no new slot
        assert!(conns[0].admit_guest(&guests));
        assert_eq!(guests.held(), GUEST_SLOTS_PER_CLIENT);
        let others: Vec<_> = (0..GUEST_SLOTS)
            .map(|i| Connection::new(IpAddr::from([10, 0, 1, i as u8])))
            .collect();
        let admitted = others.iter().filter(|c| c.admit_guest(&guests)).count();
        assert_eq!(admitted, GUEST_SLOTS - GUEST_SLOTS_PER_CLIENT);
        // the refused connection is an operator's after all: served, and
        // an admitted one that logs in frees its slot for a guest
        let refused = &conns[GUEST_SLOTS_PER_CLIENT];
        refused.promote();
        assert!(refused.admit_guest(&guests));
        conns[0].promote();
        assert_eq!(guests.held(), GUEST_SLOTS - 1);
        drop(others);
        assert_eq!(guests.held(), GUEST_SLOTS_PER_CLIENT - 1);
    }
}
