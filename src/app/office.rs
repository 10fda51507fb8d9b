//! The security office's side of config bundles, as `watchpost bundle …`:
//! make a key, sign a managed config into a bundle, verify one, and publish
//! it — to one box, to a group, or as a staged rollout (a canary group
//! first, the next group only once every canary box has confirmed it) —
//! watching the boxes' retained bundle statuses. The private key only ever
//! signs here; nothing of it leaves the office's file.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, Subcommand};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::{Deserialize, Serialize};

use crate::plan::bundle::{self, Envelope, Request, Targets};
use crate::plan::fleet;

/// Prints a line to standard output; a closed pipe (`| head`) is not an error.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `watchpost bundle …`.
#[derive(Debug, Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    pub command: BundleCommand,
}

#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Make an office key pair: the private key file (mode 0600) and the
    /// public key beside it (`.pub`), which boxes pin in `[fleet] office_keys`.
    Keygen {
        /// The private key file to write, e.g. office.key; it must not exist.
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Sign a managed config into a bundle (JSON, on standard output or --out).
    Sign {
        /// The office's private key file.
        #[arg(long)]
        key: PathBuf,
        /// A box the bundle is for, as <site>/<box_id>; repeat for several.
        #[arg(long = "target")]
        targets: Vec<String>,
        /// A group the bundle is for; repeat for several.
        #[arg(long = "group")]
        groups: Vec<String>,
        /// The bundle's version: greater than every version signed before.
        #[arg(long)]
        version: u64,
        /// A signed rollback: an older config, taken once even though boxes
        /// have seen a higher version.
        #[arg(long)]
        rollback: bool,
        /// Seconds from then until the bundle expires (default 72 hours).
        #[arg(long, default_value_t = 72 * 3600)]
        expires_secs: u64,
        /// Seconds from now before which boxes do not apply it.
        #[arg(long, default_value_t = 0)]
        not_before_secs: u64,
        /// A note the boxes repeat in their status, e.g. "night rules".
        #[arg(long, default_value = "")]
        comment: String,
        /// Where to write the bundle (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// The managed config (no site, box_id, mqtt, console, … of its own).
        config: PathBuf,
    },
    /// Check a bundle's signature against office public keys and print what it holds.
    Verify {
        /// A public key (`ed25519:…`) or a file holding one; repeat for several.
        #[arg(long = "key", required = true)]
        keys: Vec<String>,
        bundle: PathBuf,
    },
    /// Send a bundle to one box or one group and wait for their statuses.
    Publish {
        #[command(flatten)]
        broker: Broker,
        /// The bundle file.
        #[arg(long)]
        bundle: PathBuf,
        /// Send to this box (<site>/<box_id>) on its own topic.
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        to: Option<String>,
        /// Send to this group's topic.
        #[arg(long)]
        group: Option<String>,
    },
    /// A staged rollout: the canary group first; each next group only once
    /// every box of the one before has confirmed the bundle. Stops at the
    /// first box that refuses it or rolls back.
    Rollout {
        #[command(flatten)]
        broker: Broker,
        /// The bundle file (signed for every group it goes to).
        #[arg(long)]
        bundle: PathBuf,
        /// The first group.
        #[arg(long)]
        canary: String,
        /// The groups after it, in order.
        #[arg(long = "then")]
        then: Vec<String>,
    },
}

/// How the office reaches the boxes' broker.
#[derive(Debug, Clone, Args)]
pub struct Broker {
    /// The broker, e.g. mqtt://broker.maple.example:1883.
    #[arg(long)]
    pub broker: String,
    /// User name on the broker.
    #[arg(long)]
    pub username: Option<String>,
    /// File holding the broker password (one line).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// The topic root box prefixes start with (`<root>/<site>/<box_id>`).
    #[arg(long, default_value = "watchpost")]
    pub topic_root: String,
    /// Where group bundles are published (the boxes' `fleet.group_topic_root`).
    #[arg(long, default_value = "watchpost/groups")]
    pub group_topic_root: String,
    /// How long to wait for every box of a stage to confirm (applied and
    /// healthy through its window), in seconds.
    #[arg(long, default_value_t = 600)]
    pub wait_secs: u64,
    /// How long to listen for the boxes' retained statuses before
    /// deciding who is in a group, in seconds.
    #[arg(long, default_value_t = 3)]
    pub discover_secs: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs `watchpost bundle …`.
pub fn command(args: &BundleArgs) -> ExitCode {
    match run(&args.command) {
        Ok(code) => code,
        Err(problems) => {
            for line in problems {
                eprintln!("{line}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(command: &BundleCommand) -> Result<ExitCode, Vec<String>> {
    match command {
        BundleCommand::Keygen { out } => keygen(out).map_err(|e| vec![e]),
        BundleCommand::Sign {
            key,
            targets,
            groups,
            version,
            rollback,
            expires_secs,
            not_before_secs,
            comment,
            out,
            config,
        } => {
            let key = bundle::read_secret(key).map_err(|e| vec![e])?;
            let now = now_secs();
            let request = Request {
                config: config.clone(),
                version: *version,
                rollback: *rollback,
                targets: Targets {
                    boxes: targets.clone(),
                    groups: groups.clone(),
                },
                not_before: now + not_before_secs,
                expires: now + not_before_secs + expires_secs,
                comment: comment.clone(),
            };
            let envelope = bundle::sign(&request, &key, now)?;
            let json = serde_json::to_string_pretty(&envelope).map_err(|e| vec![e.to_string()])?;
            match out {
                Some(path) => std::fs::write(path, json + "\n")
                    .map_err(|e| vec![format!("{}: cannot write: {e}", path.display())])?,
                None => say!("{json}"),
            }
            eprintln!(
                "bundle version {version} for {} signed by {}",
                bundle::describe_targets(&request.targets),
                fleet::key_text(&key.verifying_key())
            );
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Verify { keys, bundle: path } => {
            let mut pinned = Vec::new();
            for key in keys {
                let text = if key.starts_with(fleet::KEY_PREFIX) {
                    key.clone()
                } else {
                    std::fs::read_to_string(key).map_err(|e| vec![format!("{key}: cannot read: {e}")])?
                };
                pinned.push(fleet::parse_key(&text).map_err(|e| vec![format!("{key}: {e}")])?);
            }
            let bytes = std::fs::read(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
            let body = bundle::open(&bytes, &pinned).map_err(|refusal| refusal.reasons)?;
            say!("signature: good");
            say!(
                "version:   {}{}",
                body.version,
                if body.rollback { " (rollback)" } else { "" }
            );
            say!("targets:   {}", bundle::describe_targets(&body.targets));
            say!("issued:    {}", bundle::when(body.issued_at));
            say!(
                "valid:     {} to {}",
                bundle::when(body.not_before),
                bundle::when(body.expires)
            );
            for model in &body.models {
                say!(
                    "model:     {} manifest {} model {}",
                    model.name,
                    model.manifest_sha256,
                    model.model_sha256
                );
            }
            if !body.comment.is_empty() {
                say!("comment:   {}", body.comment);
            }
            let problems = bundle::managed_problems(&body.config);
            if !problems.is_empty() {
                return Err(problems);
            }
            Ok(ExitCode::SUCCESS)
        }
        BundleCommand::Publish {
            broker,
            bundle: path,
            to,
            group,
        } => {
            let stage = match (to, group) {
                (Some(to), _) => Stage::Box(to.clone()),
                (None, Some(group)) => Stage::Group(group.clone()),
                (None, None) => return Err(vec!["give --to <site>/<box_id> or --group <name>".into()]),
            };
            rollout(broker, path, vec![stage])
        }
        BundleCommand::Rollout {
            broker,
            bundle: path,
            canary,
            then,
        } => {
            let mut stages = vec![Stage::Group(canary.clone())];
            stages.extend(then.iter().cloned().map(Stage::Group));
            rollout(broker, path, stages)
        }
    }
}

fn keygen(out: &std::path::Path) -> Result<ExitCode, String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let key = bundle::generate_key()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| format!("{}: cannot create the key file: {e}", out.display()))?;
    file.write_all(bundle::secret_text(&key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("{}: cannot write: {e}", out.display()))?;
    let public = fleet::key_text(&key.verifying_key());
    let pub_path = out.with_extension("pub");
    std::fs::write(&pub_path, format!("{public}\n"))
        .map_err(|e| format!("{}: cannot write: {e}", pub_path.display()))?;
    say!("{public}");
    eprintln!(
        "private key in {} (keep it at the office), public key in {}; pin it on each box: [fleet] office_keys = [\"{public}\"]",
        out.display(),
        pub_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// One step of a rollout.
#[derive(Debug, Clone)]
enum Stage {
    Box(String),
    Group(String),
}

/// A box's retained bundle status, as much of it as the office reads.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct BoxStatus {
    #[serde(rename = "box")]
    box_: String,
    #[serde(default)]
    groups: Vec<String>,
    state: String,
    version: Option<u64>,
    #[serde(default)]
    reasons: Vec<String>,
}

/// What became of one stage.
#[derive(Debug, Serialize)]
struct StageReport {
    stage: String,
    ok: bool,
    boxes: Vec<BoxReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

#[derive(Debug, Serialize)]
struct BoxReport {
    #[serde(rename = "box")]
    box_: String,
    state: String,
    reasons: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    version: u64,
    ok: bool,
    stages: Vec<StageReport>,
}

fn rollout(broker: &Broker, path: &std::path::Path, stages: Vec<Stage>) -> Result<ExitCode, Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let envelope: Envelope =
        serde_json::from_slice(&bytes).map_err(|e| vec![format!("{}: not a bundle: {e}", path.display())])?;
    // Its version, for matching statuses (the boxes check the signature).
    let version = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &envelope.body)
        .ok()
        .and_then(|b| serde_json::from_slice::<bundle::Body>(&b).ok())
        .map(|b| b.version)
        .ok_or_else(|| vec![format!("{}: the bundle's body is not readable", path.display())])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| vec![e.to_string()])?;
    let report = runtime.block_on(rollout_on(broker, bytes, version, stages))?;
    if broker.json {
        say!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        for stage in &report.stages {
            say!("{}: {}", stage.stage, if stage.ok { "confirmed" } else { "FAILED" });
            if let Some(problem) = &stage.problem {
                say!("  {problem}");
            }
            for b in &stage.boxes {
                say!("  {} {}", b.box_, b.state);
                for reason in &b.reasons {
                    say!("    {reason}");
                }
            }
        }
        if !report.ok {
            say!("stopped at the first failure: later stages were not sent");
        }
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn rollout_on(broker: &Broker, bytes: Vec<u8>, version: u64, stages: Vec<Stage>) -> Result<Report, Vec<String>> {
    let url = url::Url::parse(&broker.broker).map_err(|e| vec![format!("--broker {}: {e}", broker.broker)])?;
    if url.scheme() != "mqtt" {
        return Err(vec![format!(
            "--broker {}: only mqtt://host:port is supported here",
            broker.broker
        )]);
    }
    let host = url.host_str().unwrap_or("127.0.0.1").to_string();
    let port = url.port().unwrap_or(1883);
    let mut options = MqttOptions::new(format!("watchpost-office-{}", std::process::id()), host, port);
    options.set_keep_alive(Duration::from_secs(15)).set_max_packet_size(
        crate::plan::bundle::MAX_BUNDLE + 4096,
        crate::plan::bundle::MAX_BUNDLE + 4096,
    );
    if let Some(user) = &broker.username {
        let password = match &broker.password_file {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|e| vec![format!("{}: cannot read: {e}", file.display())])?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        options.set_credentials(user.clone(), password);
    }
    let (client, mut events) = AsyncClient::new(options, 64);
    let root = broker.topic_root.trim_end_matches('/');
    let filter = format!("{root}/+/+/bundle/status");
    client
        .subscribe(filter.clone(), QoS::AtLeastOnce)
        .await
        .map_err(|e| vec![e.to_string()])?;
    let mut statuses: BTreeMap<String, BoxStatus> = BTreeMap::new();
    // The boxes' retained statuses: who is there, in which groups.
    let discover_until = Instant::now() + Duration::from_secs(broker.discover_secs);
    let mut connected = false;
    while Instant::now() < discover_until {
        match tokio::time::timeout_at(discover_until.into(), events.poll()).await {
            Err(_) => break,
            Ok(Ok(event)) => {
                connected |= matches!(event, Event::Incoming(Packet::ConnAck(_)));
                if let Some(status) = status_of(&event) {
                    statuses.insert(status.box_.clone(), status);
                }
            }
            Ok(Err(e)) => return Err(vec![format!("{}: {e}", broker.broker)]),
        }
    }
    if !connected {
        return Err(vec![format!(
            "{}: no connection within {} s",
            broker.broker, broker.discover_secs
        )]);
    }
    let mut report = Report {
        version,
        ok: true,
        stages: Vec::new(),
    };
    for stage in stages {
        let (name, topic, members): (String, String, Vec<String>) = match &stage {
            Stage::Box(b) => (b.clone(), format!("{root}/{b}/bundle"), vec![b.clone()]),
            Stage::Group(g) => (
                format!("group {g}"),
                fleet::group_topic(&broker.group_topic_root, g),
                statuses
                    .values()
                    .filter(|s| s.groups.contains(g))
                    .map(|s| s.box_.clone())
                    .collect(),
            ),
        };
        if members.is_empty() {
            report.ok = false;
            report.stages.push(StageReport {
                stage: name,
                ok: false,
                boxes: Vec::new(),
                problem: Some("no box reports this group in its bundle status; nothing was sent".into()),
            });
            break;
        }
        client
            .publish(topic.clone(), QoS::AtLeastOnce, false, bytes.clone())
            .await
            .map_err(|e| vec![e.to_string()])?;
        // Statuses from before this publish do not count.
        let mut fresh: BTreeMap<String, BoxStatus> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(broker.wait_secs);
        let mut problem = None;
        loop {
            let settled = members.iter().all(|m| {
                fresh
                    .get(m)
                    .is_some_and(|s| s.version == Some(version) && s.state == "confirmed")
            });
            let failed = fresh.values().any(|s| {
                members.contains(&s.box_) && matches!(s.state.as_str(), "refused" | "rolled_back" | "rollback_failed")
            });
            if settled || failed {
                break;
            }
            match tokio::time::timeout_at(deadline.into(), events.poll()).await {
                Err(_) => {
                    problem = Some(format!("not every box confirmed within {} s", broker.wait_secs));
                    break;
                }
                Ok(Ok(event)) => {
                    if let Some(status) = status_of(&event).filter(|_| is_live(&event)) {
                        if members.contains(&status.box_) {
                            tracing::info!(r#box = %status.box_, state = %status.state, "bundle status");
                        }
                        statuses.insert(status.box_.clone(), status.clone());
                        fresh.insert(status.box_.clone(), status);
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "broker connection lost; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        let boxes: Vec<BoxReport> = members
            .iter()
            .map(|m| match fresh.get(m) {
                Some(s) => BoxReport {
                    box_: m.clone(),
                    state: s.state.clone(),
                    reasons: s.reasons.clone(),
                },
                None => BoxReport {
                    box_: m.clone(),
                    state: "no answer".into(),
                    reasons: Vec::new(),
                },
            })
            .collect();
        let ok = problem.is_none() && boxes.iter().all(|b| b.state == "confirmed");
        report.ok &= ok;
        report.stages.push(StageReport {
            stage: name,
            ok,
            boxes,
            problem,
        });
        if !ok {
            break;
        }
    }
    let _ = client.disconnect().await;
    Ok(report)
}

/// A bundle status in an incoming message, if it is one.
fn status_of(event: &Event) -> Option<BoxStatus> {
    match event {
        Event::Incoming(Packet::Publish(p)) if p.topic.ends_with("/bundle/status") && !p.payload.is_empty() => {
            serde_json::from_slice(&p.payload).ok()
        }
        _ => None,
    }
}

/// Whether an incoming message was published now rather than kept by the broker.
fn is_live(event: &Event) -> bool {
    matches!(event, Event::Incoming(Packet::Publish(p)) if !p.retain)
}
