//! The health page's data: whether the box is well, the outbox (events
//! waiting for the broker), the broker link and a summary of the metrics
//! the box already keeps ([`crate::observe`]); read at request time, never
//! steering anything.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use serde_json::{Value, json};

use crate::observe::health::{CAMERA_DOWN_LIMIT, down_for};
use crate::observe::metrics::{Live, Metrics};

/// `GET /api/health`: why the box is or is not healthy, each camera's state
/// with its reason, the outbox, the broker link and a metrics summary.
pub async fn health(State(live): State<Arc<Live>>, State(metrics): State<Arc<Metrics>>) -> axum::Json<Value> {
    let cameras: Vec<Value> = live
        .cameras()
        .iter()
        .map(|c| {
            let state = c.stream.state();
            let since = c.stream.down_since().unwrap_or_else(|| c.stream.since());
            let down = down_for(&c.stream);
            json!({
                "name": &*c.name,
                "state": state.to_string(),
                "since": super::cameras::wall_time(since),
                "reason": c.stream.reason(),
                "down": down.is_some_and(|d| d > CAMERA_DOWN_LIMIT),
                "down_secs": down.map(|d| d.as_secs()),
                "reconnects": c.stream.reconnects.load(Relaxed),
            })
        })
        .collect();
    let why = live.unhealthy.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (pending, oldest) = live.outbox.depth().unwrap_or((0, None));
    let connected = live.publisher.get().map(|p| p.connected.load(Relaxed));
    let summary: Vec<Value> = metrics
        .render()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.contains("_bucket") && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' '))
        .take(200)
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    axum::Json(json!({
        "healthy": live.healthy.load(Relaxed) == 1,
        "why": why,
        "down_limit_secs": CAMERA_DOWN_LIMIT.as_secs(),
        "cameras": cameras,
        "outbox": { "pending": pending, "oldest_seq": oldest, "writable": live.outbox.writable() },
        "broker": { "connected": connected },
        "metrics": summary,
    }))
}
