// Raw pixels cannot be turned into a redacted image with an empty list of
// regions: the only public way to a RedactedImage is the Redactor, which
// follows a camera's privacy policy and refuses one that hides no faces.
use watchpost::anonymize::RedactedImage;
use watchpost::anonymize::redact::{self, RawImage};

fn launder(frame: &[u8]) -> RedactedImage {
    let raw = RawImage::from_rgb(frame, 1, 1, 3).unwrap();
    redact::redact(raw, &[])
}

fn main() {
    let _ = launder(&[0, 0, 0]);
}
