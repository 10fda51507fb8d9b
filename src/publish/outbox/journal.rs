//! The outbox's own record of what it kept and let go, one debug line per
//! incident event, for an operator who must show that nothing went
//! missing: every event the outbox stored (durable from then on), every
//! event it held in memory while it could not write (not durable until a
//! later "stored" line for the same `seq`), and the sequence numbers a
//! bound dropped. Turn it on with
//! `WATCHPOST_LOG=info,watchpost::publish::outbox::journal=debug`; compare it
//! with what the office received, by (`incident_id`, `seq`). It only logs:
//! nothing here decides anything.

/// An incident event is in the store (`held` false) or in the memory hold.
pub(super) fn kept(seq: u64, camera: &str, incident: &str, held: bool) {
    let kept = if held { "held" } else { "stored" };
    tracing::debug!(seq, camera, incident, kept, "outbox: incident event kept");
}

/// A bound (count, bytes or age) dropped these undelivered records.
pub(super) fn dropped(seqs: &[u64], why: &str) {
    if !seqs.is_empty() {
        tracing::debug!(seqs = ?seqs, why, "outbox: records dropped");
    }
}
