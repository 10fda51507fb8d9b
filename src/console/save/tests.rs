//! Save on a real folder: modes and owners kept, links never followed, the
//! whole handler keeping every rule of an inline array, and the refusals
//! that keep secrets out of the file the service may write.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use super::*;

const OLD: &str = "site = \"s\"\nbox_id = \"b\"\n";
const NEW: &str = "site = \"s\"\nbox_id = \"b2\"\n";

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

/// A file of the owner's that a link planted at one of the save's paths
/// points to: the save must never write through it.
fn victim(dir: &Path) -> PathBuf {
    let victim = dir.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    victim
}

/// `watchpost.toml` in `dir`, holding `text`, with permissions `mode`.
fn config(dir: &Path, text: &str, mode: u32) -> PathBuf {
    let path = dir.join("watchpost.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

#[tokio::test]
async fn the_new_file_and_the_backup_keep_the_configs_mode_whatever_the_umask() {
    for wanted in [0o640, 0o600, 0o660] {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), OLD, wanted);
        write(&path, OLD, NEW).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), NEW);
        assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), OLD);
        assert_eq!(mode(&path), wanted, "config");
        assert_eq!(mode(&backup_path(&path)), wanted, "backup");
        // and again over the existing backup
        write(&path, NEW, OLD).await.unwrap();
        assert_eq!(mode(&backup_path(&path)), wanted, "backup, second save");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left.len(), 2, "temporary files left: {left:?}");
    }
}

#[tokio::test]
async fn the_owner_is_kept_where_the_process_may() {
    let dir = tempfile::tempdir().unwrap();
    if std::fs::metadata(dir.path()).unwrap().uid() != 0 {
        return; // only root may give a file away; the service keeps the group
    }
    let path = config(dir.path(), OLD, 0o640);
    std::os::unix::fs::chown(&path, Some(4321), Some(4322)).unwrap();
    write(&path, OLD, NEW).await.unwrap();
    for file in [path.clone(), backup_path(&path)] {
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (4321, 4322), "{}", file.display());
    }
}

#[tokio::test]
async fn a_link_planted_at_the_backup_is_refused_and_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), OLD, 0o640);
    let victim = victim(dir.path());
    symlink(&victim, backup_path(&path)).unwrap();
    let e = write(&path, OLD, NEW).await.unwrap_err();
    assert!(e.contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), OLD);
}

#[tokio::test]
async fn a_link_planted_at_the_temporary_path_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), OLD, 0o640);
    let victim = victim(dir.path());
    for temp in [".watchpost.toml.console-new", ".watchpost.toml.bak.console-new"] {
        symlink(&victim, dir.path().join(temp)).unwrap();
    }
    write(&path, OLD, NEW).await.unwrap();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(mode(&victim), 0o600);
    assert!(std::fs::symlink_metadata(&path).unwrap().is_file());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), NEW);
    assert_eq!(std::fs::read_to_string(backup_path(&path)).unwrap(), OLD);
}

#[tokio::test]
async fn a_symlinked_config_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = config(dir.path(), OLD, 0o640);
    let link = dir.path().join("link.toml");
    symlink(&real, &link).unwrap();
    let e = write(&link, OLD, NEW).await.unwrap_err();
    assert!(e.contains("symbolic link") && e.contains("--config"), "{e}");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), OLD);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
}

#[test]
fn a_config_with_an_inline_secret_is_refused_with_the_file_based_way() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchpost.toml");
    for (text, says) in [
        (
            "[[cameras]]\nname = \"gate\"\nsource.url = \"rtsp://admin:hunter22@10.0.0.5/live\"\n",
            "camera `gate`: `source.url` holds a password or a credential; give the password with `password_file`",
        ),
        (
            "[[cameras]]\nname = \"gate\"\n[cameras.source]\nurl = \"http://cam/cgi?user=a&pwd=x1y2z3\"\n",
            "`source.url` holds a password or a credential",
        ),
        (
            "cameras = [{ name = \"gate\", source = { url = \"rtsp://cam/live\", username = \"v\", password = \"hunter22\" } }]\n",
            "`source.password` is written in the file; use `password_file`",
        ),
        (
            "[mqtt]\nurl = \"mqtt://box:hunter22@127.0.0.1:1883\"\n",
            "`mqtt.url` holds a password; use `password_credential`",
        ),
    ] {
        let reason = refusal(&path, text).unwrap_or_else(|| panic!("not refused:\n{text}"));
        assert!(reason.contains(says), "{reason}");
        assert!(
            reason.contains("nothing was saved") && !reason.contains("hunter22") && !reason.contains("x1y2z3"),
            "{reason}"
        );
    }
    let clean = "[[cameras]]\nname = \"gate\"\nsource.url = \"rtsp://viewer@10.0.0.5/live\"\nsource.password_file = \"/etc/watchpost/gate.password\"\n";
    assert_eq!(refusal(&path, clean), None);
}

#[test]
fn a_config_the_office_manages_is_shown_but_never_saved() {
    let path = Path::new("/etc/watchpost/watchpost.toml");
    let managed = "site = \"s\"\nbox_id = \"b\"\n[fleet]\noffice_keys = [\"ed25519:FpVnf5gBSu2TvGLFU3tb+wSoF7IYcec+/g78siWbSkw=\"]\n";
    let reason = refusal(path, managed).expect("a managed config is refused");
    assert!(
        reason.contains("managed by the security office") && reason.contains("nothing was saved"),
        "{reason}"
    );
    assert_eq!(refusal(path, "site = \"s\"\n[fleet]\noffice_keys = []\n"), None);
}

#[test]
fn a_config_naming_secret_files_in_its_own_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::create_dir_all(&secrets).unwrap();
    std::fs::write(site.join("console.hash"), "h").unwrap();
    let path = site.join("watchpost.toml");
    let text = format!(
        "[console]\npassword_file = \"console.hash\"\ntls_key_file = \"{}\"\n[[cameras]]\nname = \"gate\"\nsource.password_file = \"{}/gate.password\"\n",
        secrets.join("console.key").display(),
        site.display()
    );
    let reason = refusal(&path, &text).unwrap();
    assert!(reason.contains("console.password_file = console.hash"), "{reason}");
    assert!(reason.contains("camera `gate`: source.password_file"), "{reason}");
    assert!(!reason.contains("tls_key_file"), "{reason}");
    let outside = format!(
        "[console]\npassword_file = \"../secrets/console.hash\"\ntls_key_file = \"{}\"\n",
        secrets.join("console.key").display()
    );
    assert_eq!(refusal(&path, &outside), None);
}

/// An editor on `path` whose check only parses the TOML, with a reload
/// that always reports "applied".
fn editor_on(path: &Path) -> Arc<Editor> {
    let (reload_tx, mut reload_rx) = tokio::sync::mpsc::unbounded_channel();
    let (report_tx, report_rx) = tokio::sync::watch::channel(ReloadReport::default());
    tokio::spawn(async move {
        while reload_rx.recv().await.is_some() {
            report_tx.send_modify(|r| {
                r.begun += 1;
                r.finished = r.begun;
                r.outcome = "applied".into();
            });
        }
    });
    let check: CheckFn =
        Arc::new(|_, text: String| text.parse::<toml::Table>().map(|_| ()).map_err(|e| vec![e.to_string()]));
    Arc::new(Editor::new(path.to_path_buf(), check, reload_tx, report_rx))
}

/// A camera whose zones and rules are inline arrays, with a privacy mask.
const INLINE: &str = "site = \"s\"\nbox_id = \"b\"\n\n[[cameras]]\nname = \"gate\"\nsource.url = \"gate.avi\"\nprivacy.masks = [[[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]]\nzones = [{ name = \"drive\", polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]] }]\nrules = [\n    { name = \"one\", kind = \"intrusion\", zone = \"drive\" },\n    { name = \"two\", kind = \"loitering\", zone = \"drive\", min_secs = 30 },\n]\n";

/// [`INLINE`] written in `dir`: its path, an editor on it, and the page's
/// view of its camera.
fn inline(dir: &Path) -> (PathBuf, Arc<Editor>, CameraEdit) {
    let path = config(dir, INLINE, 0o640);
    let editor = editor_on(&path);
    (path, editor, document::read(INLINE).unwrap().remove(0))
}

/// A reply's JSON body.
async fn body_json(response: Response) -> serde_json::Value {
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The whole Save, as the page sends it, on a config whose rules are an
/// inline array: every rule is kept, the new one added, the reply says so.
#[tokio::test]
async fn saving_a_rule_through_the_handler_keeps_an_inline_arrays_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (path, editor, mut edit) = inline(dir.path());
    assert_eq!(edit.rules.len(), 2);
    let mut added = edit.rules[0].clone();
    added.name = "three".into();
    edit.rules.push(added);
    let request = SaveRequest {
        etag: etag(INLINE),
        edit,
    };
    let response = save(State(editor), None, axum::Json(request)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = body_json(response).await;
    assert_eq!(body["saved"], true, "{body}");
    assert_eq!(body["reload"], "applied", "{body}");
    let saved: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let names: Vec<&str> = saved["cameras"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["one", "two", "three"]);
    assert_eq!(mode(&backup_path(&path)), 0o640);
}

/// Removing a rule or a mask is held until the password is confirmed:
/// a session without a recent check gets `401` with `reauth`, the file
/// untouched; a fresh one saves.
#[tokio::test]
async fn removing_a_rule_or_a_mask_needs_a_fresh_password_check() {
    let dir = tempfile::tempdir().unwrap();
    let (path, editor, read) = inline(dir.path());
    assert_eq!(read.masks.len(), 1);
    let mut no_rule = read.clone();
    no_rule.rules.remove(1);
    let mut no_mask = read.clone();
    no_mask.masks.clear();
    for (edit, what) in [
        (no_rule.clone(), "rule `two` removed"),
        (no_mask, "privacy mask removed"),
    ] {
        for fresh in [None, Some(axum::Extension(Fresh(false)))] {
            let request = SaveRequest {
                etag: etag(INLINE),
                edit: edit.clone(),
            };
            let response = save(State(editor.clone()), fresh, axum::Json(request)).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            let body = body_json(response).await;
            assert_eq!(body["reauth"], true, "{body}");
            assert!(body["error"].as_str().unwrap().contains(what), "{body}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), INLINE);
        }
    }
    let request = SaveRequest {
        etag: etag(INLINE),
        edit: no_rule,
    };
    let response = save(State(editor), Some(axum::Extension(Fresh(true))), axum::Json(request)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let saved: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    assert_eq!(saved["cameras"][0]["rules"].as_array().unwrap().len(), 1);
}
