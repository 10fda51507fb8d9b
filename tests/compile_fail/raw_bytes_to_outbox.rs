// The outbox publishes snapshots, and takes only a redacted JPEG: raw bytes
// of a camera frame do not type-check.
use watchpost::publish::Outbox;

fn publish_raw(outbox: &Outbox, frame: Vec<u8>) {
    let _ = outbox.push_snapshot("north-gate", "watchpost/site/box/north-gate/snapshots/x".into(), &frame);
}

fn main() {}
