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

fn mqtt_plan(port: u16) -> watchpost::publish::MqttPlan {
    watchpost::publish::MqttPlan {
        url: format!("mqtt://127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        port,
        tls: None,
        username: None,
        password: None,
        client_id: format!("watchpost-faults-{port}"),
        keep_alive: Duration::from_secs(5),
        retry_max: Duration::from_secs(1),
        stats_interval: Duration::from_secs(3600),
        topics: watchpost::publish::Topics::new("watchpost/test/box"),
        arming_commands: false,
    }
}

/// An incident of `people` persons: 200 make an alert of about 6 kB.
fn push_people(outbox: &watchpost::publish::Outbox, people: usize) -> u64 {
    push_people_checked(outbox, people).unwrap()
}

#[test]
fn a_record_the_broker_refuses_is_quarantined_after_max_attempts_and_the_rest_delivered() {
    // Mosquitto disconnects an MQTT 3.1.1 client that sends a packet over its limit.
    let port = common::free_port();
    let broker = Broker::with_config(
        port,
        &format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_packet_size 4096\n"),
    );
    let sub = Subscriber::connect(broker.port);
    assert!(sub.wait_subscribed(Duration::from_secs(10)));
    let dir = tempfile::tempdir().unwrap();
    let plan = watchpost::publish::OutboxPlan {
        max_attempts: 3,
        ..watchpost::publish::OutboxPlan::in_dir(dir.path())
    };
    let outbox = Arc::new(watchpost::publish::Outbox::open(&plan).unwrap());
    let before = push_people(&outbox, 1);
    let poison = push_people(&outbox, 200);
    let after: Vec<u64> = (0..5).map(|_| push_people(&outbox, 2)).collect();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let publisher = runtime.block_on(async {
        watchpost::publish::Publisher::spawn(mqtt_plan(port), outbox.clone(), Arc::new(|| serde_json::json!({})))
            .unwrap()
    });
    let seqs = || -> BTreeSet<u64> { sub.incidents().iter().filter_map(|i| i["seq"].as_u64()).collect() };
    let all_others = || after.iter().chain([&before]).all(|s| seqs().contains(s));
    assert!(
        wait_for(Duration::from_secs(60), all_others),
        "got {:?}; outbox {:?}",
        seqs(),
        outbox.depth()
    );
    assert!(!seqs().contains(&poison));
    assert_eq!(outbox.quarantined().unwrap(), vec![poison]);
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(outbox.stats.poisoned.load(Relaxed), 1);
    assert_eq!(outbox.stats.quarantined.load(Relaxed), 1);
    assert!(wait_for(Duration::from_secs(10), || outbox.depth().unwrap().0 == 0));
    // Delivered in seq order around the gap.
    let order: Vec<u64> = sub.incidents().iter().filter_map(|i| i["seq"].as_u64()).collect();
    let mut firsts = Vec::new();
    for s in order {
        if !firsts.contains(&s) {
            firsts.push(s);
        }
    }
    assert!(firsts.windows(2).all(|w| w[0] < w[1]), "{firsts:?}");
    runtime.block_on(publisher.shutdown(Duration::from_secs(5)));
}

/// A 20 MB tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// None (with a note) when not root: mounting needs it.
    fn mount() -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=20m", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: mounting a tmpfs needs root (CI runs as root)");
            return None;
        }
        Some(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_holds_events_in_memory_and_writes_them_in_order_once_freed() {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(fs) = Tmpfs::mount() else { return };
    let plan = watchpost::publish::OutboxPlan {
        max_bytes: Some(64 << 20), // above the disk: the disk fills first
        max_held: 500,
        ..watchpost::publish::OutboxPlan::in_dir(&fs.path().join("state"))
    };
    let outbox = watchpost::publish::Outbox::open(&plan).unwrap();
    // Fill the filesystem but for about 1 MB.
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 19 << 20]).unwrap_or_default();
    let (mut kept, mut refused, mut after_full) = (Vec::new(), 0u64, 0);
    // Until the disk is full, then 800 more: 500 are held, 300 dropped.
    while after_full < 800 {
        match push_people_checked(&outbox, 3) {
            Ok(seq) => kept.push(seq),
            Err(watchpost::publish::OutboxError::Unwritable { .. }) => refused += 1,
            Err(other) => panic!("unexpected: {other}"),
        }
        if !outbox.writable() {
            after_full += 1;
        }
        assert!(kept.len() < 100_000, "the disk never filled");
    }
    eprintln!(
        "disk full: {} kept ({} held in memory), {refused} dropped",
        kept.len(),
        outbox.held()
    );
    assert_eq!(outbox.held(), 500, "the hold fills up to its bound");
    assert_eq!(refused, 800 - 500, "only what finds the hold full is dropped");
    assert_eq!(
        outbox.stats.dropped.load(Relaxed),
        refused,
        "every refused event is counted"
    );
    assert!(outbox.cannot_keep().is_some_and(|why| why.contains("hold is full")));
    // Space comes back: the outbox reopens (at most once a second), writes
    // the hold first, then the new events.
    std::fs::remove_file(&filler).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let later: Vec<u64> = (0..10).map(|_| push_people_checked(&outbox, 3).unwrap()).collect();
    assert!(outbox.writable());
    assert_eq!(outbox.held(), 0);
    assert!(outbox.cannot_keep().is_none());
    kept.extend(later);
    let stored: Vec<u64> = outbox
        .read_after(0, 100_000)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(
        stored, kept,
        "everything not dropped is stored, in seq order; nothing else"
    );
    assert!(kept.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(outbox.stats.dropped.load(Relaxed), refused);
    // The sequence numbers go on after a restart.
    let last = *kept.last().unwrap();
    drop(outbox);
    let outbox = watchpost::publish::Outbox::open(&plan).unwrap();
    assert_eq!(push_people(&outbox, 1), last + 1);
}

fn push_people_checked(
    outbox: &watchpost::publish::Outbox,
    people: usize,
) -> Result<u64, watchpost::publish::OutboxError> {
    use watchpost::rules::{EventKind, EventSource, Severity, Target};
    let source = EventSource::new("crowd".into(), "z".into(), Severity::High);
    let targets = (0..people)
        .map(|i| {
            let x = i as f32 / people as f32 * 0.9;
            Target::new(
                i as u64,
                "person".into(),
                0.9,
                watchpost::vocab::BBox::new(x, 0.1, x + 0.05, 0.3),
            )
        })
        .collect();
    let event = source.event(
        EventKind::Start,
        uuid::Uuid::now_v7(),
        Duration::ZERO,
        std::time::SystemTime::now(),
        targets,
    );
    let topics = watchpost::publish::Topics::new("watchpost/test/box");
    outbox
        .push(
            |seq| watchpost::anonymize::alert("north", &event, seq),
            |a| topics.incidents(a.camera()),
        )
        .map(|a| a.seq())
}
