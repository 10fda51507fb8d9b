//! The cameras' part of the periodic health message on `<prefix>/stats`:
//! each camera's state and counters, read from the live views at the moment
//! the publisher asks; and each camera's retained status on
//! `<prefix>/<camera>/status` ([`camera_status`]).

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::metrics::Live;
use crate::publish::{CameraStatus, StatsSource, StatusSource};
use crate::rules::health::Conditions;

/// The cameras' part of the health message on `<prefix>/stats`.
pub fn camera_stats(live: Arc<Live>) -> StatsSource {
    let started = std::time::Instant::now();
    Arc::new(move || {
        let cameras: serde_json::Map<String, serde_json::Value> = live
            .cameras()
            .iter()
            .map(|c| {
                let value = serde_json::json!({
                    "state": c.stream.state().to_string(),
                    "reconnects": c.stream.reconnects.load(Relaxed),
                    "decoded": c.stream.decoded.load(Relaxed),
                    "frames": c.slot.stats.delivered.load(Relaxed),
                    "dropped": c.slot.stats.dropped.load(Relaxed),
                    "inferred": c.stats.inferred.load(Relaxed),
                    "skipped_still": c.stats.skipped.load(Relaxed),
                    "events": c.stats.events.load(Relaxed),
                });
                (c.name.to_string(), value)
            })
            .collect();
        serde_json::json!({
            "time": jiff::Timestamp::now().to_string(),
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": started.elapsed().as_secs(),
            "cameras": cameras,
        })
    })
}

/// Per camera: the decoded count and when it was read, and the rate then
/// (None until measured).
type Rates = HashMap<Arc<str>, (u64, Instant, Option<f64>)>;

/// The frame rate is measured over at least this long.
const FPS_WINDOW: Duration = Duration::from_secs(2);

/// Each camera's status for `<prefix>/<camera>/status`: its state and since
/// when, the decoder's frame rate (null until measured, over 2 s), the age of
/// its last frame (null before the first) and its open health conditions.
/// State and conditions are what make a status change.
pub fn camera_status(live: Arc<Live>) -> StatusSource {
    let rates: Mutex<Rates> = Mutex::default();
    Arc::new(move || {
        let now = Instant::now();
        let mut rates = rates.lock().unwrap_or_else(|p| p.into_inner());
        let cameras = live.cameras();
        rates.retain(|name, _| cameras.iter().any(|c| &c.name == name));
        cameras
            .iter()
            .map(|c| {
                let decoded = c.stream.decoded.load(Relaxed);
                let (count, at, fps) = rates.entry(c.name.clone()).or_insert((decoded, now, None));
                let elapsed = now.duration_since(*at);
                if elapsed >= FPS_WINDOW {
                    *fps = Some(decoded.saturating_sub(*count) as f64 / elapsed.as_secs_f64());
                    (*count, *at) = (decoded, now);
                }
                let down = super::health::down_for(&c.stream)
                    .is_some_and(|d| d > super::health::CAMERA_DOWN_LIMIT);
                let reason = c.stream.reason();
                let state = c.stream.state().to_string();
                let health = Conditions::from_bits(c.stats.health.load(Relaxed));
                let conditions: Vec<&str> = health.names().collect();
                let age = (decoded > 0).then(|| round1(c.stream.since_frame().as_secs_f64()));
                let since = jiff::Timestamp::try_from(c.stream.since())
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
                    .round(jiff::Unit::Second)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                CameraStatus {
                    camera: c.name.to_string(),
                    // the first measured rate is news too
                    key: format!("{state}|{}|{}|{down}", health.bits(), fps.is_some()),
                    payload: serde_json::json!({
                        "camera": &*c.name,
                        "state": state,
                        "since": since.to_string(),
                        "fps": fps.map(round1),
                        "last_frame_age_secs": age,
                        "health": conditions,
                        "down": down,
                        "reason": reason,
                        "time": jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_string(),
                    }),
                }
            })
            .collect()
    })
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}
