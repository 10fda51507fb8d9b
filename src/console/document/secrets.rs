//! What keeps a config out of the console's Save: the service may write the
//! file it saves (and the folder around it), so that file must hold no
//! secret — no camera or broker password written inline — and must not name
//! a secret file that lies where the service may write. This module finds
//! both in the file's text; the caller decides where the folder is.

use std::path::PathBuf;

use toml_edit::{DocumentMut, Item, TableLike};

use super::nodes::{list, name_of};
use crate::config::SecretUrl;

fn table<'t>(parent: &'t dyn TableLike, key: &str) -> Option<&'t dyn TableLike> {
    parent.get(key).and_then(Item::as_table_like)
}

fn text<'t>(parent: &'t dyn TableLike, key: &str) -> Option<&'t str> {
    parent.get(key).and_then(Item::as_str)
}

/// Every secret written in the file itself, one line each saying where and
/// what to use instead. Empty when there is none (or the text is not TOML:
/// the check reports that).
pub fn inline_secrets(text_: &str) -> Vec<String> {
    let Ok(doc) = text_.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let has_secret = |url: &str| SecretUrl::parse(url).is_ok_and(|u| u.has_secret());
    for camera in list(doc.get("cameras"), "cameras").unwrap_or_default() {
        let name = name_of(camera);
        let Some(source) = table(camera, "source") else {
            continue;
        };
        if text(source, "url").is_some_and(has_secret) {
            found.push(format!(
                "camera `{name}`: `source.url` holds a password or a credential; give the password with `password_file` (and `username`) instead"
            ));
        }
        if source.get("password").is_some() {
            found.push(format!(
                "camera `{name}`: `source.password` is written in the file; use `password_file` instead"
            ));
        }
    }
    if let Some(mqtt) = table(doc.as_table(), "mqtt")
        && text(mqtt, "url").is_some_and(has_secret)
    {
        found.push(
            "`mqtt.url` holds a password; use `password_credential` (or `password_file`) and `username` instead".into(),
        );
    }
    found
}

/// The secret files the config names, with their keys: passwords, the
/// console's password hash and TLS key, the broker client key. Paths are
/// as written (relative ones start at the config's folder).
pub fn secret_files(text_: &str) -> Vec<(String, PathBuf)> {
    let Ok(doc) = text_.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let mut files = Vec::new();
    let mut add = |what: String, parent: Option<&dyn TableLike>, key: &str| {
        if let Some(path) = parent.and_then(|p| text(p, key)) {
            files.push((format!("{what}{key}"), PathBuf::from(path)));
        }
    };
    for camera in list(doc.get("cameras"), "cameras").unwrap_or_default() {
        let what = format!("camera `{}`: source.", name_of(camera));
        add(what, table(camera, "source"), "password_file");
    }
    let root = doc.as_table();
    for key in ["password_file", "client_key"] {
        add("mqtt.".into(), table(root, "mqtt"), key);
    }
    for key in ["password_file", "tls_key_file"] {
        add("console.".into(), table(root, "console"), key);
    }
    files
}
