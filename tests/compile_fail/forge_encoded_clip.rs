// An MP4 may be sent through the outbox only as an EncodedClip, which only
// the encoder of redacted pictures makes: any other file cannot be passed off as one.
use watchpost::anonymize::EncodedClip;

fn forged() -> EncodedClip {
    EncodedClip {
        path: "/tmp/raw.mp4".into(),
        frames: 1,
        sha256: [0; 32],
        bytes: 1,
        encoder: String::new(),
    }
}

fn main() {
    let _ = forged();
}
