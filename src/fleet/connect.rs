//! The office's (and the simulation's) connection to the hub: the nodes'
//! URLs, login and CA from the command line, and a link task that owns the
//! rumqttc event loop: the box's own connection task
//! ([`crate::publish::connection`]), so a failed connection moves it to the
//! next node after the box's jittered backoff. The task that publishes confirms
//! each `Down` before the event loop is cleaned, so no publish of the old
//! connection is counted against the new one.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, MqttOptions, TlsConfiguration, Transport};
use tokio::sync::mpsc;

use crate::publish::connection;
pub use crate::publish::connection::LinkEvent;
use crate::publish::mqtt::parse_url;

/// Where the hub is and how to log in.
#[derive(Debug, Clone, clap::Args)]
pub struct HubArgs {
    /// A node of the hub, e.g. mqtts://hub-1.example.org:8883; repeat it for
    /// every node (tried in turn when one fails).
    #[arg(long = "broker", required = true)]
    pub brokers: Vec<String>,
    /// User name, e.g. "office".
    #[arg(long)]
    pub username: Option<String>,
    /// File holding the password (one line).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// For mqtts://: the CA certificate the nodes' certificates chain to (PEM).
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
}

impl HubArgs {
    /// The rumqttc options for each node, the first one first.
    pub fn options(&self, client_id: &str, clean: bool) -> anyhow::Result<Vec<(String, MqttOptions)>> {
        let password = match &self.password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the password file {}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_string(),
            ),
            None => None,
        };
        let ca = match &self.ca_file {
            Some(path) => Some(std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?),
            None => None,
        };
        self.brokers
            .iter()
            .map(|raw| {
                let (secure, host, port) = parse_url("--broker", raw).map_err(anyhow::Error::msg)?;
                let mut options = MqttOptions::new(client_id, host.clone(), port);
                options
                    .set_keep_alive(Duration::from_secs(30))
                    .set_clean_session(clean)
                    .set_max_packet_size(2 << 20, 2 << 20);
                if secure {
                    let ca = ca.clone().context("mqtts:// needs --ca-file")?;
                    options.set_transport(Transport::Tls(TlsConfiguration::Simple {
                        ca,
                        alpn: None,
                        client_auth: None,
                    }));
                }
                if let (Some(user), Some(password)) = (&self.username, &password) {
                    options.set_credentials(user.clone(), password.clone());
                } else if self.username.is_some() {
                    anyhow::bail!("--username needs --password-file");
                }
                let scheme = if secure { "mqtts" } else { "mqtt" };
                Ok((format!("{scheme}://{host}:{port}"), options))
            })
            .collect()
    }
}

/// Starts the link task for `brokers`; the client and the link's events.
pub fn spawn_link(
    brokers: Vec<(String, MqttOptions)>,
    capacity: usize,
) -> (AsyncClient, mpsc::UnboundedReceiver<LinkEvent>) {
    let (client, events, _) = connection::spawn(brokers, capacity, Duration::from_secs(10));
    (client, events)
}

/// `watchpost/<site>/<box>/<rest…>`: site, box and the rest, for topics
/// under the default prefix.
pub fn split_topic(topic: &str) -> Option<(&str, &str, &str)> {
    let rest = topic.strip_prefix("watchpost/")?;
    let (site, rest) = rest.split_once('/')?;
    let (box_id, rest) = rest.split_once('/')?;
    Some((site, box_id, rest))
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Milliseconds since the Unix epoch of an RFC 3339 time, e.g. an incident's `time`.
pub fn time_ms(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>().ok().map(|t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_split_into_site_box_and_the_rest() {
        assert_eq!(
            split_topic("watchpost/maple/gate-1/north/incidents"),
            Some(("maple", "gate-1", "north/incidents"))
        );
        assert_eq!(split_topic("watchpost/maple/gate-1"), None);
        assert_eq!(split_topic("other/a/b/c"), None);
        assert_eq!(time_ms("1970-01-01T00:00:01.5Z"), Some(1500));
    }

    #[test]
    fn every_node_gets_options_and_tls_needs_a_ca() {
        let args = HubArgs {
            brokers: vec!["mqtt://127.0.0.1:1883".into(), "mqtt://[::1]:1884".into()],
            username: None,
            password_file: None,
            ca_file: None,
        };
        let options = args.options("office", false).unwrap();
        assert_eq!(options[1].0, "mqtt://::1:1884");
        assert!(!options[0].1.clean_session());
        let tls = HubArgs {
            brokers: vec!["mqtts://hub-1:8883".into()],
            ..args
        };
        assert!(
            tls.options("office", true)
                .unwrap_err()
                .to_string()
                .contains("--ca-file")
        );
    }
}
