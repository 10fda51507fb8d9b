//! The retained per-camera status on `<prefix>/<camera>/status`: what an
//! office dashboard shows for every camera at a glance (state, since when,
//! frame rate, age of the last frame, open health conditions). The app
//! says what each camera's status is ([`StatusSource`]); the [`StatusBoard`]
//! decides what to publish: a camera whose state or conditions changed at
//! once, every camera again every `refresh`, and an empty retained message
//! for a camera that is gone (a reload removed it), which clears it from the
//! broker. Nothing here waits on the outbox: a status is current or useless.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One camera's status as the app sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStatus {
    pub camera: String,
    /// What, when it changes, is published at once (state and conditions).
    pub key: String,
    /// The JSON payload.
    pub payload: serde_json::Value,
}

/// The cameras' statuses now, asked about once a second.
pub type StatusSource = Arc<dyn Fn() -> Vec<CameraStatus> + Send + Sync>;

/// What was last published for each camera.
#[derive(Debug, Default)]
pub struct StatusBoard {
    published: BTreeMap<String, (String, Instant)>,
}

impl StatusBoard {
    /// Forgets what was published (the link is new: publish everything again).
    pub fn forget(&mut self) {
        self.published.clear();
    }

    /// The (camera, payload) pairs to publish now out of `current`: changed
    /// or due for a refresh; an empty payload for a camera no longer there.
    pub fn due(&mut self, current: &[CameraStatus], now: Instant, refresh: Duration) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let gone: Vec<String> = self
            .published
            .keys()
            .filter(|name| !current.iter().any(|c| &c.camera == *name))
            .cloned()
            .collect();
        for name in gone {
            self.published.remove(&name);
            out.push((name, Vec::new()));
        }
        for status in current {
            let due = match self.published.get(&status.camera) {
                Some((key, at)) => *key != status.key || now.duration_since(*at) >= refresh,
                None => true,
            };
            if due {
                self.published.insert(status.camera.clone(), (status.key.clone(), now));
                out.push((status.camera.clone(), status.payload.to_string().into_bytes()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(camera: &str, key: &str) -> CameraStatus {
        CameraStatus {
            camera: camera.into(),
            key: key.into(),
            payload: serde_json::json!({ "state": key }),
        }
    }

    #[test]
    fn changes_go_at_once_the_rest_on_refresh_and_removed_cameras_are_cleared() {
        let mut board = StatusBoard::default();
        let t0 = Instant::now();
        let refresh = Duration::from_secs(60);
        let names = |v: Vec<(String, Vec<u8>)>| v.into_iter().map(|(n, p)| (n, p.is_empty())).collect::<Vec<_>>();
        let both = [status("a", "streaming"), status("b", "streaming")];
        assert_eq!(
            names(board.due(&both, t0, refresh)),
            [("a".into(), false), ("b".into(), false)]
        );
        assert!(board.due(&both, t0 + Duration::from_secs(1), refresh).is_empty());
        let changed = [status("a", "streaming"), status("b", "backoff")];
        assert_eq!(
            names(board.due(&changed, t0 + Duration::from_secs(2), refresh)),
            [("b".into(), false)]
        );
        let only_b = [status("b", "backoff")];
        assert_eq!(
            names(board.due(&only_b, t0 + Duration::from_secs(3), refresh)),
            [("a".into(), true)]
        );
        assert_eq!(
            names(board.due(&only_b, t0 + Duration::from_secs(62), refresh)),
            [("b".into(), false)]
        );
    }
}
