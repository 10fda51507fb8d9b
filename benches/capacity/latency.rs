//! `latency`: from the arrival of the frame that raised an incident to the
//! broker's PUBACK of its start event, with 8 cameras.

use super::*;

/// Subscribes to every incident topic and keeps (incident id, seq) of starts.
pub(crate) fn listen(rig: &Rig, port: u16) -> Arc<Mutex<Vec<(String, u64)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut options = rumqttc::MqttOptions::new("bench-listener", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = rumqttc::AsyncClient::new(options, 100);
    let topic = format!(
        "{}/+/incidents",
        rig.plan.mqtt.topics.availability().trim_end_matches("/availability")
    );
    let out = seen.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    rig.tokio.spawn(async move {
        client.subscribe(topic, rumqttc::QoS::AtMostOnce).await.unwrap();
        let mut ready = Some(ready_tx);
        loop {
            match events.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                    let alert: watchpost::publish::Alert = serde_json::from_slice(&p.payload).unwrap();
                    if alert.event() == watchpost::rules::EventKind::Start {
                        out.lock().unwrap().push((alert.incident_id().to_string(), alert.seq()));
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    seen
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub(crate) fn latency(broker: &Broker, runs: usize, summary: &mut Vec<Row>) {
    const CAMERAS: usize = 8;
    const SECS: u64 = 60;
    let threads = many_cameras();
    println!(
        "latency: {CAMERAS} cameras on {LIVE_CLIP} in real time, detect {DETECT_FPS} fps, gating off, {SECS} s, \
         {threads}; frame arrival → PUBACK of the incident's start"
    );
    println!("| run | incidents | p50 | p99 | max | raise→PUBACK p50 | p99 frame age |");
    let (mut p50s, mut p99s) = (vec![], vec![]);
    for run in 1..=runs {
        let setup = Setup {
            clip: LIVE_CLIP,
            cameras: CAMERAS,
            gating: false,
            busy_rules: true,
            threads,
        };
        let rig = Rig::new(broker.port, &setup);
        let seen = listen(&rig, broker.port);
        let mut fleet = Fleet::new();
        fleet.grow(&rig, CAMERAS);
        std::thread::sleep(WARM_UP);
        let from = Instant::now();
        let a = fleet.counters();
        std::thread::sleep(Duration::from_secs(SECS));
        let b = fleet.counters();
        std::thread::sleep(Duration::from_secs(1));
        let acks: HashMap<u64, Instant> = rig.publisher.as_ref().unwrap().status().acks().into_iter().collect();
        let mut raise_to_ack: Vec<f64> = rig
            .publisher
            .as_ref()
            .unwrap()
            .status()
            .latencies()
            .iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        let starts: HashMap<String, Instant> = fleet
            .starts
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, arrived)| *arrived >= from)
            .map(|(id, arrived)| (id.to_string(), *arrived))
            .collect();
        let mut ms: Vec<f64> = seen
            .lock()
            .unwrap()
            .iter()
            .filter_map(|(id, seq)| Some((*acks.get(seq)? - *starts.get(id)?).as_secs_f64() * 1e3))
            .collect();
        fleet.stop();
        rig.shutdown();
        ms.sort_by(f64::total_cmp);
        raise_to_ack.sort_by(f64::total_cmp);
        assert!(ms.len() >= 10, "only {} incidents were raised", ms.len());
        let (p50, p99) = (percentile(&ms, 0.5), percentile(&ms, 0.99));
        println!(
            "| {run} | {} | {p50:.0} ms | {p99:.0} ms | {:.0} ms | {:.1} ms | {:.2} s |",
            ms.len(),
            ms.last().unwrap(),
            percentile(&raise_to_ack, 0.5),
            age_quantile(&a.ages, &b.ages, 0.99)
        );
        p50s.push(p50);
        p99s.push(p99);
    }
    let (p50, p99) = (median(p50s), median(p99s));
    println!("median of {runs}: p50 {p50:.0} ms, p99 {p99:.0} ms");
    summary.push(Row {
        item: format!("frame arrival → PUBACK, {CAMERAS} cameras"),
        result: format!("p50 {p50:.0} ms, p99 {p99:.0} ms"),
        target: "p99 < 250 ms".into(),
        met: Some(p99 < 250.0),
    });
}
