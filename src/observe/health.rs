//! Health: tells systemd (through `$NOTIFY_SOCKET`) that the box is ready,
//! what it is doing, and — only while the pipeline really moves — that it is
//! alive (`WATCHDOG=1`).
//!
//! The watchdog is not a timer: each ping follows a check that every camera's
//! decode and detect threads are running and making progress (or waiting in
//! an expected state: connecting, backoff, ended), that the MQTT publisher
//! runs, and that the shared workers (each model's inference threads, the
//! snapshot worker) are alive. A wedged part stops the pings, and systemd restarts the service
//! after `WatchdogSec`. Without `$NOTIFY_SOCKET` every message is a no-op.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

use super::metrics::CameraView;
use crate::decode::{CameraState, StreamStatus};

/// How long a part may make no progress when systemd set no watchdog.
const DEFAULT_WINDOW: Duration = Duration::from_secs(30);
/// A camera not streaming (connecting, reconnecting or failed) for longer
/// than this makes the box not healthy; the pings go on (a restart would
/// not bring the camera back).
pub const CAMERA_DOWN_LIMIT: Duration = Duration::from_secs(60);

/// How long a camera has been down (not streaming, reconnects included,
/// and not ended); None while it streams.
pub fn down_for(stream: &StreamStatus) -> Option<Duration> {
    stream
        .down_since()
        .map(|since| std::time::SystemTime::now().duration_since(since).unwrap_or_default())
}

/// Sends one message to systemd; a failure is logged once at debug level
/// (there is nobody to tell when systemd is not listening).
pub fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "cannot notify systemd");
    }
}

/// `READY=1` with a status line.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `STATUS=…`
pub fn status(status: &str) {
    notify(&[NotifyState::Status(status)]);
}

/// `RELOADING=1` (with the monotonic time systemd asks for).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now, NotifyState::Status("reloading the config")]),
        Err(_) => notify(&[NotifyState::Reloading, NotifyState::Status("reloading the config")]),
    }
}

/// `STOPPING=1`
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// A camera's counters at the last moment it was seen to progress.
struct Progress {
    decoded: u64,
    taken: u64,
    decode_moved: Instant,
    detect_moved: Instant,
}

/// What the check sees of one running camera.
pub struct Probe<'a> {
    pub view: &'a CameraView,
    /// (decode thread running, detect thread running)
    pub threads: (bool, bool),
    pub live: bool,
    pub stall: Duration,
}

/// The liveness check and the pings that follow it.
pub struct Watchdog {
    /// Ping period (half of `WATCHDOG_USEC`), when systemd asked for pings.
    period: Option<Duration>,
    /// Longest a part may make no progress before the box counts as wedged.
    window: Duration,
    last_ping: Option<Instant>,
    progress: BTreeMap<Arc<str>, Progress>,
    /// The problem found by the last check, if any: pings stop.
    problem: Option<String>,
    /// Why the box is unhealthy without being wedged: pings go on.
    degraded: Option<String>,
}

impl Watchdog {
    /// Reads `WATCHDOG_USEC` (and `WATCHDOG_PID`) as systemd sets them.
    pub fn from_env() -> Self {
        let interval = sd_notify::watchdog_enabled();
        Self {
            period: interval.map(|i| (i / 2).max(Duration::from_millis(100))),
            window: interval.map_or(DEFAULT_WINDOW, |i| (i / 2).max(Duration::from_secs(1))),
            last_ping: None,
            progress: BTreeMap::new(),
            problem: None,
            degraded: None,
        }
    }

    /// Why the box is not healthy, after the last check; None when it is.
    pub fn why(&self) -> Option<String> {
        match (&self.problem, &self.degraded) {
            (Some(p), Some(d)) => Some(format!("{p}; {d}")),
            (p, d) => p.clone().or_else(|| d.clone()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.period.is_some()
    }

    /// Checks every part; pings systemd when all are alive and a ping is due.
    /// Returns whether the box is healthy.
    /// `ended` names the shared workers whose threads have ended: the box is
    /// wedged, the pings stop and systemd restarts it. `outbox` says why the
    /// outbox can keep nothing new (it cannot write and its memory hold is
    /// full), if so: the box is unhealthy (metric, status line, journal) but
    /// the pings go on, since a restart would lose the events held in memory
    /// and would not free the disk.
    pub fn tick(
        &mut self,
        cameras: &[Probe<'_>],
        publisher_running: bool,
        ended: &[String],
        outbox: Option<String>,
    ) -> bool {
        let now = Instant::now();
        let mut wedged = self.check(cameras, publisher_running, now);
        if !ended.is_empty() {
            let lost = format!("ended: {}", ended.join(", "));
            wedged = Some(wedged.map_or(lost.clone(), |p| format!("{p}; {lost}")));
        }
        if wedged != self.problem {
            match &wedged {
                Some(p) => {
                    tracing::error!(problem = %p, "watchdog: the pipeline is wedged; systemd pings stop");
                    status(&format!("wedged: {p}"));
                }
                None if self.problem.is_some() => {
                    tracing::info!("watchdog: every part is moving again");
                    status(&format!("running {} camera(s)", cameras.len()));
                }
                None => {}
            }
            self.problem = wedged;
        }
        let down: Vec<String> = cameras
            .iter()
            .filter_map(|probe| {
                let stream = &probe.view.stream;
                let secs = down_for(stream)?;
                (secs > CAMERA_DOWN_LIMIT).then(|| {
                    let why = stream.reason().map(|r| format!(": {r}")).unwrap_or_default();
                    format!(
                        "camera `{}` down for more than {} s{why}",
                        probe.view.name,
                        CAMERA_DOWN_LIMIT.as_secs()
                    )
                })
            })
            .collect();
        let outbox = match (outbox, down.is_empty()) {
            (outbox, true) => outbox,
            (None, false) => Some(down.join("; ")),
            (Some(why), false) => Some(format!("{why}; {}", down.join("; "))),
        };
        if outbox != self.degraded {
            match &outbox {
                Some(why) => {
                    tracing::error!(problem = %why, "the box is not healthy; it keeps running (a restart would lose the events held in memory and bring no camera back)");
                    status(&format!("degraded: {why}"));
                }
                None => {
                    tracing::info!("the box is healthy again");
                    if self.problem.is_none() {
                        status(&format!("running {} camera(s)", cameras.len()));
                    }
                }
            }
            self.degraded = outbox;
        }
        if let Some(period) = self.period
            && self.problem.is_none()
            && self.last_ping.is_none_or(|t| now.duration_since(t) >= period)
        {
            notify(&[NotifyState::Watchdog]);
            self.last_ping = Some(now);
        }
        self.problem.is_none() && self.degraded.is_none()
    }

    fn check(&mut self, cameras: &[Probe<'_>], publisher_running: bool, now: Instant) -> Option<String> {
        self.progress
            .retain(|name, _| cameras.iter().any(|c| c.view.name.as_ref() == name.as_ref()));
        let mut problems = Vec::new();
        if !publisher_running {
            problems.push("the MQTT publisher task has ended".to_string());
        }
        for probe in cameras {
            let view = probe.view;
            let decoded = view.stream.decoded.load(Relaxed);
            let stats = &view.slot.stats;
            let taken = stats.taken.load(Relaxed);
            let p = self.progress.entry(view.name.clone()).or_insert(Progress {
                decoded,
                taken,
                decode_moved: now,
                detect_moved: now,
            });
            // Connecting and backoff are expected waits, with their own timeouts.
            if decoded != p.decoded || view.stream.state() != CameraState::Streaming {
                p.decoded = decoded;
                p.decode_moved = now;
            }
            // Waiting for a frame is progress too: nothing is stuck in the slot.
            let pending = stats
                .delivered
                .load(Relaxed)
                .saturating_sub(stats.dropped.load(Relaxed))
                .saturating_sub(taken);
            if taken != p.taken || pending == 0 {
                p.taken = taken;
                p.detect_moved = now;
            }
            let name = &view.name;
            match probe.threads {
                (false, false) => continue, // ended: a recording, or a failed file
                (true, false) => {
                    problems.push(format!("camera `{name}`: the detect thread has ended"));
                    continue;
                }
                _ => {}
            }
            if probe.threads.1 && now.duration_since(p.detect_moved) > self.window {
                problems.push(format!(
                    "camera `{name}`: the detect thread took no frame for {} s",
                    now.duration_since(p.detect_moved).as_secs()
                ));
            }
            // A streaming live camera's own stall check rebuilds it after
            // `stall`; beyond that, its decode thread is stuck.
            let decode_limit = if probe.live { probe.stall } else { Duration::ZERO } + self.window;
            if probe.threads.0
                && view.stream.state() == CameraState::Streaming
                && now.duration_since(p.decode_moved) > decode_limit
            {
                problems.push(format!(
                    "camera `{name}`: streaming but no frame decoded for {} s",
                    now.duration_since(p.decode_moved).as_secs()
                ));
            }
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_shared_worker_makes_the_box_unhealthy_until_it_runs_again() {
        let mut watchdog = Watchdog::from_env();
        assert!(watchdog.tick(&[], true, &[], None));
        assert!(!watchdog.tick(&[], true, &["the snapshot worker".to_string()], None));
        assert!(
            watchdog
                .problem
                .as_deref()
                .is_some_and(|p| p.contains("snapshot worker"))
        );
        assert!(watchdog.tick(&[], true, &[], None));
    }

    #[test]
    fn a_full_outbox_hold_is_unhealthy_but_keeps_the_pings_so_nothing_held_is_lost() {
        let mut watchdog = Watchdog::from_env();
        watchdog.period = Some(Duration::ZERO);
        assert!(!watchdog.tick(&[], true, &[], Some("the outbox keeps nothing".into())));
        assert!(watchdog.last_ping.is_some(), "a restart would lose the held events");
        assert!(
            watchdog
                .degraded
                .as_deref()
                .is_some_and(|p| p.contains("outbox keeps nothing"))
        );
        assert!(watchdog.tick(&[], true, &[], None));
        // a wedged part still stops them
        watchdog.last_ping = None;
        assert!(!watchdog.tick(&[], true, &["the snapshot worker".to_string()], None));
        assert!(watchdog.last_ping.is_none());
    }
}
