//! "Try on the last minute": what the editor's unsaved rules would have
//! raised on what a camera saw in the last minute.
//!
//! Each camera's detect thread keeps the tracker's output of its last
//! minute in a [`Recent`](super::recent::Recent) ring (stream time, wall time and the confirmed
//! tracks of every analysed frame; the slots are reused, so a warm camera
//! allocates nothing). A trial applies the edit to the file's text as a
//! save would, checks it as `check-config` does, and runs the edited
//! camera's rules over that ring with a fresh rule engine — the app hands
//! in that run ([`TrialFn`]), since this layer sits below the plan. Nothing
//! is written, reloaded or published, and no picture is involved: the
//! answer is the events, by rule, with their labels and how long ago.
//! Rules that watch pixels (`thrown_object`) and camera health need frames,
//! which the ring does not keep: a trial names them as not tried.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cameras::Cameras;
use super::document::{self, CameraEdit};
use super::recent::TrackFrame;

/// One event a trial would have raised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrialEvent {
    /// `start`, `update` or `end`.
    pub event: String,
    pub rule: String,
    pub zone: String,
    pub labels: Vec<String>,
    /// How long before the trial it would have been raised.
    pub secs_ago: f64,
}

/// What a trial found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrialResult {
    pub events: Vec<TrialEvent>,
    /// Frames replayed, and the seconds they span.
    pub frames: usize,
    pub secs: f64,
    /// Rules the ring cannot try (they watch pixels), by name.
    pub not_tried: Vec<String>,
}

/// The run the app hands in: the config's path, the edited text, the
/// camera and its recent frames → what its edited rules raise, or the
/// check's problems (`file:line:col: message`).
pub type TrialFn = Arc<dyn Fn(&Path, String, &str, &[TrackFrame]) -> Result<TrialResult, Vec<String>> + Send + Sync>;

/// The config file and the run a trial goes through.
pub struct Trial {
    path: PathBuf,
    run: TrialFn,
    /// One trial at a time: each checks a whole config and replays a minute.
    running: tokio::sync::Semaphore,
}

impl Trial {
    pub fn new(path: PathBuf, run: TrialFn) -> Self {
        Self {
            path,
            run,
            running: tokio::sync::Semaphore::new(1),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    edit: CameraEdit,
}

fn problem(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// `POST /api/cameras/{name}/try`: the edit, tried on the camera's last minute.
pub async fn try_edit(
    State(trial): State<Arc<Trial>>,
    State(cameras): State<Arc<Cameras>>,
    UrlPath(name): UrlPath<String>,
    axum::Json(request): axum::Json<TryRequest>,
) -> Response {
    let Ok(_running) = trial.running.try_acquire() else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, "1")],
            axum::Json(json!({ "error": "another trial is running; try again in a moment" })),
        )
            .into_response();
    };
    let Some(camera) = cameras.get(&name) else {
        return problem(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no camera `{name}` is running") }),
        );
    };
    if request.edit.camera != name {
        return problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "error": format!("the edit is for camera `{}`, not `{name}`", request.edit.camera) }),
        );
    }
    let text = match tokio::fs::read_to_string(&trial.path).await {
        Ok(text) => text,
        Err(e) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": format!("cannot read {}: {e}", trial.path.display()) }),
            );
        }
    };
    let new_text = match document::apply(&text, &request.edit) {
        Ok((new_text, _)) => new_text,
        Err(e) => return problem(StatusCode::UNPROCESSABLE_ENTITY, json!({ "error": e.to_string() })),
    };
    let frames = camera.overlay.recent.frames();
    let (run, path) = (trial.run.clone(), trial.path.clone());
    let found = tokio::task::spawn_blocking(move || run(&path, new_text, &name, &frames))
        .await
        .unwrap_or_else(|e| Err(vec![format!("the trial failed: {e}")]));
    match found {
        Ok(result) => axum::Json(result).into_response(),
        Err(problems) => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "error": "the edited config does not pass the check; nothing was tried", "errors": problems }),
        ),
    }
}
