//! `watchpost fleet status`: every box and camera the hub knows, from the
//! retained topics each box keeps there (`<prefix>/availability`, each
//! camera's `<prefix>/<camera>/status`) and the `<prefix>/stats` messages
//! that arrive while it waits (outbox depth, version: sent every
//! `mqtt.stats_interval_secs`, not retained). Read only: a clean session
//! that subscribes, waits and leaves.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use rumqttc::QoS;
use serde::Serialize;

use super::connect::{HubArgs, LinkEvent, spawn_link, split_topic};

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub hub: HubArgs,
    /// Seconds to listen after subscribing: retained states arrive at once;
    /// stats (outbox depth, version) only as boxes send them, so wait a
    /// stats interval (e.g. 60) to hear from every box.
    #[arg(long, default_value_t = 5)]
    pub wait_secs: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Client id (unique on the hub; default: watchpost-fleet-status-<pid>).
    #[arg(long)]
    pub client_id: Option<String>,
}

/// What the office knows of one box.
#[derive(Debug, Default, Serialize)]
pub struct BoxView {
    pub site: String,
    pub box_id: String,
    /// `online`, `offline` (said so, or its last will), or null when unknown.
    pub availability: Option<String>,
    /// The latest time any of its messages carried.
    pub last_seen: Option<String>,
    pub version: Option<String>,
    /// Undelivered records in its outbox, from its latest stats message.
    pub outbox_depth: Option<u64>,
    /// Each camera's retained status, by name.
    pub cameras: BTreeMap<String, serde_json::Value>,
}

impl BoxView {
    fn seen(&mut self, time: Option<&str>) {
        if let Some(time) = time
            && self.last_seen.as_deref().is_none_or(|t| t < time)
        {
            self.last_seen = Some(time.to_string());
        }
    }
}

/// Folds one message into the views; false for topics that are not a box's.
pub fn take(views: &mut BTreeMap<(String, String), BoxView>, topic: &str, payload: &[u8]) -> bool {
    let Some((site, box_id, rest)) = split_topic(topic) else {
        return false;
    };
    let camera = rest.strip_suffix("/status").filter(|c| !c.contains('/'));
    if !matches!(rest, "availability" | "stats") && camera.is_none() {
        return false;
    }
    let view = views.entry((site.into(), box_id.into())).or_insert_with(|| BoxView {
        site: site.into(),
        box_id: box_id.into(),
        ..BoxView::default()
    });
    let json = || serde_json::from_slice::<serde_json::Value>(payload).ok();
    match rest {
        "availability" => view.availability = Some(String::from_utf8_lossy(payload).into_owned()),
        "stats" => {
            if let Some(stats) = json() {
                view.seen(stats["time"].as_str());
                view.version = stats["version"].as_str().map(str::to_string).or(view.version.take());
                view.outbox_depth = stats["outbox"]["depth"].as_u64();
            }
        }
        _ => {
            let camera = camera.unwrap_or_default();
            if payload.is_empty() {
                // The box removed the camera.
                view.cameras.remove(camera);
            } else if let Some(status) = json() {
                view.seen(status["time"].as_str());
                view.cameras.insert(camera.to_string(), status);
            }
        }
    }
    true
}

pub fn command(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let views = runtime.block_on(collect(args))?;
    if args.json {
        let boxes: Vec<&BoxView> = views.values().collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "boxes": boxes }))?
        );
    } else {
        print!("{}", table(&views));
    }
    Ok(ExitCode::SUCCESS)
}

async fn collect(args: &StatusArgs) -> anyhow::Result<BTreeMap<(String, String), BoxView>> {
    let id = args
        .client_id
        .clone()
        .unwrap_or_else(|| format!("watchpost-fleet-status-{}", std::process::id()));
    let (client, mut events) = spawn_link(args.hub.options(&id, true)?, 64);
    let mut views = BTreeMap::new();
    let mut deadline = None;
    let give_up = tokio::time::sleep(Duration::from_secs(30 + args.wait_secs));
    tokio::pin!(give_up);
    loop {
        let until = deadline.unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            event = events.recv() => match event {
                Some(LinkEvent::Up { .. }) => {
                    for filter in ["watchpost/+/+/availability", "watchpost/+/+/+/status", "watchpost/+/+/stats"] {
                        client.subscribe(filter, QoS::AtLeastOnce).await?;
                    }
                    deadline.get_or_insert(tokio::time::Instant::now() + Duration::from_secs(args.wait_secs));
                }
                Some(LinkEvent::Down { broker, error, confirm }) => {
                    eprintln!("{broker}: {error}");
                    let _ = confirm.send(());
                }
                Some(LinkEvent::Message(p)) => {
                    take(&mut views, &p.topic, &p.payload);
                }
                Some(_) => {}
                None => break,
            },
            _ = tokio::time::sleep_until(until) => break,
            _ = &mut give_up, if deadline.is_none() => anyhow::bail!("no node of the hub answered in 30 s"),
        }
    }
    let _ = client.disconnect().await;
    Ok(views)
}

/// The text table: one line a box, then one a camera.
pub fn table(views: &BTreeMap<(String, String), BoxView>) -> String {
    let mut out = format!(
        "{:<32} {:<8} {:<25} {:>6} {:>7} {}\n",
        "BOX", "STATE", "LAST SEEN", "OUTBOX", "VERSION", "CAMERAS"
    );
    let dash = || "-".to_string();
    for view in views.values() {
        let down = view
            .cameras
            .values()
            .filter(|c| c["down"].as_bool() == Some(true))
            .count();
        out += &format!(
            "{:<32} {:<8} {:<25} {:>6} {:>7} {} ({} down)\n",
            format!("{}/{}", view.site, view.box_id),
            view.availability.clone().unwrap_or_else(dash),
            view.last_seen.clone().unwrap_or_else(dash),
            view.outbox_depth.map(|d| d.to_string()).unwrap_or_else(dash),
            view.version.clone().unwrap_or_else(dash),
            view.cameras.len(),
            down,
        );
        for (name, camera) in &view.cameras {
            let health: Vec<&str> = camera["health"]
                .as_array()
                .map(|h| h.iter().filter_map(|c| c.as_str()).collect())
                .unwrap_or_default();
            out += &format!(
                "  {:<30} {:<10} fps {:<5} health {}{}\n",
                name,
                camera["state"].as_str().unwrap_or("-"),
                camera["fps"].as_f64().map(|f| format!("{f:.1}")).unwrap_or_else(dash),
                if health.is_empty() {
                    "ok".to_string()
                } else {
                    health.join(",")
                },
                camera["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retained_states_and_stats_fold_into_one_view_per_box() {
        let mut views = BTreeMap::new();
        assert!(take(&mut views, "watchpost/maple/gate-1/availability", b"online"));
        assert!(take(
            &mut views,
            "watchpost/maple/gate-1/north/status",
            br#"{"camera":"north","state":"streaming","fps":10.0,"health":["covered"],"down":false,"time":"2026-12-01T08:00:00Z"}"#
        ));
        assert!(take(
            &mut views,
            "watchpost/maple/gate-1/stats",
            br#"{"time":"2026-12-01T08:00:05Z","version":"0.1.0","outbox":{"depth":3}}"#
        ));
        assert!(take(&mut views, "watchpost/maple/gate-2/availability", b"offline"));
        assert!(!take(&mut views, "watchpost/maple/gate-1/north/incidents", b"{}"));
        let gate1 = &views[&("maple".to_string(), "gate-1".to_string())];
        assert_eq!(gate1.availability.as_deref(), Some("online"));
        assert_eq!(gate1.last_seen.as_deref(), Some("2026-12-01T08:00:05Z"));
        assert_eq!((gate1.outbox_depth, gate1.version.as_deref()), (Some(3), Some("0.1.0")));
        let text = table(&views);
        assert!(text.contains("maple/gate-1") && text.contains("covered") && text.contains("maple/gate-2"));
        // A removed camera's empty retained message takes it off.
        take(&mut views, "watchpost/maple/gate-1/north/status", b"");
        assert!(views[&("maple".to_string(), "gate-1".to_string())].cameras.is_empty());
    }
}
