//! The cameras' part of the periodic health message on `<prefix>/stats`:
//! each camera's state and counters, read from the live views at the moment
//! the publisher asks.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::metrics::Live;
use crate::publish::StatsSource;

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
            "uptime_secs": started.elapsed().as_secs(),
            "cameras": cameras,
        })
    })
}
