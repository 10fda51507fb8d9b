//! The fleet, seen from the security office: many boxes deliver to one hub
//! (a NATS JetStream cluster serving MQTT, docs/fleet.md), and the office
//! reads it with the same binary.
//!
//! * [`status`] — `watchpost fleet status`: every box and camera from the
//!   retained availability and status topics (and the stats seen meanwhile);
//! * [`watch`] — `watchpost fleet watch`: incidents from every box over a
//!   durable session, acknowledged only once written out, so an office that
//!   restarts misses nothing;
//! * [`simulate`] — the load generator of `scripts/fleet`: many simulated
//!   boxes on the same topics, payloads and QoS, each with its own
//!   in-memory outbox;
//! * [`ledger`] — what the simulation and the office wrote down, counted:
//!   lost, duplicated, out of order, latency;
//! * [`connect`] — the office's connection to the hub's nodes, moving to the
//!   next node when one fails.
//!
//! Nothing here runs on a box: it reads the contract of [`crate::publish`]
//! (topics and payloads) from the other side and never changes it.

pub mod connect;
pub mod ledger;
pub mod simulate;
pub mod status;
pub mod watch;

/// `watchpost fleet …`.
#[derive(Debug, clap::Subcommand)]
pub enum FleetCommand {
    /// List every box and camera the hub knows: online or not, last seen,
    /// camera states and health, outbox depth and version (from the stats
    /// messages seen while waiting).
    Status(status::StatusArgs),
    /// Stream incidents from every box, one line each (or JSON lines), over a
    /// durable session: what arrives while the office is away is kept by the
    /// hub and delivered when it is back.
    Watch(watch::WatchArgs),
    /// Play many simulated boxes against the hub (the fleet simulation).
    #[command(hide = true)]
    Simulate(simulate::SimulateArgs),
    /// Count what the simulation and the office wrote down.
    #[command(hide = true)]
    Tally(ledger::TallyArgs),
}

/// Runs a fleet command; the process's exit code.
pub fn command(command: FleetCommand) -> std::process::ExitCode {
    let result = match command {
        FleetCommand::Status(args) => status::command(&args),
        FleetCommand::Watch(args) => watch::command(&args),
        FleetCommand::Simulate(args) => simulate::command(&args),
        FleetCommand::Tally(args) => ledger::command(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("watchpost fleet: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
