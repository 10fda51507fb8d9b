// The evidence clip encoder takes redacted pictures only: a camera frame as
// decoded cannot be made a frame of a clip.
use watchpost::anonymize::{RawImage, VideoEncoder};

fn encode(encoder: &mut VideoEncoder, frame: &RawImage) {
    let _ = encoder.push(frame);
}

fn main() {}
