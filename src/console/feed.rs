//! The incidents page's feed: every incident event the box stores in its
//! outbox, and every redacted snapshot, as they happen, sent to browsers as
//! server-sent events. The cameras hand events to a broadcast channel and
//! never wait: a browser that reads too slowly misses events (it is told
//! how many) rather than holding anything up. The last events,
//! acknowledgements and snapshots are kept for a page that opens later,
//! and on disk ([`super::history`]) for one that opens after a restart.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::broadcast;

use super::history::History;
use super::picture::{jpeg_response, kept_response};
use crate::anonymize::{Alert, RedactedJpeg};

/// Events a browser may fall behind by before it misses some.
const CHANNEL: usize = 256;
/// Events kept for pages that open later.
const RECENT: usize = 1000;
/// Snapshots kept.
const SNAPSHOTS: usize = 64;

/// One thing the feed tells browsers.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// An incident event, as its JSON payload.
    Incident { camera: Arc<str>, json: Arc<str> },
    /// A redacted snapshot of an incident was published.
    Snapshot { camera: Arc<str>, incident: Arc<str> },
    /// An operator acknowledged an incident, as its JSON payload.
    Ack { camera: Arc<str>, json: Arc<str> },
}

/// The broadcast of incident events and snapshots.
pub struct Feed {
    tx: broadcast::Sender<FeedEvent>,
    recent: Mutex<VecDeque<FeedEvent>>,
    snapshots: Mutex<VecDeque<(Arc<str>, Arc<RedactedJpeg>)>>,
    history: Option<History>,
    /// The state directory, where sealed evidence clips are kept.
    evidence: Option<std::path::PathBuf>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(CHANNEL).0,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            snapshots: Mutex::new(VecDeque::with_capacity(SNAPSHOTS)),
            history: None,
            evidence: None,
        }
    }

    /// The feed also hands out the box's sealed evidence clips, kept under
    /// `state_dir` (`GET /api/clips/{incident}`).
    pub fn with_evidence(mut self, state_dir: &std::path::Path) -> Self {
        self.evidence = Some(state_dir.to_path_buf());
        self
    }

    /// A feed that keeps its history on disk and starts from what is kept there.
    pub fn with_history(history: History) -> Self {
        let mut feed = Self::new();
        {
            let mut recent = feed.recent.lock().unwrap_or_else(|p| p.into_inner());
            for line in history.load() {
                let camera: Arc<str> = Arc::from(line.camera.as_str());
                let data: Arc<str> = Arc::from(line.data.as_str());
                let event = match line.kind.as_str() {
                    "incident" => FeedEvent::Incident { camera, json: data },
                    "snapshot" => FeedEvent::Snapshot { camera, incident: data },
                    "ack" => FeedEvent::Ack { camera, json: data },
                    _ => continue,
                };
                if recent.len() == RECENT {
                    recent.pop_front();
                }
                recent.push_back(event);
            }
        }
        feed.history = Some(history);
        feed
    }

    fn push(&self, event: FeedEvent) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(event.clone());
        drop(recent);
        // No receiver is no browser open: nothing to do.
        let _ = self.tx.send(event);
    }

    /// An incident event was stored in the outbox.
    pub fn incident(&self, alert: &Alert) {
        match serde_json::to_string(alert) {
            Ok(json) => {
                if let Some(history) = &self.history {
                    history.append("incident", alert.camera(), &json);
                }
                self.push(FeedEvent::Incident {
                    camera: Arc::from(alert.camera()),
                    json: Arc::from(json),
                })
            }
            Err(e) => tracing::debug!(error = %e, "console: an alert did not serialise"),
        }
    }

    /// A redacted snapshot of `incident` was published.
    pub fn snapshot(&self, camera: &str, incident: &str, jpeg: Arc<RedactedJpeg>) {
        let incident: Arc<str> = Arc::from(incident);
        let mut kept = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == SNAPSHOTS {
            kept.pop_front();
        }
        if let Some(history) = &self.history {
            history.keep_snapshot(&incident, &jpeg);
            history.append("snapshot", camera, &incident);
        }
        kept.push_back((incident.clone(), jpeg));
        drop(kept);
        self.push(FeedEvent::Snapshot {
            camera: Arc::from(camera),
            incident,
        });
    }

    /// An operator acknowledged an incident (`json`: the acknowledgement as published).
    pub fn ack(&self, camera: &str, json: &str) {
        if let Some(history) = &self.history {
            history.append("ack", camera, json);
        }
        self.push(FeedEvent::Ack {
            camera: Arc::from(camera),
            json: Arc::from(json),
        });
    }

    /// The kept event JSON of an incident's events, oldest first.
    pub fn events_of(&self, incident: &str) -> Vec<serde_json::Value> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|e| match e {
                FeedEvent::Incident { json, .. } => serde_json::from_str::<serde_json::Value>(json).ok(),
                _ => None,
            })
            .filter(|v| v.get("incident_id").and_then(|i| i.as_str()) == Some(incident))
            .collect()
    }

    pub fn recent(&self) -> Vec<FeedEvent> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The time (`time` field) of the camera's last incident event.
    pub fn last_incident(&self, camera: &str) -> Option<String> {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find_map(|e| match e {
                FeedEvent::Incident { camera: c, json } if &**c == camera => {
                    serde_json::from_str::<serde_json::Value>(json)
                        .ok()
                        .and_then(|v| v.get("time").and_then(|t| t.as_str()).map(str::to_string))
                }
                _ => None,
            })
    }

    fn snapshot_of(&self, incident: &str) -> Option<Arc<RedactedJpeg>> {
        self.snapshots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .find(|(id, _)| &**id == incident)
            .map(|(_, jpeg)| jpeg.clone())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FeedEvent> {
        self.tx.subscribe()
    }
}

fn sse_event(event: &FeedEvent) -> Event {
    match event {
        FeedEvent::Incident { json, .. } => Event::default().event("incident").data(&**json),
        FeedEvent::Snapshot { camera, incident } => Event::default()
            .event("snapshot")
            .data(serde_json::json!({ "camera": &**camera, "incident_id": &**incident }).to_string()),
        FeedEvent::Ack { json, .. } => Event::default().event("ack").data(&**json),
    }
}

/// `GET /api/incidents/events`: the kept events, then each new one as it happens.
pub async fn events(State(feed): State<Arc<Feed>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = feed.subscribe();
    let backlog: VecDeque<Event> = feed.recent().iter().map(sse_event).collect();
    let stream = futures_util::stream::unfold((backlog, rx), |(mut backlog, mut rx)| async move {
        if let Some(event) = backlog.pop_front() {
            return Some((Ok(event), (backlog, rx)));
        }
        match rx.recv().await {
            Ok(event) => Some((Ok(sse_event(&event)), (backlog, rx))),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                let note = Event::default().event("missed").data(missed.to_string());
                Some((Ok(note), (backlog, rx)))
            }
            Err(broadcast::error::RecvError::Closed) => None,
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /api/snapshots/{incident}`: a published snapshot (redacted).
pub async fn snapshot(State(feed): State<Arc<Feed>>, Path(incident): Path<String>) -> Response {
    if let Some(jpeg) = feed.snapshot_of(&incident) {
        return jpeg_response(&jpeg);
    }
    match feed.history.as_ref().and_then(|h| h.snapshot(&incident)) {
        Some(kept) => kept_response(&kept),
        None => (StatusCode::NOT_FOUND, "no snapshot of that incident is kept").into_response(),
    }
}

/// `GET /api/clips/{incident}`: the incident's evidence clip, sealed (its
/// signed manifest beside it) and so redacted frame by frame before it was
/// encoded.
pub async fn clip(State(feed): State<Arc<Feed>>, Path(incident): Path<String>) -> Response {
    let Some(state_dir) = feed.evidence.clone() else {
        return (StatusCode::NOT_FOUND, "this box keeps no evidence clips").into_response();
    };
    let read = tokio::task::spawn_blocking(move || {
        crate::evidence::store::sealed_clip(&state_dir, &incident).map(std::fs::read)
    })
    .await;
    match read {
        Ok(Some(Ok(mp4))) => (
            [
                (axum::http::header::CONTENT_TYPE, "video/mp4"),
                (axum::http::header::CACHE_CONTROL, "private, max-age=3600"),
            ],
            mp4,
        )
            .into_response(),
        Ok(Some(Err(error))) => {
            tracing::warn!(%error, "an evidence clip cannot be read for the console");
            (StatusCode::INTERNAL_SERVER_ERROR, "the clip cannot be read").into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no sealed clip of that incident is kept").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_reader_misses_events_and_the_sender_never_waits() {
        let feed = Feed::new();
        let mut rx = feed.subscribe();
        let sent = CHANNEL.max(RECENT) + 10;
        for i in 0..sent {
            feed.push(FeedEvent::Snapshot {
                camera: Arc::from("c"),
                incident: Arc::from(i.to_string()),
            });
        }
        let missed = (sent - CHANNEL) as u64;
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(n)) if n == missed));
        assert_eq!(feed.recent().len(), RECENT);
    }

    #[tokio::test]
    async fn the_console_hands_out_a_sealed_clip_and_nothing_else() {
        use crate::evidence::verify::MANIFEST_SUFFIX;
        let dir = tempfile::tempdir().unwrap();
        let clips = dir.path().join(crate::evidence::store::DIR).join("clips");
        std::fs::create_dir_all(&clips).unwrap();
        let id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
        std::fs::write(clips.join(format!("t_gate_{id}.mp4")), b"the clip").unwrap();
        std::fs::write(clips.join(format!("t_gate_{id}{MANIFEST_SUFFIX}")), b"{}").unwrap();
        let feed = Arc::new(Feed::new().with_evidence(dir.path()));
        let response = clip(State(feed.clone()), Path(id.to_string())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "video/mp4");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert_eq!(&body[..], b"the clip");
        for other in ["0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c", "../clips", "t_gate"] {
            let response = clip(State(feed.clone()), Path(other.to_string())).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{other}");
        }
        let without = clip(State(Arc::new(Feed::new())), Path(id.to_string())).await;
        assert_eq!(without.status(), StatusCode::NOT_FOUND, "a feed without evidence");
    }
}
