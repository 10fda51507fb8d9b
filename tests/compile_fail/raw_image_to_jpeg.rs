// A raw camera picture cannot be encoded for publishing: only a redacted
// image has `to_jpeg`.
use watchpost::anonymize::RawImage;

fn main() {
    let raw = RawImage::from_rgb(&[0, 0, 0], 1, 1, 3).unwrap();
    let _jpeg = raw.to_jpeg(80, 1 << 20);
}
