//! The `watchpost` command: run the box, check a config before running it,
//! probe a camera. Under systemd `run` reports readiness and liveness on
//! `$NOTIFY_SOCKET`, reloads its config on SIGHUP and stops gracefully on
//! SIGTERM.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Exit status for a config that failed its check.
const EXIT_CONFIG: u8 = 2;
/// Exit status when another watchpost owns the state directory, or when
/// it is not safe to use (another user may write it): systemd does not
/// restart on it (RestartPreventExitStatus=2), an operator has to act.
const EXIT_IN_USE: u8 = 2;

/// The state directory's lock, when `run` failed because another process
/// holds it or the directory is not safe.
fn in_use(e: &anyhow::Error) -> Option<&watchpost::publish::LockError> {
    use watchpost::publish::{LockError, OutboxError};
    e.chain()
        .find_map(|cause| match cause.downcast_ref::<OutboxError>() {
            Some(OutboxError::Locked(lock)) => Some(lock),
            _ => cause.downcast_ref::<LockError>(),
        })
        .filter(|lock| matches!(lock, LockError::Held { .. } | LockError::Unsafe { .. }))
}

#[derive(Parser)]
#[command(
    name = "watchpost",
    version,
    about = "Edge video analytics for residential communities: cameras in, anonymized incident alerts out"
)]
struct Cli {
    /// Log filter, e.g. "info" or "watchpost=debug,ort=warn" (default: "info,ort=warn"; "warn" for check-config and probe).
    #[arg(long, global = true, env = "WATCHPOST_LOG")]
    log: Option<String>,
    /// Log line format: text (readable in journalctl) or json (one object per line).
    #[arg(long, global = true, env = "WATCHPOST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the cameras and publish incidents. SIGHUP reloads the config
    /// (an invalid one is refused and the running one kept); SIGTERM stops.
    Run {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Print the effective config (every default filled in, secrets
        /// masked) as TOML and exit instead of running.
        #[arg(long)]
        print_config: bool,
    },
    /// Check a config and report every problem, one line each; exit 2 if any.
    CheckConfig {
        /// The config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Open a camera or file, decode its first frame, and report codec,
    /// size, frame rate, the decoder chosen and the time to the first frame.
    Probe {
        /// rtsp://, http(s)://, /dev/videoN (or v4l2:///dev/videoN), or a
        /// file path. Give the
        /// password with --password-file or $WATCHPOST_PROBE_PASSWORD, not
        /// in the URL: a command line is visible to every user in `ps`.
        uri: String,
        /// User name for the camera, e.g. "viewer" (or put it in the URL).
        #[arg(long)]
        username: Option<String>,
        /// File holding the camera's password (one line), e.g. /etc/watchpost/cam-gate.password.
        #[arg(long, conflicts_with = "password_env")]
        password_file: Option<PathBuf>,
        /// Name of an environment variable holding the password.
        #[arg(long, default_value = "WATCHPOST_PROBE_PASSWORD")]
        password_env: String,
        /// RTSP transport: tcp or udp.
        #[arg(long, default_value = "tcp")]
        transport: String,
        /// auto, software, or a decoder element name.
        #[arg(long, default_value = "auto")]
        decoder: String,
        /// Seconds to wait for the first frame.
        #[arg(long, default_value_t = 15)]
        timeout_secs: u64,
    },
    /// Run one camera's full pipeline on a recording, as fast as it decodes, and
    /// print its incidents as JSON lines: tune zones and rules offline.
    Replay(watchpost::app::replay::ReplayArgs),
    /// Score a camera's rules on a recording against moments a person
    /// labelled: precision, recall and delay per rule.
    Eval(watchpost::app::eval::EvalArgs),
    /// Read a console password and print its argon2 hash, for `[console]
    /// password_file` (or a systemd credential). On a terminal it is asked
    /// twice and never shown; otherwise it is the first line of standard input.
    HashPassword,
    /// Print the JSON Schema of the config file: every table and key with
    /// its type, default and description (docs/schema/config.json).
    Schema {
        /// Print the key reference as Markdown instead (docs/config.md).
        #[arg(long)]
        markdown: bool,
    },
    /// The security office's view of many boxes on one hub (docs/fleet.md):
    /// `fleet status` lists boxes and cameras, `fleet watch` streams incidents.
    #[command(subcommand)]
    Fleet(watchpost::fleet::FleetCommand),
    /// Signed config bundles for office-managed boxes: keygen, sign,
    /// verify, publish, rollout (docs/fleet-config.md).
    Bundle(watchpost::app::office::BundleArgs),
    /// Verify evidence clips: each manifest's signature with the box's
    /// public key, that its MP4 is the one it names, and for a folder the
    /// chain of manifests (a clip deleted or replaced in the middle breaks
    /// it). Exit 0 when all holds; 2 usage or no clip found, 3 the key
    /// cannot be read, 4 a manifest cannot be read, 5 a signature does not
    /// match, 6 a clip's content does not match its manifest, 7 the chain
    /// is broken (docs/privacy.md).
    Verify {
        /// A clip (.mp4), its manifest (.manifest.json), or a folder of clips.
        path: PathBuf,
        /// The box's public key file (box.pub, hex), e.g.
        /// /var/lib/watchpost/evidence/box.pub.
        #[arg(long)]
        key: PathBuf,
    },
    /// Print the version.
    Version,
}

/// A new password: from the terminal without echo, asked twice; or the
/// first line of standard input when it is not a terminal (a pipe, a file).
fn read_new_password() -> Result<String, String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        let mut password = String::new();
        std::io::stdin()
            .read_line(&mut password)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        return Ok(password);
    }
    let ask = |prompt: &str| rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the password: {e}"));
    let first = ask("Console password (not shown): ")?;
    let again = ask("Again: ")?;
    if first != again {
        return Err("the two passwords differ; nothing was hashed".into());
    }
    Ok(first)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default = match cli.command {
        Command::Run { .. } => "info,ort=warn",
        _ => "warn",
    };
    let filter = EnvFilter::try_new(cli.log.as_deref().unwrap_or(default)).unwrap_or_else(|_| EnvFilter::new(default));
    // Colour only on a terminal: journald and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(ansi).init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    match cli.command {
        Command::Probe {
            uri,
            username,
            password_file,
            password_env,
            transport,
            decoder,
            timeout_secs,
        } => {
            let password = match password_file {
                Some(path) => match watchpost::config::SecretSource::File(path).read() {
                    Ok(secret) => Some(secret),
                    Err(e) => {
                        eprintln!("--password-file: {e}");
                        return ExitCode::from(EXIT_CONFIG);
                    }
                },
                None => std::env::var(&password_env)
                    .ok()
                    .filter(|p| !p.is_empty())
                    .map(watchpost::config::Secret::new),
            };
            probe(&uri, username, password, &transport, decoder, timeout_secs)
        }
        Command::Replay(args) => watchpost::app::replay::command(&args),
        Command::Eval(args) => watchpost::app::eval::command(&args),
        Command::Bundle(args) => watchpost::app::office::command(&args),
        Command::HashPassword => {
            let password = match read_new_password() {
                Ok(password) => password,
                Err(e) => {
                    eprintln!("watchpost: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                eprintln!("watchpost: the password is empty");
                return ExitCode::FAILURE;
            }
            match watchpost::console::auth::hash_password(password) {
                Ok(hash) => {
                    println!("{hash}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("watchpost: cannot hash the password: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Schema { markdown } => {
            let schema = watchpost::plan::schema::config_schema();
            if markdown {
                print!("{}", watchpost::plan::schema::reference(&schema));
            } else {
                println!("{}", serde_json::to_string_pretty(&schema).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Command::Fleet(command) => watchpost::fleet::command(command),
        Command::Version => {
            println!("watchpost {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Verify { path, key } => {
            use watchpost::evidence::verify::{self, Failure};
            let checked = watchpost::evidence::keys::read_public(&key)
                .map_err(|e| Failure::Key(e.to_string()))
                .and_then(|key| verify::verify(&path, &key));
            match checked {
                Ok(verified) => {
                    for (seq, manifest) in &verified.clips {
                        println!("ok  seq {seq}  {}", manifest.display());
                    }
                    if let Some(seq) = verified.chain_starts_after {
                        println!("the chain starts at seq {seq}: the clips before it are no longer here (retention)");
                    }
                    println!("verified {} clip(s)", verified.clips.len());
                    ExitCode::SUCCESS
                }
                Err(failure) => {
                    eprintln!("watchpost verify: {failure}");
                    ExitCode::from(failure.code())
                }
            }
        }
        Command::CheckConfig { config } => match watchpost::plan::load(&config) {
            Ok(plan) => {
                let problems = watchpost::infer::verify_models(&plan.models, &plan.runtime);
                if !problems.is_empty() {
                    for line in problems {
                        eprintln!("{line}");
                    }
                    return ExitCode::from(EXIT_CONFIG);
                }
                println!(
                    "{}: OK ({} camera{}, {} model{})",
                    config.display(),
                    plan.cameras.len(),
                    if plan.cameras.len() == 1 { "" } else { "s" },
                    plan.models.len(),
                    if plan.models.len() == 1 { "" } else { "s" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_CONFIG)
            }
        },
        Command::Run { config, print_config } => {
            let plan = match watchpost::plan::load(&config) {
                Ok(plan) => plan,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            if print_config {
                let text = std::fs::read_to_string(&config).unwrap_or_default();
                return match watchpost::plan::effective::render(&plan, &text) {
                    Ok(toml) => {
                        print!("{toml}");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("{}: {e}", config.display());
                        ExitCode::from(EXIT_CONFIG)
                    }
                };
            }
            match run(plan) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if in_use(&e).is_some() => {
                    // Another watchpost owns the state directory: leave its files alone.
                    eprintln!("watchpost: {}", in_use(&e).map(ToString::to_string).unwrap_or_default());
                    ExitCode::from(EXIT_IN_USE)
                }
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn probe(
    uri: &str,
    username: Option<String>,
    password: Option<watchpost::config::Secret>,
    transport: &str,
    decoder: String,
    timeout_secs: u64,
) -> ExitCode {
    use watchpost::source::{Credentials, SourcePlan, Transport};
    let transport = match transport {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        other => {
            eprintln!("--transport must be tcp or udp, not `{other}`");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    // The same parser as a camera's `[cameras.source] url`.
    let mut source = match SourcePlan::open(uri, std::path::Path::new("."), transport) {
        Ok(source) => source,
        // A URL that does not parse may hold a password: never print it.
        Err(e @ watchpost::source::SourceError::Url(_)) => {
            eprintln!("{uri}: {e}", uri = watchpost::config::secret::mask_unparsed(uri));
            return ExitCode::from(EXIT_CONFIG);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if !source.is_network() {
        if username.is_some() {
            eprintln!(
                "{}: a user name and password apply to rtsp:// and http(s):// sources only",
                source.display
            );
            return ExitCode::from(EXIT_CONFIG);
        }
    } else {
        if source.url.password().is_some() {
            eprintln!(
                "warning: the password in the URL is visible to every user in `ps`; use --password-file or $WATCHPOST_PROBE_PASSWORD"
            );
        }
        match (
            username.or_else(|| source.credentials.as_ref().map(|c| c.user.clone())),
            password,
        ) {
            (Some(user), Some(password)) => source.credentials = Some(Credentials { user, password }),
            (Some(user), None) => {
                let password = source.credentials.take().map(|c| c.password).unwrap_or_default();
                source.credentials = Some(Credentials { user, password });
            }
            (None, Some(_)) => {
                eprintln!("a password is given but no user name; add --username or put it in the URL");
                return ExitCode::from(EXIT_CONFIG);
            }
            (None, None) => {}
        }
    }
    let choice = watchpost::decode::DecoderChoice::from(decoder);
    match watchpost::decode::probe::probe(&source, &choice, std::time::Duration::from_secs(timeout_secs)) {
        Ok(r) => {
            println!("source:      {}", r.source);
            println!("codec:       {}", r.codec);
            println!("resolution:  {}x{}", r.width, r.height);
            match r.fps {
                Some((n, d)) => println!("frame rate:  {n}/{d} ({:.2} fps)", n as f64 / d as f64),
                None => println!("frame rate:  variable or unknown"),
            }
            if r.decoder_reason.is_empty() {
                println!("decoder:     {}", r.decoder);
            } else {
                println!("decoder:     {} ({})", r.decoder, r.decoder_reason);
            }
            println!("first frame: {} ms", r.first_frame.as_millis());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(plan: watchpost::plan::Plan) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let cancel = CancellationToken::new();
        let (reload, requests) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(watch_signals(cancel.clone(), reload));
        let control = watchpost::app::Control { reload: Some(requests) };
        watchpost::app::run_with(plan, cancel, control).await.map(drop)
    });
    // A reload still reading its config or loading a model when the box
    // stopped is abandoned, not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// SIGINT or SIGTERM asks for a graceful stop; SIGHUP for a config reload.
async fn watch_signals(cancel: CancellationToken, reload: tokio::sync::mpsc::UnboundedSender<()>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut hup) = match (signal(SignalKind::terminate()), signal(SignalKind::hangup())) {
        (Ok(term), Ok(hup)) => (term, hup),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM and SIGHUP; only Ctrl-C stops the box");
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
            return;
        }
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reload asked for");
                let _ = reload.send(());
            }
        }
    }
    tracing::info!("stopping");
    cancel.cancel();
}
