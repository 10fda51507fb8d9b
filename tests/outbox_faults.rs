//! The outbox under faults an installer meets, with real parts: a second
//! watchpost on the same state directory, a broker that refuses one record
//! (a real Mosquitto with a packet size limit), a byte bound full of
//! snapshots.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{Broker, Running, Subscriber, wait_for, watchpost};

/// Every file in `dir` with its bytes.
fn snapshot_dir(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_second_run_on_a_live_state_dir_exits_2_naming_the_owner_and_strands_nothing() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port);
    assert!(sub.wait_subscribed(Duration::from_secs(10)));
    let port = common::free_port(); // nothing listens here yet: the broker is "down"
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        common::camera_config(port, &common::media("vtest.avi"), true, &state),
    )
    .unwrap();

    let first = Running::start(&config);
    assert!(
        wait_for(Duration::from_secs(60), || !first.raised().is_empty()),
        "no incident raised: {:?}",
        first.lines()
    );
    // Stop the first one's camera from writing while we compare files: SIGSTOP.
    first.signal("-STOP");
    let before = snapshot_dir(&state);

    let second = watchpost()
        .args(["run", "--config"])
        .arg(&config)
        .env("WATCHPOST_LOG", "info,ort=warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", first.child.id())) && stderr.contains("watchpost run"),
        "the message must name the running process: {stderr}"
    );
    assert!(!stderr.contains("damaged"), "{stderr}");
    assert_eq!(
        snapshot_dir(&state),
        before,
        "the second instance touched the state dir"
    );

    first.signal("-CONT");
    std::thread::sleep(Duration::from_secs(2));
    let pending = first.raised();
    first.signal("-TERM");
    assert!(wait_for(Duration::from_secs(20), || first.count("watchpost stopped") > 0));
    drop(first);

    // Nothing stranded: the same state dir delivers everything once the broker is back.
    common::forward(port, broker.port, Arc::default());
    let third = Running::start(&config);
    let delivered = || {
        let got: BTreeSet<String> = sub
            .incidents()
            .iter()
            .map(|i| i["incident_id"].as_str().unwrap().to_string())
            .collect();
        pending.iter().all(|id| got.contains(id))
    };
    assert!(
        wait_for(Duration::from_secs(60), delivered),
        "incidents {pending:?} were not delivered; got {:?}",
        sub.incidents()
    );
    assert_eq!(third.count("damaged"), 0, "{:?}", third.lines());
    third.signal("-TERM");
}

#[test]
fn replay_never_opens_the_state_dir() {
    // replay runs one camera on a recording and prints incidents; it has no
    // outbox, so it needs no lock and cannot disturb a running box.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let _held = watchpost::publish::outbox::StateLock::acquire(&state).unwrap();
    let before = snapshot_dir(&state);
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        common::camera_config(1, &common::media("vtest.avi"), false, &state),
    )
    .unwrap();
    let replay = watchpost()
        .args(["replay", "--config"])
        .arg(&config)
        .args(["--camera", "walkway"])
        .arg(common::media("vtest.avi"))
        .output()
        .unwrap();
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    assert_eq!(snapshot_dir(&state), before);
}
