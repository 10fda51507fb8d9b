//! Camera sources: where a camera's video comes from, as the operator writes it
//! in `[cameras.source]`, checked into a URI GStreamer can open.
//!
//! A file can stand in for a live camera (`loop` and `realtime`), which is how
//! the demo and the tests run without a camera on the desk. Credentials in a
//! URI never reach a log line: use [`SourcePlan::display`] there.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::config::Ctx;

/// `[cameras.source]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Where the video comes from: a path or `file://` URI (relative paths are
    /// resolved from the config file's folder), or `rtsp://`, `http://`,
    /// `https://`. e.g. "rtsp://cam-gate.local:554/stream1".
    pub url: Spanned<String>,
    /// Start a file again when it ends, so it plays like a live camera. Files only.
    #[serde(default = "crate::config::de::unset", rename = "loop")]
    pub loop_playback: Spanned<bool>,
    /// Deliver a file's frames at its own frame rate, as a camera would; when
    /// false, frames come as fast as they decode (replay, tests). Files only.
    #[serde(default = "crate::config::de::unset")]
    pub realtime: Spanned<bool>,
}

/// What kind of source a URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    File(PathBuf),
    Network,
}

/// A checked source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlan {
    /// The URI handed to GStreamer; may hold credentials.
    pub uri: String,
    /// The URI with any password masked, for logs and errors.
    pub display: String,
    pub kind: SourceKind,
    pub loop_playback: bool,
    pub realtime: bool,
}

impl SourcePlan {
    /// Live sources deliver at their own pace and cannot be waited for.
    pub fn is_live(&self) -> bool {
        self.kind == SourceKind::Network || self.realtime
    }
}

/// Checks `[cameras.source]` of camera `camera`.
pub fn check(camera: &str, config: &SourceConfig, ctx: &mut Ctx<'_>) -> Option<SourcePlan> {
    let url = config.url.get_ref().trim();
    let span = config.url.span();
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    let (uri, kind) = match scheme.as_deref() {
        None | Some("file") => {
            let raw = url.strip_prefix("file://").unwrap_or(url);
            if raw.is_empty() {
                ctx.error(
                    span,
                    format!("camera `{camera}`: source url is empty; give a file path or an rtsp:// URI"),
                );
                return None;
            }
            let path = ctx.resolve(&PathBuf::from(raw));
            if !path.is_file() {
                ctx.error(
                    span,
                    format!(
                        "camera `{camera}`: video file {} does not exist; check the path (relative paths start at the config file's folder)",
                        path.display()
                    ),
                );
                return None;
            }
            let path = path.canonicalize().unwrap_or(path);
            let uri = match gstreamer::glib::filename_to_uri(&path, None) {
                Ok(uri) => uri.to_string(),
                Err(e) => {
                    ctx.error(
                        span,
                        format!("camera `{camera}`: cannot turn {} into a URI: {e}", path.display()),
                    );
                    return None;
                }
            };
            (uri, SourceKind::File(path))
        }
        Some("rtsp" | "rtsps" | "http" | "https") => (url.to_string(), SourceKind::Network),
        Some(other) => {
            ctx.error(
                span,
                format!("camera `{camera}`: unsupported source scheme `{other}://`; use a file path, file://, rtsp://, http:// or https://"),
            );
            return None;
        }
    };
    if kind == SourceKind::Network {
        for (flag, name) in [(&config.loop_playback, "loop"), (&config.realtime, "realtime")] {
            if *flag.get_ref() {
                ctx.error(
                    flag.span(),
                    format!("camera `{camera}`: `{name}` applies to files only; remove it for a network camera"),
                );
            }
        }
    }
    Some(SourcePlan {
        display: mask_credentials(&uri),
        uri,
        kind,
        loop_playback: *config.loop_playback.get_ref(),
        realtime: *config.realtime.get_ref(),
    })
}

/// Replaces the password in `scheme://user:password@host/...` with `***`.
pub fn mask_credentials(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{scheme}://{masked}@{}", &rest[at + 1..])
        }
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_credentials("rtsp://admin:s3cr:et@10.0.0.5:554/Streaming/101"),
            "rtsp://admin:***@10.0.0.5:554/Streaming/101"
        );
        assert_eq!(mask_credentials("rtsp://10.0.0.5/live"), "rtsp://10.0.0.5/live");
        assert_eq!(mask_credentials("rtsp://viewer@cam/live"), "rtsp://viewer@cam/live");
        assert_eq!(mask_credentials("/media/a@b.avi"), "/media/a@b.avi");
    }
}
