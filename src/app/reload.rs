//! A reload (SIGHUP): the config file is read and checked again, and only
//! what changed moves. An invalid file, or a model that fails to load,
//! changes nothing. Unchanged cameras keep streaming untouched; a camera
//! whose only change is its zones, rules, health thresholds, snapshot
//! policy (`redact`) or clip settings (`[cameras.evidence]`) gets them
//! handed to its threads; a camera whose pipeline (privacy masks
//! included), detection or tracking changed is restarted;
//! added cameras start and removed ones stop; Home Assistant discovery and
//! the arming switches follow (entities of removed rules are withdrawn, a
//! kept rule keeps its armed state), and so do `[profiles]`. Other settings
//! outside `[[cameras]]` and `[models]` need a restart, and the log says so
//! — except the face search (`[privacy] face_model`, `face_confidence`):
//! pictures must never silently keep a search the file no longer asks for,
//! so a reload that changes it is refused and says a restart applies it.
//! `[privacy] cover_confidence` changes the detectors' plans, so the
//! cameras restart with it.
//!
//! The check and the model loading run on a task of their own
//! ([`App::begin_reload`]), so a slow one (a large model, a slow disk) never
//! holds up the main loop: the watchdog keeps pinging, SIGTERM is heard,
//! the cameras are watched. The result is applied on the loop
//! ([`App::finish_reload`]). Requests that arrive meanwhile are coalesced
//! ([`super::pending::Coalesce`]): one more reload follows, not one per
//! request. A stop abandons a reload in progress.

use tokio::task::{JoinError, JoinHandle};

use super::models::load_models;
use super::pending::Prepared;
use super::run::App;
use crate::observe::health;
use crate::plan::{CameraPlan, Plan};
use crate::publish::ControlEvent;

/// What a camera's pipeline is built from; a change restarts the camera
/// (including one that adds or removes the motion branch, or changes its rate).
fn pipeline_fingerprint(c: &CameraPlan) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        c.source,
        c.decode,
        c.detect,
        c.motion,
        c.track,
        c.gray_branch(),
        c.privacy.masks,
        c.privacy.keys
    )
}

/// What its analyzer's rules, its health watch, its snapshots and its
/// evidence clips are built from; a change swaps them live (the clip
/// settings are taken for the clips that start after it).
fn rules_fingerprint(c: &CameraPlan) -> String {
    format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        c.zones, c.rules, c.privacy.redact, c.privacy.labels, c.health, c.evidence
    )
}

/// Settings that only a restart applies, by name, with what they were built from.
fn global_fingerprints(plan: &Plan) -> [(&'static str, String); 9] {
    [
        ("site", plan.site.clone()),
        ("box_id", plan.box_id.clone()),
        ("state_dir", format!("{:?}", plan.state_dir)),
        ("runtime", format!("{:?}", plan.runtime)),
        ("mqtt", format!("{:?}", plan.mqtt)),
        ("outbox", format!("{:?}", plan.outbox)),
        ("metrics", format!("{:?}", plan.metrics)),
        ("console", format!("{:?}", plan.console)),
        ("integrations", format!("{:?}", plan.home_assistant)),
    ]
}

impl App {
    /// Starts a reload: the config file is read and checked, and the models
    /// it needs loaded, on a task of their own; [`Self::finish_reload`]
    /// applies the result on the main loop.
    pub(super) fn begin_reload(&self) -> JoinHandle<Prepared> {
        health::reloading();
        self.reloads.send_modify(|r| r.begun += 1);
        let path = self.started.path.clone();
        tracing::info!(config = %path.display(), "reloading the config");
        let (current, rt) = (self.models.clone(), self.rt);
        tokio::spawn(async move {
            let checked = tokio::task::spawn_blocking(move || {
                let plan = crate::plan::load(&path).map_err(|e| e.to_string())?;
                let problems = crate::infer::verify_models(&plan.models, &plan.runtime);
                if problems.is_empty() {
                    Ok(plan)
                } else {
                    Err(problems.join("\n"))
                }
            })
            .await
            .unwrap_or_else(|e| Err(format!("the check failed: {e}")));
            let plan = match checked {
                Ok(plan) => plan,
                Err(problems) => return Prepared::Invalid(problems),
            };
            match load_models(&current, rt, &plan).await {
                Ok(models) => Prepared::Ready {
                    plan: Box::new(plan),
                    models,
                },
                Err(e) => Prepared::ModelFailed(format!("{e:#}")),
            }
        })
    }

    /// Tells the console how the reload begun last went.
    fn reloaded(&self, outcome: String) {
        self.reloads.send_modify(|r| {
            r.finished = r.begun;
            r.outcome = outcome;
        });
    }

    /// Applies a prepared reload: an invalid file or a model that failed
    /// changes nothing; otherwise what changed moves.
    pub(super) async fn finish_reload(&mut self, prepared: Result<Prepared, JoinError>) {
        let (plan, models) = match prepared {
            Ok(Prepared::Ready { plan, models }) => (*plan, models),
            Ok(Prepared::Invalid(problems)) => {
                for line in problems.lines() {
                    tracing::error!(problem = %line, "reload: config problem");
                }
                tracing::error!(
                    problems = problems.lines().count(),
                    "reload refused: the new config is invalid; the running config stays in force"
                );
                self.metrics.reload("invalid");
                self.reloaded(format!("refused: the config is invalid\n{problems}"));
                health::ready("reload refused (invalid config); running the previous config");
                return;
            }
            Ok(Prepared::ModelFailed(error)) => {
                tracing::error!(error = %error, "reload refused: a model failed to load; the running config stays in force");
                self.metrics.reload("failed");
                self.reloaded(format!("refused: a model failed to load: {error}"));
                health::ready("reload failed (model); running the previous config");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "reload failed: its task ended early; the running config stays in force");
                self.metrics.reload("failed");
                self.reloaded("failed".to_string());
                health::ready("reload failed; running the previous config");
                return;
            }
        };
        // The face search is loaded once and shared by snapshots and live
        // views: a change to it is refused rather than silently not applied.
        if !self.started.privacy.same_face_search(&plan.privacy) {
            let why = "[privacy] face_model or face_confidence changed: the face search only changes with a restart \
                       (systemctl restart watchpost)";
            tracing::error!(
                "reload refused: {why}; the running config stays in force, pictures keep the running face search"
            );
            self.metrics.reload("refused");
            self.reloaded(format!("refused: {why}"));
            health::ready("reload refused (privacy needs a restart); running the previous config");
            return;
        }
        let stale: Vec<&str> = global_fingerprints(&self.started)
            .into_iter()
            .zip(global_fingerprints(&plan))
            .filter(|(old, new)| old.1 != new.1)
            .map(|(old, _)| old.0)
            .collect();
        if !stale.is_empty() {
            tracing::warn!(
                settings = %stale.join(", "),
                "reload: these settings changed but only apply after a restart (systemctl restart watchpost)"
            );
        }
        // Which cameras stop, which restart, which get new rules.
        let mut keep = Vec::new();
        let mut stop = Vec::new();
        let (mut restarted, mut swapped, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        for running in std::mem::take(&mut self.cameras) {
            match plan.cameras.iter().find(|c| c.name == running.plan.name) {
                None => {
                    removed.push(running.plan.name.to_string());
                    stop.push(running);
                }
                Some(new) if pipeline_fingerprint(new) != pipeline_fingerprint(&running.plan) => {
                    restarted.push(new.name.to_string());
                    stop.push(running);
                }
                Some(_) => keep.push(running),
            }
        }
        Self::stop_cameras(stop).await;
        self.models = models;
        let shared = self.shared();
        let mut cameras = Vec::new();
        let mut added = Vec::new();
        for new in &plan.cameras {
            if let Some(i) = keep.iter().position(|r| r.plan.name == new.name) {
                let mut running = keep.swap_remove(i);
                if rules_fingerprint(new) != rules_fingerprint(&running.plan) {
                    running.camera.update_rules(new.clone());
                    swapped.push(new.name.to_string());
                }
                running.plan = new.clone();
                cameras.push(running);
                continue;
            }
            if !restarted.iter().any(|n| n.as_str() == &*new.name) {
                added.push(new.name.to_string());
            }
            match self.start_camera(new, &shared) {
                Ok(running) => cameras.push(running),
                Err(e) => {
                    tracing::error!(camera = %new.name, error = %format!("{e:#}"), "reload: camera did not start")
                }
            }
        }
        self.cameras = cameras;
        let names: Vec<&str> = plan.cameras.iter().map(|c| &*c.name).collect();
        super::alerts::end_stale_incidents(
            &self.outbox,
            &plan.mqtt.topics,
            &names,
            // A reload is no stop: only cameras that left end their incidents.
            crate::publish::outbox::ledger::Downtime::Measured(std::time::Duration::ZERO),
        );
        self.publish_views();
        // Discovery and arming follow the new cameras, rules and profiles.
        if let Some(control) = &self.control {
            let _ = control.send(ControlEvent::Catalog(super::run::catalog(&plan)));
        }
        self.metrics.reload("applied");
        self.reloaded("applied".to_string());
        tracing::info!(
            added = ?added, removed = ?removed, restarted = ?restarted, rules_replaced = ?swapped,
            cameras = self.cameras.len(), "config reloaded"
        );
        health::ready(&format!("running {} camera(s); config reloaded", self.cameras.len()));
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The trial's test file with a rule that records clips (under a
    /// policy that allows them), and `extra` appended to its camera.
    fn plan(extra: &str) -> Plan {
        let text = format!(
            "{}{}{extra}",
            super::super::trial::tests::CONFIG,
            "[[cameras.rules]]\nname = \"clipped\"\nkind = \"intrusion\"\nzone = \"door\"\n\
             labels = [\"person\"]\nevidence = { pre_secs = 2, post_secs = 2 }\n\
             [cameras.privacy]\nredact = [\"persons\"]\n"
        );
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchpost.toml");
        let mut diags = crate::config::Diagnostics::default();
        let plan = crate::plan::check_text(&path, text, &mut diags);
        assert!(diags.is_empty(), "the test config checks: {diags:?}");
        plan.expect("a plan")
    }

    #[test]
    fn a_change_to_cameras_evidence_alone_is_handed_to_the_running_camera() {
        let before = plan("");
        let after = plan("[cameras.evidence]\nwidth = 320\nheight = 180\nfps = 2\n");
        let (old, new) = (&before.cameras[0], &after.cameras[0]);
        assert_ne!(old.evidence, new.evidence, "the clip settings differ");
        assert_eq!(
            pipeline_fingerprint(old),
            pipeline_fingerprint(new),
            "the camera is not restarted"
        );
        assert_ne!(
            rules_fingerprint(old),
            rules_fingerprint(new),
            "the new clip settings are handed to its threads"
        );
        let (old, new) = (global_fingerprints(&before), global_fingerprints(&after));
        assert_eq!(old, new, "nothing asks for a restart");
    }
}
