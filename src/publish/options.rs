//! The MQTT client's options from a checked [`MqttPlan`]: client id, keep-alive,
//! the last will (`offline` on `<prefix>/availability`), packet sizes, TLS
//! and the login. The CA, client certificate and password files (or the
//! systemd credential) are read here, when delivery starts, so a missing
//! file is an error at start; the password goes into rumqttc's options and
//! nowhere else: it is never kept in the plan, printed or logged.

use std::path::PathBuf;

use rumqttc::{LastWill, MqttOptions, QoS, TlsConfiguration, Transport};

use super::mqtt::{Endpoint, MqttPlan, PasswordSource, WINDOW};

/// A file the options need could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the systemd credential `{0}` is not available: CREDENTIALS_DIRECTORY is not set (add LoadCredential={0}:… to the unit)"
    )]
    NoCredentials(String),
}

/// The largest packet sent: a snapshot at its cap plus the topic.
pub const MAX_PACKET: usize = 1024 * 1024 + 4096;

/// The rumqttc options for a plan's first broker.
pub fn options(plan: &MqttPlan) -> Result<MqttOptions, PublishError> {
    options_for(plan, &plan.host, plan.port)
}

/// The rumqttc options for each broker of the plan, the first one first
/// (the same client id, will, TLS and login for all).
pub fn all_options(plan: &MqttPlan) -> Result<Vec<(Endpoint, MqttOptions)>, PublishError> {
    plan.endpoints()
        .into_iter()
        .map(|e| options_for(plan, &e.host, e.port).map(|o| (e, o)))
        .collect()
}

fn options_for(plan: &MqttPlan, host: &str, port: u16) -> Result<MqttOptions, PublishError> {
    let read = |what: &'static str, path: &PathBuf| {
        std::fs::read(path).map_err(|source| PublishError::Read {
            what,
            path: path.clone(),
            source,
        })
    };
    let mut options = MqttOptions::new(plan.client_id.clone(), host, port);
    options
        .set_keep_alive(plan.keys.keep_alive_secs)
        .set_clean_session(true)
        .set_request_channel_capacity(WINDOW * 4)
        // Snapshots are JPEGs of up to 1 MB (decode.snapshot_max_kb).
        .set_max_packet_size(64 * 1024, MAX_PACKET)
        .set_last_will(LastWill::new(
            plan.topics.availability(),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(tls) = &plan.tls {
        let client_auth = match &tls.client {
            Some((cert, key)) => Some((read("mqtt.client_cert", cert)?, read("mqtt.client_key", key)?)),
            None => None,
        };
        options.set_transport(Transport::Tls(TlsConfiguration::Simple {
            ca: read("mqtt.ca_file", &tls.ca)?,
            alpn: None,
            client_auth,
        }));
    }
    if let Some(user) = &plan.keys.username {
        let password = match &plan.password {
            Some(PasswordSource::File(path)) => read("mqtt.password_file", path)?,
            Some(PasswordSource::Credential(name)) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
                    .ok_or_else(|| PublishError::NoCredentials(name.clone()))?;
                read("systemd credential", &PathBuf::from(dir).join(name))?
            }
            None => Vec::new(),
        };
        let password = String::from_utf8_lossy(&password)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        options.set_credentials(user.clone(), password);
    }
    Ok(options)
}
