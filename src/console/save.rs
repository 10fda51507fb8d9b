//! The editor's Save: the edit is written over the file's text with
//! [`super::document`], the result checked exactly as `check-config` checks
//! a file (every problem comes back with its `file:line:col` text and the
//! field it is about), and only a clean result is written — the previous
//! file kept beside it as `<name>.bak`, the new one put in place by a
//! rename — and applied through the reload SIGHUP asks for. A file changed
//! on disk since the editor loaded it (its hash differs) is not
//! overwritten. Every change written is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest;

use super::document::{self, CameraEdit};

/// The check `check-config` runs, on a file's path and (new) text: Ok, or
/// its problems, one `file:line:col: message` line each.
pub type CheckFn = Arc<dyn Fn(&Path, String) -> Result<(), Vec<String>> + Send + Sync>;

/// What the app reports of each reload, so a save can say whether it applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Reloads begun so far.
    pub begun: u64,
    /// The number of the last reload that finished, and how ("applied", …).
    pub finished: u64,
    pub outcome: String,
}

/// How long a save waits to hear how its reload went.
const RELOAD_WAIT: Duration = Duration::from_secs(60);

/// The config file, the check and the reload a save goes through.
pub struct Editor {
    path: PathBuf,
    check: CheckFn,
    reload: tokio::sync::mpsc::UnboundedSender<()>,
    reloads: tokio::sync::watch::Receiver<ReloadReport>,
    /// One save at a time.
    busy: tokio::sync::Mutex<()>,
}

/// The hash a save must send back: the file as the editor loaded it.
pub fn etag(text: &str) -> String {
    format!("{:x}", sha2::Sha256::digest(text.as_bytes()))
}

impl Editor {
    pub fn new(
        path: PathBuf,
        check: CheckFn,
        reload: tokio::sync::mpsc::UnboundedSender<()>,
        reloads: tokio::sync::watch::Receiver<ReloadReport>,
    ) -> Self {
        Self {
            path,
            check,
            reload,
            reloads,
            busy: tokio::sync::Mutex::new(()),
        }
    }
}

fn problem(status: StatusCode, text: String) -> Response {
    (status, axum::Json(json!({ "error": text }))).into_response()
}

/// `GET /api/config`: every camera's zones, masks and rules, and the file's hash.
pub async fn load(State(editor): State<Arc<Editor>>) -> Response {
    let path = &editor.path;
    let text = match tokio::fs::read_to_string(path).await {
        Ok(text) => text,
        Err(e) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            );
        }
    };
    match document::read(&text) {
        Ok(cameras) => axum::Json(json!({
            "etag": etag(&text),
            "path": path.display().to_string(),
            "cameras": cameras,
        }))
        .into_response(),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveRequest {
    /// The hash `GET /api/config` gave.
    etag: String,
    edit: CameraEdit,
}

/// The line of a `file:line:col: message` text.
fn line_of(problem: &str, path: &Path) -> Option<usize> {
    let rest = problem.strip_prefix(&format!("{}:", path.display()))?;
    rest.split(':').next()?.parse().ok()
}

/// `POST /api/config`: writes one camera's edit (see the module comment).
pub async fn save(State(editor): State<Arc<Editor>>, axum::Json(request): axum::Json<SaveRequest>) -> Response {
    let _one = editor.busy.lock().await;
    let path = editor.path.clone();
    let text = match tokio::fs::read_to_string(&path).await {
        Ok(text) => text,
        Err(e) => {
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read {}: {e}", path.display()),
            );
        }
    };
    if etag(&text) != request.etag {
        tracing::warn!(config = %path.display(), "console: save refused, the file changed on disk since it was loaded");
        return problem(
            StatusCode::CONFLICT,
            format!(
                "{} changed on disk since the editor loaded it; nothing was saved. Reload the editor to see the file as it is now, then make your change again.",
                path.display()
            ),
        );
    }
    let (new_text, changes) = match document::apply(&text, &request.edit) {
        Ok(done) => done,
        Err(e) => return problem(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    if changes.is_empty() {
        return axum::Json(json!({ "saved": false, "message": "nothing changed", "etag": request.etag }))
            .into_response();
    }
    let check = editor.check.clone();
    let (checked_path, checked_text) = (path.clone(), new_text.clone());
    let checked = tokio::task::spawn_blocking(move || check(&checked_path, checked_text))
        .await
        .unwrap_or_else(|e| Err(vec![format!("the check failed: {e}")]));
    if let Err(problems) = checked {
        let fields = document::field_lines(&new_text, &request.edit.camera);
        let errors: Vec<_> = problems
            .iter()
            .map(|p| {
                let field = line_of(p, &path).and_then(|line| document::field_at(&fields, line));
                json!({ "text": p, "field": field })
            })
            .collect();
        tracing::info!(config = %path.display(), problems = problems.len(), "console: save refused, the edited config does not pass the check");
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(
                json!({ "error": "the edited config does not pass the check; nothing was saved", "errors": errors }),
            ),
        )
            .into_response();
    }
    if let Err(e) = write(&path, &text, &new_text).await {
        tracing::error!(config = %path.display(), error = %e, "console: cannot write the config");
        return problem(StatusCode::INTERNAL_SERVER_ERROR, e);
    }
    for change in &changes {
        tracing::info!(config = %path.display(), change = %change, "console: config changed");
    }
    let mut reloads = editor.reloads.clone();
    let asked = reloads.borrow().begun;
    let _ = editor.reload.send(());
    let outcome = tokio::time::timeout(RELOAD_WAIT, reloads.wait_for(|r| r.finished > asked))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|r| r.outcome.clone())
        .unwrap_or_else(|| "pending".to_string());
    axum::Json(json!({
        "saved": true,
        "changes": changes,
        "reload": outcome,
        "etag": etag(&new_text),
        "backup": backup_path(&path).display().to_string(),
    }))
    .into_response()
}

fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// Keeps `old` as the backup and puts `new` in place by a rename, keeping
/// the file's permissions.
async fn write(path: &Path, old: &str, new: &str) -> Result<(), String> {
    let backup = backup_path(path);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(path.file_name().unwrap_or_default());
    temp_name.push(".console-new");
    let temp = path.with_file_name(temp_name);
    let permissions = tokio::fs::metadata(path).await.map(|m| m.permissions()).ok();
    tokio::fs::write(&backup, old)
        .await
        .map_err(|e| format!("cannot keep the backup {}: {e}", backup.display()))?;
    tokio::fs::write(&temp, new)
        .await
        .map_err(|e| format!("cannot write {}: {e}", temp.display()))?;
    if let Some(permissions) = permissions {
        let _ = tokio::fs::set_permissions(&temp, permissions).await;
    }
    tokio::fs::rename(&temp, path)
        .await
        .map_err(|e| format!("cannot replace {}: {e}", path.display()))
}
