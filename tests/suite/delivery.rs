//! Alert delivery that never loses an incident, against a real Mosquitto:
//! broker restarts, a watchpost killed while the broker is down, TLS with a
//! CA made by the test, wrong credentials, and a broker that stops answering.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Broker, Running, Subscriber, wait_for};
use watchpost::anonymize;
use watchpost::publish::mqtt::{Endpoint, MqttPlan, PasswordSource, TlsPlan};
use watchpost::publish::{Outbox, OutboxPlan, Topics};
use watchpost::publish::{Publisher, StatsSource};
use watchpost::rules::{EventKind, EventSource, IncidentEvent, Severity, Target};
use watchpost::vocab::BBox;

fn plan(port: u16, keep_alive: Duration) -> MqttPlan {
    MqttPlan {
        url: format!("mqtt://127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        port,
        alternates: Vec::new(),
        tls: None,
        password: None,
        client_id: format!("watchpost-test-{port}"),
        topics: Topics::new("watchpost/test/box"),
        keys: watchpost::publish::MqttKeys {
            keep_alive_secs: keep_alive,
            retry_max_secs: Duration::from_secs(1),
            stats_interval_secs: Duration::from_secs(3600),
            ..Default::default()
        },
    }
}

fn outbox(dir: &Path) -> Arc<Outbox> {
    Arc::new(
        Outbox::open(&OutboxPlan {
            keys: watchpost::publish::OutboxKeys {
                max_age_hours: Duration::from_secs(3600),
                ..Default::default()
            },
            ..OutboxPlan::in_dir(dir)
        })
        .unwrap(),
    )
}

fn no_stats() -> StatsSource {
    Arc::new(|| serde_json::json!({}))
}

/// The `n`th started incident of one person, as a rule raises it.
fn event(n: usize) -> IncidentEvent {
    let source = EventSource::new(format!("r{n}").into(), "z".into(), Severity::High);
    let person = Target::new(1, "person".into(), 0.9, BBox::new(0.1, 0.1, 0.2, 0.3));
    source.event(
        EventKind::Start,
        uuid::Uuid::now_v7(),
        Duration::ZERO,
        std::time::SystemTime::now(),
        vec![person],
    )
}

fn push(outbox: &Outbox, topics: &Topics, camera: &str, n: usize) -> u64 {
    let alert = outbox
        .push(
            |seq| anonymize::alert(camera, &event(n), seq),
            |a| topics.incidents(a.camera()),
        )
        .unwrap();
    alert.seq()
}

/// A publisher for `port` on `runtime`, once it is connected.
fn connected_publisher(runtime: &tokio::runtime::Runtime, port: u16, outbox: &Arc<Outbox>) -> Publisher {
    let publisher = runtime
        .block_on(async { Publisher::spawn(plan(port, Duration::from_secs(5)), outbox.clone(), no_stats()).unwrap() });
    let status = publisher.status();
    assert!(wait_for(common::SOON, || status.connected.load(Ordering::Relaxed)));
    publisher
}

/// (incident_id, seq) of every incident received, first occurrence only, by camera.
fn received_by_camera(sub: &Subscriber) -> BTreeMap<String, Vec<(String, u64)>> {
    let mut seen = BTreeSet::new();
    let mut by_camera: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
    for incident in sub.incidents() {
        let key = (
            incident["incident_id"].as_str().unwrap().to_string(),
            incident["seq"].as_u64().unwrap(),
        );
        if seen.insert(key.clone()) {
            by_camera
                .entry(incident["camera"].as_str().unwrap().to_string())
                .or_default()
                .push(key);
        }
    }
    by_camera
}

#[test]
fn two_thousand_events_arrive_in_order_across_three_broker_restarts() {
    let port = common::free_port();
    let mut broker = Broker::persistent(port);
    let sub = Subscriber::persistent(port);
    assert!(sub.wait_subscribed(common::SOON));
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(dir.path());
    let topics = Topics::new("watchpost/test/box");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let publisher = connected_publisher(&runtime, port, &outbox);

    const TOTAL: usize = 2000;
    let producer = {
        let (outbox, topics) = (outbox.clone(), topics.clone());
        std::thread::spawn(move || {
            for n in 0..TOTAL {
                let camera = if n % 2 == 0 { "north" } else { "south" };
                push(&outbox, &topics, camera, n);
                if n % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    };
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        broker.stop();
        std::thread::sleep(Duration::from_millis(500));
        broker.restart();
    }
    producer.join().unwrap();

    let total = |sub: &Subscriber| received_by_camera(sub).values().map(Vec::len).sum::<usize>();
    let all = wait_for(common::GUARD, || total(&sub) == TOTAL);
    assert!(all, "received {} of {TOTAL} events", total(&sub));
    for (camera, events) in received_by_camera(&sub) {
        assert_eq!(events.len(), TOTAL / 2, "camera {camera}");
        assert!(
            events.windows(2).all(|w| w[0].1 < w[1].1),
            "camera {camera}: events out of order"
        );
    }
    // Everything acknowledged is removed from the outbox.
    assert!(
        wait_for(common::SOON, || outbox.depth().unwrap().0 == 0),
        "outbox still holds {:?}",
        outbox.depth()
    );
    runtime.block_on(publisher.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_box_with_three_brokers_keeps_delivering_when_the_first_and_then_the_second_die() {
    let mut brokers: Vec<Option<Broker>> = (0..3).map(|_| Some(Broker::start())).collect();
    let ports: Vec<u16> = brokers.iter().flatten().map(|b| b.port).collect();
    let subs: Vec<Subscriber> = ports.iter().map(|&p| Subscriber::connect(p)).collect();
    for sub in &subs {
        assert!(sub.wait_subscribed(common::SOON));
    }
    let mut plan = plan(ports[0], Duration::from_secs(5));
    plan.alternates = ports[1..]
        .iter()
        .map(|&port| Endpoint {
            url: format!("mqtt://127.0.0.1:{port}"),
            host: "127.0.0.1".into(),
            port,
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(dir.path());
    let topics = Topics::new("watchpost/test/box");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let publisher = runtime.block_on(async { Publisher::spawn(plan, outbox.clone(), no_stats()).unwrap() });
    let status = publisher.status();
    assert!(wait_for(common::SOON, || status.connected.load(Ordering::Relaxed)));

    const BATCH: usize = 100;
    let seqs = |sub: &Subscriber| -> BTreeMap<String, Vec<u64>> {
        received_by_camera(sub)
            .into_iter()
            .map(|(camera, events)| (camera, events.into_iter().map(|(_, seq)| seq).collect()))
            .collect()
    };
    for (round, sub) in subs.iter().enumerate() {
        if round > 0 {
            // The broker in use dies (SIGKILL): no goodbye, no saved state.
            brokers[round - 1] = None;
        }
        let pushed: Vec<u64> = (0..BATCH)
            .map(|n| push(&outbox, &topics, if n % 2 == 0 { "north" } else { "south" }, n))
            .collect();
        let arrived = |sub: &Subscriber| {
            let got: BTreeSet<u64> = seqs(sub).into_values().flatten().collect();
            pushed.iter().all(|seq| got.contains(seq))
        };
        assert!(
            wait_for(common::GUARD, || arrived(sub)),
            "round {round}: the events did not all reach broker {round} (port {}): {:?}",
            ports[round],
            seqs(sub)
        );
        for (camera, events) in seqs(sub) {
            assert!(
                events.windows(2).all(|w| w[0] < w[1]),
                "round {round}, camera {camera}: out of order: {events:?}"
            );
        }
        // Availability follows the box to the broker it landed on.
        assert!(
            wait_for(common::SOON, || sub
                .on_topic("watchpost/test/box/availability")
                .contains(&"online".to_string())),
            "round {round}: no `online` on broker {round}"
        );
    }
    assert!(wait_for(common::SOON, || outbox.depth().unwrap().0 == 0));
    runtime.block_on(publisher.shutdown(Duration::from_secs(5)));
}

#[test]
fn a_broker_that_stops_answering_is_noticed_by_keep_alive_and_nothing_is_lost() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port);
    assert!(sub.wait_subscribed(common::SOON));
    let frozen = Arc::new(AtomicBool::new(false));
    let port = common::free_port();
    common::forward(port, broker.port, frozen.clone());
    let dir = tempfile::tempdir().unwrap();
    let outbox = outbox(dir.path());
    let topics = Topics::new("watchpost/test/box");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let publisher = connected_publisher(&runtime, port, &outbox);
    let status = publisher.status();

    // The link goes silent without closing: no FIN, no RST, just nothing.
    frozen.store(true, Ordering::SeqCst);
    let seq = push(&outbox, &topics, "north", 1);
    assert!(
        wait_for(common::SOON, || !status.connected.load(Ordering::Relaxed)),
        "the silent broker was not detected"
    );
    assert_eq!(outbox.depth().unwrap().0, 1, "the event must wait in the outbox");
    frozen.store(false, Ordering::SeqCst);
    assert!(wait_for(common::SOON, || received_by_camera(&sub)
        .get("north")
        .is_some_and(|e| e.iter().any(|(_, s)| *s == seq))));
    runtime.block_on(publisher.shutdown(Duration::from_secs(5)));
}

#[test]
fn events_pending_when_watchpost_is_killed_with_the_broker_down_are_delivered_after_restart() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port);
    assert!(sub.wait_subscribed(common::SOON));
    let port = common::free_port(); // nothing listens here yet: the broker is "down"
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        common::camera_config(port, &common::media("vtest.avi"), true, dir.path()),
    )
    .unwrap();

    let first = Running::start(&config);
    assert!(
        wait_for(common::GUARD, || !first.raised().is_empty()),
        "no incident raised: {:?}",
        first.lines()
    );
    assert!(first.count("MQTT broker unreachable") >= 1);
    let pending = first.raised();
    first.signal("-KILL");
    drop(first);

    common::forward(port, broker.port, Arc::default());
    let second = Running::start(&config);
    let delivered = |ids: &[String]| {
        let got: BTreeSet<String> = sub
            .incidents()
            .iter()
            .map(|i| i["incident_id"].as_str().unwrap().to_string())
            .collect();
        ids.iter().all(|id| got.contains(id))
    };
    assert!(
        wait_for(common::GUARD, || delivered(&pending)),
        "incidents {pending:?} raised before the kill were not delivered; got {:?}",
        sub.incidents()
    );
    second.signal("-TERM");
}

/// A test CA, a broker certificate for 127.0.0.1 signed by it, and a CA the
/// broker's certificate does not chain to — made with openssl.
fn make_certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?} failed");
    };
    for ca in ["ca", "other-ca"] {
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=watchpost test {ca}"),
            "-keyout",
            &format!("{ca}.key"),
            "-out",
            &format!("{ca}.pem"),
        ]);
    }
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
}

#[test]
fn tls_with_a_password_delivers_and_a_wrong_password_or_ca_is_a_clear_error() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let passwd = certs.path().join("passwd");
    let status = Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&passwd)
        .args(["gatehouse", "s3cret-Pw"])
        .status()
        .unwrap();
    assert!(status.success());
    let (plain, tls) = (common::free_port(), common::free_port());
    let c = |name: &str| certs.path().join(name).display().to_string();
    let body = format!(
        "per_listener_settings true\nlistener {plain} 127.0.0.1\nallow_anonymous true\n\
         listener {tls} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nallow_anonymous false\npassword_file {}\n",
        c("ca.pem"),
        c("server.pem"),
        c("server.key"),
        passwd.display()
    );
    let _broker = Broker::with_config(plain, &body);
    let sub = Subscriber::connect(plain);
    assert!(sub.wait_subscribed(common::SOON));

    let run_with = |ca: &str, password: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("password"), format!("{password}\n")).unwrap();
        let config = common::camera_config(tls, &common::media("vtest.avi"), true, dir.path()).replace(
            &format!("url = \"mqtt://127.0.0.1:{tls}\""),
            &format!(
                "url = \"mqtts://127.0.0.1:{tls}\"\nca_file = \"{}\"\nusername = \"gatehouse\"\npassword_file = \"{}\"",
                c(ca),
                dir.path().join("password").display()
            ),
        );
        let path = dir.path().join("watchpost.toml");
        std::fs::write(&path, config).unwrap();
        (Running::start(&path), dir)
    };

    // The right CA and password: incidents arrive.
    let (good, _dir) = run_with("ca.pem", "s3cret-Pw");
    assert!(
        wait_for(common::GUARD, || !sub.incidents().is_empty()),
        "nothing delivered over TLS: {:?}",
        good.lines()
    );
    assert_eq!(good.count("connected to MQTT broker"), 1);
    good.signal("-TERM");
    drop(good);

    // A wrong password and a wrong CA: a clear line, once, and it keeps retrying.
    for (ca, password, expected) in [
        ("ca.pem", "wrong", "refused the user name or password"),
        ("other-ca.pem", "s3cret-Pw", "TLS:"),
    ] {
        let (bad, _dir) = run_with(ca, password);
        assert!(
            wait_for(common::SOON, || bad.count(expected) >= 1),
            "no clear error for {ca}/{password}: {:?}",
            bad.lines()
        );
        // backoff 0.5 s, 1 s, 1 s…: several more attempts in 4 s, none logged again
        std::thread::sleep(Duration::from_secs(4));
        assert_eq!(bad.count(expected), 1, "{:?}", bad.lines());
        assert_eq!(bad.count("connected to MQTT broker"), 0);
        assert_eq!(bad.count("panicked"), 0);
    }
}

#[test]
fn the_password_never_appears_in_logs_or_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "hunter2-secret\n").unwrap();
    let config = common::camera_config(1883, &common::media("vtest.avi"), false, dir.path()).replace(
        "url = \"mqtt://127.0.0.1:1883\"",
        &format!(
            "url = \"mqtt://127.0.0.1:1883\"\nusername = \"gatehouse\"\npassword_file = \"{}\"",
            dir.path().join("pw").display()
        ),
    );
    let path = dir.path().join("watchpost.toml");
    std::fs::write(&path, config).unwrap();
    let plan = watchpost::plan::load(&path).unwrap();
    assert!(matches!(plan.mqtt.password, Some(PasswordSource::File(_))));
    assert!(!format!("{plan:?}").contains("hunter2"));
    let _: Option<TlsPlan> = plan.mqtt.tls;
}
