//! What the broker refuses: the suspects, the probe and the refused
//! incident events that delivery ([`super::delivery`]) sets aside.
//!
//! MQTT 3.1.1 has no negative acknowledgement: a broker that will not take a
//! publish (one over its `max_packet_size`, or one its ACL forbids where it
//! disconnects for that) closes the connection. A dropped link alone proves
//! nothing — a flaky network or a restarting broker drops links with
//! publishes in flight — so the oldest record in flight when a link drops
//! only becomes a suspect, sent alone on the next connection (the probe). A
//! refusal is counted only when the probe ends the connection: the broker
//! closes it (not a keep-alive timeout) within [`REFUSAL_WINDOW`] of its
//! PUBLISH leaving and before its PUBACK. After `outbox.max_attempts`
//! refusals in a row a snapshot is to be quarantined, and an incident event
//! is never quarantined: it is set aside, delivery goes on with the records
//! after it, and it is sent again alone after [`RETRY_REFUSED`], doubling up
//! to [`RETRY_REFUSED_MAX`], until the broker takes it or the outbox's age
//! bound drops it.
//!
//! This is bookkeeping only, by sequence number: it never reads the outbox
//! nor publishes; delivery asks it what to send alone and acts on its verdicts.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// A suspect sent alone whose connection the broker closes this soon after
/// its PUBLISH left counts as refused (a broker refuses at once; a link that
/// happens to drop later proves nothing).
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(5);
/// An incident event the broker refused `outbox.max_attempts` times is sent
/// again alone after this long, then after twice as long, up to [`RETRY_REFUSED_MAX`].
pub const RETRY_REFUSED: Duration = Duration::from_secs(5);
pub const RETRY_REFUSED_MAX: Duration = Duration::from_secs(15 * 60);

/// A suspect on its way alone.
#[derive(Debug, Clone, Copy)]
struct Probe {
    seq: u64,
    /// A snapshot (which may be quarantined), not an incident event.
    image: bool,
    /// When its PUBLISH left (None until rumqttc reports it).
    sent: Option<Instant>,
}

/// When a refused incident event is sent again, and the wait after that.
#[derive(Debug, Clone, Copy)]
struct Retry {
    due: Instant,
    wait: Duration,
}

/// What a dropped link means for the records in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing was refused (yet): at most a new suspect, or one more refusal counted.
    Pending,
    /// A snapshot refused `max_attempts` times: quarantine it.
    Quarantine(u64),
    /// An incident event refused `max_attempts` times: now set aside.
    SetAside(u64),
}

/// The suspects, the probe and the refused incident events.
#[derive(Debug, Default)]
pub struct Refusals {
    /// Records that were the oldest in flight when the link went down, with
    /// the refusals counted against them. A suspect is sent alone until
    /// acknowledged.
    suspects: HashMap<u64, u32>,
    /// The suspect sent alone and awaiting its PUBACK.
    probing: Option<Probe>,
    /// Incident events the broker refused `max_attempts` times: skipped,
    /// and sent again alone when due.
    refused: BTreeMap<u64, Retry>,
}

impl Refusals {
    /// A suspect (or a refused event) is on its way alone: nothing else goes.
    pub fn probing(&self) -> bool {
        self.probing.is_some()
    }

    /// `seq` is sent alone now; `image`: a snapshot, not an incident event.
    pub fn probe(&mut self, seq: u64, image: bool) {
        self.probing = Some(Probe { seq, image, sent: None });
    }

    /// The PUBLISH of `seq` left.
    pub fn sent(&mut self, seq: u64, at: Instant) {
        if let Some(probe) = self.probing.as_mut().filter(|p| p.seq == seq) {
            probe.sent = Some(at);
        }
    }

    /// The broker acknowledged `seq`: it is no suspect any more. True when
    /// it was a refused incident event (now delivered).
    pub fn acked(&mut self, seq: u64) -> bool {
        self.suspects.remove(&seq);
        if self.probing.is_some_and(|p| p.seq == seq) {
            self.probing = None;
        }
        let was_refused = self.refused.remove(&seq).is_some();
        if was_refused {
            tracing::info!(seq, "the broker took an incident event it had refused; it is delivered");
        }
        was_refused
    }

    /// The link went down (`closed`: by the broker, `reason` as said to the
    /// operator) with `oldest` the oldest record in flight. That record
    /// becomes a suspect; a refusal is counted only when the broker closed
    /// the link soon after that suspect left alone.
    pub fn down(&mut self, oldest: Option<u64>, closed: bool, reason: &str, max_attempts: u32) -> Verdict {
        let probe = self.probing.take();
        let Some(seq) = oldest else {
            return Verdict::Pending;
        };
        let refused =
            probe.filter(|p| p.seq == seq && closed && p.sent.is_some_and(|sent| sent.elapsed() <= REFUSAL_WINDOW));
        let Some(probe) = refused else {
            self.suspects.entry(seq).or_insert(0);
            return Verdict::Pending;
        };
        if let Some(retry) = self.refused.get_mut(&seq) {
            retry.wait = (retry.wait * 2).min(RETRY_REFUSED_MAX);
            retry.due = Instant::now() + retry.wait;
            tracing::warn!(seq, broker = %reason, retry_in_secs = retry.wait.as_secs(),
                "the broker refused an incident event again; it stays in the outbox and is sent again later");
            return Verdict::Pending;
        }
        let refusals = self.suspects.entry(seq).or_default();
        *refusals += 1;
        if *refusals < max_attempts {
            return Verdict::Pending;
        }
        self.suspects.remove(&seq);
        if probe.image {
            return Verdict::Quarantine(seq);
        }
        self.refused.insert(
            seq,
            Retry {
                due: Instant::now() + RETRY_REFUSED,
                wait: RETRY_REFUSED,
            },
        );
        tracing::error!(seq, broker = %reason, attempts = max_attempts,
            "the broker refused an incident event every time it was sent; it is never quarantined: it stays in the outbox, delivery goes on with the later ones, and it is sent again alone from time to time (check the broker's max_packet_size and ACL)");
        Verdict::SetAside(seq)
    }

    /// The oldest refused incident event due to be sent again by `now`.
    pub fn due(&self, now: Instant) -> Option<u64> {
        self.refused.iter().find(|(_, r)| r.due <= now).map(|(s, _)| *s)
    }

    /// A refused event is gone from the outbox (dropped by a bound, counted there).
    pub fn forget(&mut self, seq: u64) {
        self.refused.remove(&seq);
    }

    /// `seq` is a refused incident event, skipped until due.
    pub fn is_refused(&self, seq: u64) -> bool {
        self.refused.contains_key(&seq)
    }

    /// `seq` failed before: it goes only alone.
    pub fn is_suspect(&self, seq: u64) -> bool {
        self.suspects.contains_key(&seq)
    }

    /// How many incident events are set aside.
    pub fn refused(&self) -> usize {
        self.refused.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `seq` alone and has the broker close the link at once.
    fn refuse(r: &mut Refusals, seq: u64, image: bool, max: u32) -> Verdict {
        r.probe(seq, image);
        r.sent(seq, Instant::now());
        r.down(Some(seq), true, "closed", max)
    }

    #[test]
    fn a_dropped_link_only_makes_a_suspect() {
        let mut r = Refusals::default();
        assert_eq!(r.down(Some(7), true, "reset", 3), Verdict::Pending);
        assert!(r.is_suspect(7));
        assert!(!r.probing());
        assert_eq!(r.down(None, true, "reset", 3), Verdict::Pending);
    }

    #[test]
    fn a_timeout_or_an_unsent_probe_is_no_refusal() {
        let mut r = Refusals::default();
        for _ in 0..5 {
            r.probe(4, false);
            r.sent(4, Instant::now());
            assert_eq!(r.down(Some(4), false, "keep-alive", 2), Verdict::Pending);
            r.probe(4, false);
            assert_eq!(r.down(Some(4), true, "reset", 2), Verdict::Pending, "never left");
        }
        assert_eq!(r.refused(), 0);
    }

    #[test]
    fn refused_max_attempts_times_a_snapshot_is_quarantined_and_an_event_set_aside() {
        let mut r = Refusals::default();
        for (seq, image, verdict) in [(9, true, Verdict::Quarantine(9)), (3, false, Verdict::SetAside(3))] {
            assert_eq!(refuse(&mut r, seq, image, 2), Verdict::Pending);
            assert_eq!(refuse(&mut r, seq, image, 2), verdict);
            assert!(!r.is_suspect(seq));
        }
        assert_eq!(r.refused(), 1, "only the event is set aside");
        assert!(r.is_refused(3));
        assert_eq!(r.due(Instant::now()), None, "not due before RETRY_REFUSED");
        assert_eq!(r.due(Instant::now() + RETRY_REFUSED), Some(3));
        // Refused again: the wait doubles.
        assert_eq!(refuse(&mut r, 3, false, 2), Verdict::Pending);
        assert_eq!(r.due(Instant::now() + RETRY_REFUSED), None);
        assert_eq!(r.due(Instant::now() + RETRY_REFUSED * 2), Some(3));
        assert!(r.acked(3), "taken at last");
        assert_eq!(r.refused(), 0);
        assert!(!r.acked(3));
    }

    #[test]
    fn an_ack_clears_the_suspect_and_the_probe() {
        let mut r = Refusals::default();
        assert_eq!(refuse(&mut r, 5, false, 3), Verdict::Pending);
        r.probe(5, false);
        assert!(!r.acked(5));
        assert!(!r.is_suspect(5));
        assert!(!r.probing());
    }
}
