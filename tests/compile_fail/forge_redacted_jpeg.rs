// Only the redaction module can make a RedactedJpeg or a RedactedImage:
// their fields are private and they have no public constructor.
use watchpost::anonymize::{RedactedImage, RedactedJpeg};

fn main() {
    let _jpeg = RedactedJpeg {
        bytes: vec![0xFF, 0xD8],
    };
    let _image = RedactedImage {
        rgb: vec![0; 3],
        width: 1,
        height: 1,
        covered: 1,
    };
}
