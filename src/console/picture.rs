//! The one way the console sends pixels: a [`RedactedJpeg`], which only the
//! redactor makes (live views) or the snapshot worker published. There is
//! no other picture response in the console.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::anonymize::RedactedJpeg;

/// A response carrying a redacted picture.
pub fn jpeg_response(jpeg: &RedactedJpeg) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg.as_bytes().to_vec(),
    )
        .into_response()
}
