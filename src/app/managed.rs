//! The box's side of office-managed config: a signed bundle
//! ([`crate::plan::bundle`]) that arrives on the box's bundle topic or one of
//! its groups' is judged off the main loop — signature by a pinned key,
//! target, version (or signed rollback), validity window, the same check as
//! `check-config` on the file it would make, and the model hashes — and is
//! either refused with every reason, or written over the config file (the
//! running file kept as the last good one) and applied by the ordinary
//! reload. For `[fleet] health_window_secs` after that, the box watches its
//! own health: a camera that fails, reconnects or never reaches streaming,
//! or delivery to the broker that stops, puts the last good file back and
//! reloads it by itself; so does a box that restarts inside the window (a
//! crash, a watchdog kill). Every step is logged, and the outcome — applied,
//! confirmed, refused, rolled back — is published retained on the box's
//! bundle status topic.
//!
//! This module never touches the running parts itself: it answers "reload
//! now" and the app's loop does it through the one reload path.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::decode::CameraState;
use crate::observe::metrics::CameraView;
use crate::plan::Plan;
use crate::plan::bundle::{self, Body, Identity, Seen};
use crate::plan::fleet::FleetPlan;
use crate::publish::{BundleMessage, ControlEvent};

/// What the box keeps of its bundles, in the state directory.
pub const STATE_FILE: &str = "fleet.json";
/// The last config that ran well, in the state directory.
pub const LAST_GOOD_FILE: &str = "fleet-last-good.toml";

/// How long delivery may stay down during the window before it counts as stopped.
const DELIVERY_GRACE: Duration = Duration::from_secs(30);

/// The kept state.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct Kept {
    seen: Seen,
    /// The bundle version the file in force came from; 0: the box's own file.
    running: u64,
    /// The bundle version the last good file came from.
    #[serde(default)]
    last_good: u64,
    /// The bundle applied and still in its health window: a box that
    /// starts with this set restarted during the window, and rolls back.
    #[serde(default)]
    probation: Option<u64>,
}

/// A bundle judged: what to write, or every reason not to.
#[derive(Debug)]
pub(super) enum Verdict {
    Accept { body: Box<Body>, text: String },
    Refuse { version: Option<u64>, reasons: Vec<String> },
}

/// A reload the box asked for itself, not yet finished.
#[derive(Debug)]
enum Pending {
    Apply { body: Box<Body> },
    Rollback { version: u64, why: Vec<String> },
}

/// The window after a bundle was applied.
#[derive(Debug)]
struct Watch {
    version: u64,
    comment: String,
    until: Instant,
    /// Each camera's reconnect count when the bundle was applied.
    reconnects: BTreeMap<String, u64>,
    streamed: BTreeSet<String>,
    /// Since when the broker has been unreachable, while it is.
    undelivered_since: Option<Instant>,
    /// The box restarted during the window: roll back at once.
    restarted: bool,
}

/// The box's managed-config state.
pub(super) struct Managed {
    fleet: FleetPlan,
    site: String,
    box_id: String,
    config: PathBuf,
    state_file: PathBuf,
    last_good: PathBuf,
    kept: Kept,
    control: Option<UnboundedSender<ControlEvent>>,
    pending: Option<Pending>,
    watch: Option<Watch>,
}

/// The retained status message.
#[derive(Debug, Serialize)]
struct Status<'a> {
    #[serde(rename = "box")]
    box_: String,
    groups: &'a [String],
    /// idle, applied (watching its health), confirmed, refused, rolled_back, rollback_failed.
    state: &'a str,
    /// The bundle this is about.
    version: Option<u64>,
    /// The bundle version of the file in force; 0: the box's own file.
    running_version: u64,
    reasons: &'a [String],
    comment: &'a str,
    at: String,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes a file whole: a temporary file beside it, synced, renamed over it.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    // The config may be read by the service's group only: keep the mode it had.
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

impl Managed {
    /// The managed-config state of a box whose `[fleet]` pins office keys;
    /// None otherwise.
    pub(super) fn start(plan: &Plan) -> Option<Self> {
        if !plan.fleet.managed() {
            return None;
        }
        let state_file = plan.state_dir.join(STATE_FILE);
        let kept = match std::fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::error!(file = %state_file.display(), error = %e, "fleet state is damaged; bundles start from version 0");
                Kept::default()
            }),
            Err(_) => Kept::default(),
        };
        // A restart inside a bundle's health window (a crash, a watchdog
        // kill, an operator) counts against the bundle.
        let watch = kept.probation.map(|version| Watch {
            version,
            comment: String::new(),
            until: Instant::now(),
            reconnects: BTreeMap::new(),
            streamed: BTreeSet::new(),
            undelivered_since: None,
            restarted: true,
        });
        tracing::info!(
            keys = plan.fleet.office_keys.len(),
            groups = ?plan.fleet.groups,
            running_version = kept.running,
            highest_version = kept.seen.highest,
            "config managed by the office: signed bundles are taken"
        );
        Some(Self {
            fleet: plan.fleet.clone(),
            site: plan.site.clone(),
            box_id: plan.box_id.clone(),
            config: plan.path.clone(),
            last_good: plan.state_dir.join(LAST_GOOD_FILE),
            state_file,
            kept,
            control: None,
            pending: None,
            watch,
        })
    }

    /// The topics bundles arrive on: the box's own and its groups'.
    pub(super) fn topics(&self, topics: &crate::publish::Topics) -> Vec<String> {
        let mut all = vec![topics.bundle()];
        all.extend(self.fleet.groups.iter().map(|g| self.fleet.group_topic(g)));
        all
    }

    /// Where statuses go; the first one (idle) is sent at once.
    pub(super) fn connect(&mut self, control: UnboundedSender<ControlEvent>) {
        self.control = Some(control);
        self.publish("idle", None, &[], "");
    }

    fn publish(&self, state: &str, version: Option<u64>, reasons: &[String], comment: &str) {
        let status = Status {
            box_: format!("{}/{}", self.site, self.box_id),
            groups: &self.fleet.groups,
            state,
            version,
            running_version: self.kept.running,
            reasons,
            comment,
            at: jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
        if let (Some(control), Ok(json)) = (&self.control, serde_json::to_vec(&status)) {
            let _ = control.send(ControlEvent::BundleStatus(json));
        }
    }

    fn save(&self) {
        let bytes = serde_json::to_vec_pretty(&self.kept).unwrap_or_default();
        if let Err(e) = write_atomic(&self.state_file, &bytes) {
            tracing::error!(file = %self.state_file.display(), error = %e, "cannot keep the fleet state; an older bundle could be taken after a restart");
        }
    }

    /// Whether a bundle may be judged now: not while one is being applied
    /// or watched (it is refused and says so).
    pub(super) fn busy(&self) -> Option<String> {
        match (&self.pending, &self.watch) {
            (Some(_), _) => {
                Some("the box is applying or rolling back another bundle; send it again when its status settles".into())
            }
            (None, Some(w)) => Some(format!(
                "the box is watching its health after version {} (for {} s more); send it again once that one is confirmed",
                w.version,
                w.until.saturating_duration_since(Instant::now()).as_secs()
            )),
            (None, None) => None,
        }
    }

    /// A judgement of `message` to run off the main loop.
    pub(super) fn judge(&self, message: BundleMessage) -> impl FnOnce() -> Verdict + Send + 'static {
        let keys = self.fleet.office_keys.clone();
        let (site, box_id, groups) = (self.site.clone(), self.box_id.clone(), self.fleet.groups.clone());
        let (config, seen) = (self.config.clone(), self.kept.seen);
        move || {
            tracing::info!(topic = %message.topic, bytes = message.payload.len(), "config bundle received");
            let me = Identity {
                site: &site,
                box_id: &box_id,
                groups: &groups,
            };
            judge(&message, &keys, me, seen, &config, now_secs())
        }
    }

    /// Takes a verdict: a refusal is published; an accepted bundle is
    /// written over the config file (the running one kept as the last
    /// good) and true says "reload now".
    pub(super) fn take(&mut self, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Refuse { version, reasons } => {
                for reason in &reasons {
                    tracing::warn!(version, reason = %reason, "config bundle refused");
                }
                tracing::warn!(
                    version,
                    reasons = reasons.len(),
                    "config bundle refused; nothing changed"
                );
                self.publish("refused", version, &reasons, "");
                false
            }
            Verdict::Accept { body, text } => {
                let running = match std::fs::read(&self.config) {
                    Ok(running) => running,
                    Err(e) => {
                        let why = vec![format!("cannot read the running config {}: {e}", self.config.display())];
                        self.publish("refused", Some(body.version), &why, &body.comment);
                        return false;
                    }
                };
                if let Err(e) = write_atomic(&self.last_good, &running) {
                    let why = vec![format!(
                        "cannot keep the last good config {}: {e}",
                        self.last_good.display()
                    )];
                    tracing::error!(version = body.version, reason = %why[0], "config bundle refused");
                    self.publish("refused", Some(body.version), &why, &body.comment);
                    return false;
                }
                if let Err(e) = write_atomic(&self.config, text.as_bytes()) {
                    let why = vec![format!("cannot write the config {}: {e}", self.config.display())];
                    tracing::error!(version = body.version, reason = %why[0], "config bundle refused");
                    self.publish("refused", Some(body.version), &why, &body.comment);
                    return false;
                }
                tracing::info!(
                    version = body.version,
                    rollback = body.rollback,
                    last_good = %self.last_good.display(),
                    "config bundle verified and written; reloading"
                );
                self.kept.last_good = self.kept.running;
                self.pending = Some(Pending::Apply { body });
                true
            }
        }
    }

    /// After a reload finished: settles the bundle it applied, if any.
    pub(super) fn reloaded(&mut self, outcome: &str, cameras: &[CameraView], delivering: bool) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let applied = outcome == "applied";
        match pending {
            Pending::Apply { body } if applied => {
                self.kept.running = body.version;
                if !body.rollback {
                    self.kept.seen.highest = self.kept.seen.highest.max(body.version);
                }
                self.kept.seen.last_issued = self.kept.seen.last_issued.max(body.issued_at);
                self.kept.probation = Some(body.version);
                self.save();
                let window = self.fleet.keys.health_window_secs;
                tracing::info!(
                    version = body.version,
                    window_secs = window.as_secs(),
                    "config bundle applied; watching the box's health"
                );
                self.watch = Some(Watch {
                    version: body.version,
                    comment: body.comment.clone(),
                    until: Instant::now() + window,
                    reconnects: cameras
                        .iter()
                        .map(|c| {
                            (
                                c.name.to_string(),
                                c.stream.reconnects.load(std::sync::atomic::Ordering::Relaxed),
                            )
                        })
                        .collect(),
                    streamed: BTreeSet::new(),
                    undelivered_since: (!delivering).then(Instant::now),
                    restarted: false,
                });
                self.publish("applied", Some(body.version), &[], &body.comment);
            }
            Pending::Apply { body } => {
                // The reload refused it: the running config never changed; the file goes back.
                let mut why = vec![format!("the reload refused it: {outcome}")];
                if let Err(e) = self.restore() {
                    why.push(e);
                }
                tracing::warn!(version = body.version, outcome = %outcome, "config bundle refused by the reload; the last good config is back in the file");
                self.publish("refused", Some(body.version), &why, &body.comment);
            }
            Pending::Rollback { version, why } if applied => {
                self.kept.running = self.kept.last_good;
                self.save();
                tracing::warn!(version, reasons = ?why, "rolled back to the last good config");
                self.publish("rolled_back", Some(version), &why, "");
            }
            Pending::Rollback { version, mut why } => {
                why.push(format!("the rollback's reload failed too: {outcome}"));
                tracing::error!(version, reasons = ?why, "rollback failed; the box runs what its reload kept");
                self.publish("rollback_failed", Some(version), &why, "");
            }
        }
    }

    fn restore(&self) -> Result<(), String> {
        let good = std::fs::read(&self.last_good)
            .map_err(|e| format!("cannot read the last good config {}: {e}", self.last_good.display()))?;
        write_atomic(&self.config, &good).map_err(|e| format!("cannot put the last good config back: {e}"))
    }

    /// One look at the box's health while a bundle is on probation: true
    /// says the last good file is back and a reload is due now.
    pub(super) fn watch(&mut self, cameras: &[CameraView], delivering: bool) -> bool {
        let Some(watch) = &mut self.watch else {
            return false;
        };
        let now = Instant::now();
        let mut why = Vec::new();
        let restarted = watch.restarted;
        if restarted {
            why.push(format!(
                "the box restarted during version {}'s health window",
                watch.version
            ));
        }
        for camera in cameras.iter().filter(|_| !restarted) {
            let name = camera.name.to_string();
            let state = camera.stream.state();
            if state == CameraState::Streaming {
                watch.streamed.insert(name.clone());
            }
            let reason = camera.stream.reason().map(|r| format!(": {r}")).unwrap_or_default();
            if state == CameraState::Failed {
                why.push(format!("camera `{name}` failed{reason}"));
                continue;
            }
            let before = watch.reconnects.get(&name).copied().unwrap_or(0);
            let after = camera.stream.reconnects.load(std::sync::atomic::Ordering::Relaxed);
            if after > before {
                why.push(format!(
                    "camera `{name}` reconnected {} time(s) since the bundle was applied (now {state}{reason})",
                    after - before
                ));
            }
        }
        match (delivering, watch.undelivered_since) {
            (true, _) => watch.undelivered_since = None,
            (false, None) => watch.undelivered_since = Some(now),
            (false, Some(since))
                if now.duration_since(since) >= DELIVERY_GRACE.min(self.fleet.keys.health_window_secs / 2) =>
            {
                why.push(format!(
                    "delivery stopped: the broker has been unreachable for {} s",
                    now.duration_since(since).as_secs()
                ));
            }
            _ => {}
        }
        if why.is_empty() && now >= watch.until {
            for camera in cameras {
                if !watch.streamed.contains(&*camera.name) {
                    let reason = camera.stream.reason().map(|r| format!(": {r}")).unwrap_or_default();
                    why.push(format!(
                        "camera `{}` did not reach streaming within {} s (now {}{reason})",
                        camera.name,
                        self.fleet.keys.health_window_secs.as_secs(),
                        camera.stream.state()
                    ));
                }
            }
            if why.is_empty() {
                let (version, comment) = (watch.version, watch.comment.clone());
                self.watch = None;
                match std::fs::read(&self.config).map(|text| write_atomic(&self.last_good, &text)) {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) | Err(e) => {
                        tracing::error!(error = %e, "cannot keep the confirmed config as the last good one")
                    }
                }
                self.kept.last_good = version;
                self.kept.probation = None;
                self.save();
                tracing::info!(
                    version,
                    "config bundle confirmed: the box stayed healthy through its window"
                );
                self.publish("confirmed", Some(version), &[], &comment);
                return false;
            }
        }
        if why.is_empty() {
            return false;
        }
        let version = watch.version;
        self.watch = None;
        self.kept.probation = None;
        self.save();
        for reason in &why {
            tracing::error!(version, reason = %reason, "config bundle made the box unhealthy");
        }
        if let Err(e) = self.restore() {
            why.push(e);
            tracing::error!(version, reasons = ?why, "rollback failed: the last good config cannot be put back");
            self.publish("rollback_failed", Some(version), &why, "");
            return false;
        }
        tracing::warn!(version, "rolling back to the last good config");
        self.pending = Some(Pending::Rollback { version, why });
        true
    }
}

/// Judges one bundle for this box: every reason to refuse it, or the file
/// it makes.
fn judge(
    message: &BundleMessage,
    keys: &[ed25519_dalek::VerifyingKey],
    me: Identity<'_>,
    seen: Seen,
    config: &Path,
    now: u64,
) -> Verdict {
    let mut reasons = Vec::new();
    if message.retained {
        reasons.push(
            "the bundle was retained on the broker: only live bundles are applied (publish it without the retain flag); it was cleared"
                .to_string(),
        );
    }
    let body = match bundle::open(&message.payload, keys) {
        Ok(body) => body,
        Err(refusal) => {
            reasons.extend(refusal.reasons);
            return Verdict::Refuse {
                version: refusal.version,
                reasons,
            };
        }
    };
    reasons.extend(bundle::judge(&body, me, seen, now));
    let local = match std::fs::read_to_string(config) {
        Ok(local) => local,
        Err(e) => {
            reasons.push(format!("cannot read the box's config {}: {e}", config.display()));
            return Verdict::Refuse {
                version: Some(body.version),
                reasons,
            };
        }
    };
    let text = match bundle::compose(&local, &body.config) {
        Ok(text) => text,
        Err(e) => {
            reasons.push(e);
            return Verdict::Refuse {
                version: Some(body.version),
                reasons,
            };
        }
    };
    // The same check as `check-config`, on the file the bundle would make.
    let mut diags = crate::config::Diagnostics::default();
    match crate::plan::check_text(config, text.clone(), &mut diags) {
        Some(plan) if diags.is_empty() => {
            reasons.extend(bundle::model_mismatches(&body, &plan.models));
            if reasons.is_empty() {
                reasons.extend(crate::infer::verify_models(&plan.models, &plan.runtime));
            }
        }
        _ => reasons.extend(
            diags
                .into_sorted()
                .iter()
                .map(|d| format!("check-config, on the file the bundle would make: {d}")),
        ),
    }
    if reasons.is_empty() {
        Verdict::Accept {
            body: Box::new(body),
            text,
        }
    } else {
        Verdict::Refuse {
            version: Some(body.version),
            reasons,
        }
    }
}
