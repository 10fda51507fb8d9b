//! Acknowledging an incident from the incidents page: `POST
//! /api/incidents/{id}/ack` with an optional note. The acknowledgement is
//! kept in the outbox and published on `<prefix>/<camera>/acks` (so the
//! office hears of it even after the broker was away), told to every open
//! console through the feed and kept in the page's history
//! ([`super::history`]).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::feed::Feed;
use crate::observe::metrics::Live;
use crate::publish::Topics;

/// A note's length at most, in bytes.
pub const MAX_NOTE: usize = 256;

/// What acknowledging needs: the box's topics.
pub struct Review {
    topics: Topics,
}

impl Review {
    pub fn new(topics: Topics) -> Self {
        Self { topics }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    #[serde(default)]
    note: Option<String>,
}

fn refused(status: StatusCode, text: String) -> Response {
    (status, axum::Json(json!({ "error": text }))).into_response()
}

/// `POST /api/incidents/{id}/ack`: acknowledges an incident the box raised.
pub async fn ack(
    State(review): State<Arc<Review>>,
    State(feed): State<Arc<Feed>>,
    State(live): State<Arc<Live>>,
    Path(incident): Path<String>,
    axum::Json(request): axum::Json<AckRequest>,
) -> Response {
    let note = request.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if let Some(note) = note
        && (note.len() > MAX_NOTE || note.chars().any(char::is_control))
    {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("a note is one line of at most {MAX_NOTE} bytes"),
        );
    }
    let events = feed.events_of(&incident);
    let Some(first) = events.first() else {
        return refused(
            StatusCode::NOT_FOUND,
            format!("no incident `{incident}` is kept on this box"),
        );
    };
    let text = |key: &str| first.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let camera = text("camera");
    let payload = json!({
        "schema": 1,
        "incident_id": incident,
        "camera": camera,
        "rule": text("rule"),
        "zone": text("zone"),
        "time": jiff::Timestamp::now().round(jiff::Unit::Millisecond).unwrap_or(jiff::Timestamp::UNIX_EPOCH).to_string(),
        "note": note,
        "by": "console",
    })
    .to_string();
    let topic = review.topics.acks(&camera);
    let outbox = live.outbox.clone();
    let (stored_camera, stored_payload, stored_incident) = (camera.clone(), payload.clone(), incident.clone());
    let stored =
        tokio::task::spawn_blocking(move || outbox.push_ack(&stored_camera, topic, stored_payload, &stored_incident))
            .await;
    match stored {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return refused(StatusCode::SERVICE_UNAVAILABLE, format!("not acknowledged: {e}")),
        Err(_) => return refused(StatusCode::INTERNAL_SERVER_ERROR, "not acknowledged".into()),
    }
    tracing::info!(incident = %incident, camera = %camera, note = note.unwrap_or(""), "console: incident acknowledged");
    feed.ack(&camera, &payload);
    (
        StatusCode::OK,
        axum::Json(serde_json::from_str::<serde_json::Value>(&payload).unwrap_or_default()),
    )
        .into_response()
}
