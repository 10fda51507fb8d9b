//! The one way the console sends pixels: a [`RedactedJpeg`], which only the
//! redactor makes (live views) or the snapshot worker published, and a
//! [`KeptSnapshot`]: such a published snapshot, kept in the box's history
//! folder and read back after a restart. There is no other picture
//! response in the console.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::history::KeptSnapshot;
use crate::anonymize::RedactedJpeg;

/// A response carrying a redacted picture.
pub fn jpeg_response(jpeg: &RedactedJpeg) -> Response {
    bytes_response(jpeg.as_bytes())
}

/// A response carrying a published snapshot read back from the history.
pub fn kept_response(kept: &KeptSnapshot) -> Response {
    bytes_response(kept.as_bytes())
}

fn bytes_response(bytes: &[u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        bytes.to_vec(),
    )
        .into_response()
}
