//! The editor's Save: the edit is written over the file's text with
//! [`super::document`], the result checked exactly as `check-config` checks
//! a file (every problem comes back with its `file:line:col` text and the
//! field it is about), and only a clean result is written — the previous
//! file kept beside it as `<name>.bak`, the new one put in place by a
//! rename — and applied through the reload SIGHUP asks for. A file changed
//! on disk since the editor loaded it (its hash differs) is not
//! overwritten. Every change written is logged.
//!
//! Saves are durable and private: each file is written fresh (never through
//! a symbolic link) with the config's mode and owner, flushed, renamed into
//! place, and the folder flushed. The service may write the file it saves,
//! so Save refuses a config that holds a secret or names a secret file in
//! its own folder ([`refusal`]): secrets live where the service may only
//! read them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sha2::Digest;

use super::auth::Fresh;
use super::document::{self, CameraEdit};
use super::reauth;

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
            // why Save would refuse this file, shown before anyone edits
            "refused": refusal(path, &text),
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
pub async fn save(
    State(editor): State<Arc<Editor>>,
    fresh: Option<axum::Extension<Fresh>>,
    axum::Json(request): axum::Json<SaveRequest>,
) -> Response {
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
    if let Some(reason) = refusal(&path, &text) {
        tracing::warn!(config = %path.display(), reason = %reason, "console: save refused");
        return problem(StatusCode::CONFLICT, reason);
    }
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
    // Removing what protects people needs a recent password check (a
    // request that did not pass the guard is never fresh).
    let before = document::read(&text)
        .ok()
        .and_then(|cameras| cameras.into_iter().find(|c| c.camera == request.edit.camera));
    let removed = before.map_or_else(Vec::new, |before| reauth::removals(&before, &request.edit));
    if !removed.is_empty() && !fresh.is_some_and(|f| f.0.0) {
        tracing::info!(config = %path.display(), removed = %removed.join("; "), "console: save held until the password is confirmed");
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({
                "error": format!("{} needs your password again; nothing was saved yet", removed.join(", ")),
                "reauth": true,
            })),
        )
            .into_response();
    }
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

/// Why the console will not save over `path` holding `text`, or None. The
/// service may write the file it saves and the folder around it, so that
/// file must hold no secret and must not name a secret file in that folder
/// (docs/console.md, "Where Save writes").
pub fn refusal(path: &Path, text: &str) -> Option<String> {
    if managed_by_office(text) {
        return Some(format!(
            "{} is managed by the security office: signed config bundles replace it whole (docs/fleet-config.md), so a local edit would be lost at the next bundle and never reach the office's record; nothing was saved. Make the change at the office and roll it out.",
            path.display()
        ));
    }
    let inline = document::inline_secrets(text);
    if !inline.is_empty() {
        return Some(format!(
            "{} holds secrets, and Save would keep them in a file the service may write; nothing was saved. Move each to a file the service may only read (docs/console.md, \"Where Save writes\"): {}",
            path.display(),
            inline.join("; ")
        ));
    }
    let folder = folder_of(path);
    let real_folder = std::fs::canonicalize(&folder).ok()?;
    let inside: Vec<String> = document::secret_files(text)
        .into_iter()
        .filter(|(_, file)| {
            let file = crate::config::join_clean(&folder, file);
            let real = std::fs::canonicalize(&file).ok().or_else(|| {
                let parent = std::fs::canonicalize(file.parent()?).ok()?;
                Some(parent.join(file.file_name()?))
            });
            real.is_some_and(|r| r.starts_with(&real_folder))
        })
        .map(|(key, file)| format!("{key} = {}", file.display()))
        .collect();
    (!inside.is_empty()).then(|| {
        format!(
            "{} names secret files in its own folder {}, which Save needs to write, so the service could replace them; nothing was saved. Keep the config in a folder of its own, such as /etc/watchpost/site/, and the secrets where the service may only read them, such as /etc/watchpost/ (docs/console.md, \"Where Save writes\"): {}",
            path.display(),
            folder.display(),
            inside.join(", ")
        )
    })
}

/// Whether the file pins office keys (`[fleet] office_keys`): the office
/// manages the config and the console only shows it.
pub fn managed_by_office(text: &str) -> bool {
    text.parse::<toml_edit::DocumentMut>().is_ok_and(|doc| {
        doc.get("fleet")
            .and_then(|fleet| fleet.get("office_keys"))
            .and_then(toml_edit::Item::as_array)
            .is_some_and(|keys| !keys.is_empty())
    })
}

fn folder_of(path: &Path) -> PathBuf {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// Keeps `old` as the backup and puts `new` in place (see [`write_durably`]).
async fn write(path: &Path, old: &str, new: &str) -> Result<(), String> {
    let (path, old, new) = (path.to_path_buf(), old.to_string(), new.to_string());
    tokio::task::spawn_blocking(move || write_durably(&path, &old, &new))
        .await
        .unwrap_or_else(|e| Err(format!("the write failed: {e}")))
}

/// Keeps `old` as `<name>.bak` and puts `new` in place, each written to a
/// fresh temporary file in the same folder (never through a link: created
/// exclusively with O_NOFOLLOW), given the config's mode and, where the
/// service may, its owner — not the umask's — then flushed to disk and
/// renamed over its target; the folder is flushed last. A power cut leaves
/// the old file or the new one, never a truncated one. A config or backup
/// that is a symbolic link is refused.
fn write_durably(path: &Path, old: &str, new: &str) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{} is a symbolic link; Save writes only a regular file: point --config at the file itself",
            path.display()
        ));
    }
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let backup = backup_path(path);
    if let Ok(m) = std::fs::symlink_metadata(&backup)
        && !m.is_file()
    {
        return Err(format!(
            "the backup {} is a symbolic link or not a regular file; nothing was saved. Remove it, then save again",
            backup.display()
        ));
    }
    let owner = (meta.uid(), meta.gid(), meta.mode() & 0o777);
    replace(&backup, old, owner).map_err(|e| format!("cannot keep the backup {}: {e}", backup.display()))?;
    replace(path, new, owner).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    std::fs::File::open(folder_of(path))
        .and_then(|folder| folder.sync_all())
        .map_err(|e| format!("cannot flush the folder of {}: {e}", path.display()))
}

/// Writes `text` to a new temporary file beside `target` with `owner`'s
/// owner (if allowed: the service cannot give a file away, so it keeps its
/// own user and takes the group) and mode, flushes it and renames it over
/// `target`.
fn replace(target: &Path, text: &str, (uid, gid, mode): (u32, u32, u32)) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut name = std::ffi::OsString::from(".");
    name.push(target.file_name().unwrap_or_default());
    name.push(".console-new");
    let temp = target.with_file_name(name);
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp)
    };
    let mut file = match create() {
        // left by a save cut short, or planted: unlinked, never followed
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&temp)?;
            create()?
        }
        other => other?,
    };
    let done = (|| {
        if std::os::unix::fs::fchown(&file, Some(uid), Some(gid)).is_err() {
            let _ = std::os::unix::fs::fchown(&file, None, Some(gid));
        }
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, target)
    })();
    if done.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    done
}

#[cfg(test)]
mod tests;
