//! The counters of evidence: clips sealed, dropped and failed, frames left
//! out or covered whole. The metrics endpoint reads them.

use std::sync::atomic::AtomicU64;

/// Counters of evidence.
#[derive(Debug, Default)]
pub struct Stats {
    /// Clips sealed.
    pub clips: AtomicU64,
    /// Clips dropped because the worker was behind.
    pub clips_dropped: AtomicU64,
    /// Clips that could not be made (no frames, redaction or encoding failed).
    pub clips_failed: AtomicU64,
    /// Frames left out of clips: the recorder was behind, or the frame
    /// could not be scaled or read. Never passed on unredacted.
    pub frames_dropped: AtomicU64,
    /// Frames covered whole because their faces could not be searched for.
    pub frames_covered_whole: AtomicU64,
}
