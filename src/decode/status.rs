//! What a camera's stream is doing right now — connecting, streaming, in
//! backoff, failed or stopped — and its live figures, shared with metrics
//! and health without their ever touching the pipeline.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::throttle::Throttle;

/// A camera's state, logged on every change and kept for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CameraState {
    Connecting = 0,
    Streaming = 1,
    Backoff = 2,
    Failed = 3,
    Stopped = 4,
}

impl CameraState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Connecting,
            1 => Self::Streaming,
            2 => Self::Backoff,
            3 => Self::Failed,
            _ => Self::Stopped,
        }
    }
}

impl fmt::Display for CameraState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connecting => "connecting",
            Self::Streaming => "streaming",
            Self::Backoff => "backoff",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        })
    }
}

/// `down_ms` while the camera streams.
const NOT_DOWN: u64 = u64::MAX;

/// Live figures of one camera's stream.
#[derive(Debug)]
pub struct StreamStatus {
    state: AtomicU8,
    /// Pipeline rebuilds after a failure.
    pub reconnects: AtomicU64,
    /// Frames out of the decoder (before rate limiting).
    pub decoded: AtomicU64,
    /// Frames dropped because their privacy masks could not be painted.
    pub unmasked: AtomicU64,
    unmasked_log: Throttle,
    /// When the last decoded frame arrived, in ms since `epoch`.
    pub(super) last_frame_ms: AtomicU64,
    epoch: Instant,
    /// The wall clock at `epoch`.
    started: SystemTime,
    /// When the state last changed, in ms since `epoch`.
    changed_ms: AtomicU64,
    /// Since when the camera has not streamed (reconnects included), in ms
    /// since `epoch`; [`NOT_DOWN`] while it streams.
    down_ms: AtomicU64,
    /// Why the camera failed, for `failed`.
    pub failure: Mutex<Option<String>>,
    /// Why the camera is not streaming, as the journal's `camera state`
    /// line gave it; None while streaming or before any reason.
    reason: Mutex<Option<String>>,
}

impl Default for StreamStatus {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(CameraState::Connecting as u8),
            reconnects: AtomicU64::new(0),
            decoded: AtomicU64::new(0),
            unmasked: AtomicU64::new(0),
            unmasked_log: Throttle::default(),
            last_frame_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            started: SystemTime::now(),
            changed_ms: AtomicU64::new(0),
            down_ms: AtomicU64::new(0),
            failure: Mutex::new(None),
            reason: Mutex::new(None),
        }
    }
}

impl StreamStatus {
    pub fn state(&self) -> CameraState {
        CameraState::from_u8(self.state.load(Ordering::SeqCst))
    }

    pub(super) fn set(&self, camera: &str, state: CameraState, reason: Option<&str>) {
        let before = CameraState::from_u8(self.state.swap(state as u8, Ordering::SeqCst));
        {
            let mut why = self.reason.lock().unwrap_or_else(|p| p.into_inner());
            match (state, reason) {
                (CameraState::Streaming, _) => *why = None,
                (_, Some(reason)) => *why = Some(reason.to_string()),
                _ => {}
            }
        }
        if state == CameraState::Streaming {
            self.down_ms.store(NOT_DOWN, Ordering::Relaxed);
        } else if self.down_ms.load(Ordering::Relaxed) == NOT_DOWN {
            self.down_ms.store(self.now_ms(), Ordering::Relaxed);
        }
        if before != state {
            self.changed_ms.store(self.now_ms(), Ordering::Relaxed);
            match reason {
                Some(reason) => tracing::info!(camera, from = %before, to = %state, reason, "camera state"),
                None => tracing::info!(camera, from = %before, to = %state, "camera state"),
            }
        }
    }

    /// Why the camera is not streaming (the reason its last state change
    /// gave the journal), None while it streams.
    pub fn reason(&self) -> Option<String> {
        if self.state() == CameraState::Streaming {
            return None;
        }
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Since when the camera has not streamed — connecting, reconnecting
    /// and failing again all count, from the moment it last stopped
    /// streaming (or started) — while it is connecting, in backoff or
    /// failed; None while it streams or once it has stopped.
    pub fn down_since(&self) -> Option<SystemTime> {
        let down = self.down_ms.load(Ordering::Relaxed);
        let waiting = matches!(
            self.state(),
            CameraState::Connecting | CameraState::Backoff | CameraState::Failed
        );
        (waiting && down != NOT_DOWN).then(|| self.started + Duration::from_millis(down))
    }

    /// When the camera entered its current state (wall clock).
    pub fn since(&self) -> SystemTime {
        self.started + Duration::from_millis(self.changed_ms.load(Ordering::Relaxed))
    }

    /// How long ago the last frame came out of the decoder; without one
    /// yet, how long ago the camera started.
    pub fn since_frame(&self) -> Duration {
        let last = self.last_frame_ms.load(Ordering::Relaxed);
        Duration::from_millis(self.now_ms().saturating_sub(last))
    }

    /// Counts a frame dropped unmasked; says so at most once a minute, so a
    /// broken stream cannot flood the journal.
    pub(super) fn frame_unmasked(&self, camera: &str) {
        let n = self.unmasked.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(held_back) = self.unmasked_log.due() {
            tracing::warn!(
                camera,
                dropped = n,
                held_back,
                "a frame could not be masked, so it was dropped"
            );
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}
