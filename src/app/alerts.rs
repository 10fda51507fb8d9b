//! Where a camera's incident events go, from whichever of its threads
//! raised them (detect or motion): the outbox first — an event counts as
//! raised once it is there — then, for rules that ask for one, a snapshot
//! handed to the snapshot worker without waiting; the control task hears of
//! each incident's start and end (Home Assistant's `active` flags), and the
//! outbox's ledger of open incidents follows them, so a restart takes an
//! open incident up again rather than raising it twice
//! ([`end_stale_incidents`] ends those that nothing will take up).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::shared::Shared;
use super::snapshot::SnapshotJob;
use crate::anonymize::{self, Picture, Sightings, privacy::CameraPrivacyPlan};
use crate::decode::{DecodePlan, Stream};
use crate::evidence::config::CameraEvidencePlan;
use crate::evidence::recorder::Request;
use crate::observe::CameraStats;
use crate::plan::CameraPlan;
use crate::publish::{ControlEvent, Outbox, OutboxError, Topics};
use crate::rules::{self, EventKind, EvidenceWindow, IncidentEvent, OpenIncident, Target};

/// Where a camera's incident events go, from whichever of its threads
/// raised them: the outbox first (an event counts as raised once it is
/// there), then, for rules that ask for one, a snapshot.
#[derive(Clone)]
pub(super) struct Alerts {
    pub camera: Arc<str>,
    pub(super) stream: Arc<Stream>,
    /// Rules whose incidents are followed by a snapshot.
    pub(super) snapshot_rules: Vec<Arc<str>>,
    /// Rules whose incidents get an evidence clip, and its window.
    pub(super) evidence_rules: Vec<(Arc<str>, EvidenceWindow)>,
    pub(super) evidence_plan: CameraEvidencePlan,
    /// The camera's detector and its file's SHA-256, for clip manifests.
    pub(super) detector: (String, String),
    pub(super) privacy: Arc<CameraPrivacyPlan>,
    pub(super) decode: DecodePlan,
    pub(super) stats: Arc<CameraStats>,
    /// What the detector saw on the frame it analysed last: snapshots are
    /// made of that frame and covered over it.
    pub(super) sightings: Arc<Sightings>,
    /// Where events, snapshots and clips go, and who hears of them: the
    /// outbox, the snapshot worker, the recorder, the control task (each
    /// incident's start and end) and the console's incident feed. Its
    /// arming switches are those this camera's engines follow.
    pub(super) shared: Shared,
}

impl Alerts {
    /// The rules of `plan` whose incidents are followed by a snapshot.
    pub(super) fn snapshot_rules(plan: &CameraPlan) -> Vec<Arc<str>> {
        plan.rules
            .iter()
            .filter(|r| r.keys.snapshot)
            .map(|r| r.name.clone())
            .collect()
    }

    /// The rules of `plan` whose incidents get an evidence clip.
    pub(super) fn evidence_rules(plan: &CameraPlan) -> Vec<(Arc<str>, EvidenceWindow)> {
        plan.rules
            .iter()
            .filter_map(|r| r.keys.evidence.map(|w| (r.name.clone(), w)))
            .collect()
    }

    /// Hands the frame just analysed, with what covers it, to the evidence
    /// pre-roll, when a rule of this camera records clips (without waiting).
    pub(super) fn offer_evidence_frame(&self) {
        let Some(evidence) = &self.shared.evidence else { return };
        let Some(keep) = self.evidence_rules.iter().map(|(_, w)| w.pre_secs).max() else {
            return;
        };
        match self.sightings.frame(self.stream.held()) {
            Ok(picture) => evidence.offer_frame(&self.camera, picture, self.evidence_plan, keep),
            Err(_) => {
                evidence.stats.frames_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Takes a reloaded camera's snapshot rules and privacy policy: the next
    /// snapshot follows them. (Its masks are in the pipeline, which a
    /// changed mask rebuilds.)
    pub(super) fn follow(&mut self, plan: &CameraPlan) {
        self.snapshot_rules = Self::snapshot_rules(plan);
        self.evidence_rules = Self::evidence_rules(plan);
        self.evidence_plan = plan.evidence;
        if self.shared.evidence.is_none() && !self.evidence_rules.is_empty() {
            tracing::warn!(camera = %self.camera,
                "a rule now asks for evidence clips, but the box started without any: restart it to record them");
        }
        if *self.privacy != plan.privacy {
            self.privacy = Arc::new(plan.privacy.clone());
            self.sightings.set_labels(plan.privacy.labels.clone());
            tracing::info!(camera = %self.camera, redact = ?self.privacy.redact, "privacy policy replaced");
        }
    }

    /// The frame the detector analysed last, at the snapshot size, with what
    /// it saw there; None (logged, counted) when it is withheld: no fresh
    /// analysis covers it.
    pub fn picture(&self, incident_id: &str) -> Option<Picture> {
        match self
            .sightings
            .picture(self.stream.held(), self.decode.snapshot_max_width)
        {
            Ok(picture) => Some(picture),
            Err(why) => {
                tracing::warn!(camera = %self.camera, incident = %incident_id, reason = %why,
                    "no snapshot: no fresh detections cover the camera's picture, so none is made");
                None
            }
        }
    }

    /// Hands pictures to the snapshot worker; the incident is already in
    /// the outbox, so the alert never waits for them. One frame is a
    /// snapshot; several, with a trajectory, a strip.
    pub fn offer_snapshot(
        &self,
        incident_id: String,
        pictures: Vec<Picture>,
        trajectory: Option<Arc<[rules::TrajectoryPoint]>>,
    ) {
        if pictures.is_empty() {
            return;
        }
        self.shared.snapshots.offer(SnapshotJob {
            camera: self.camera.clone(),
            incident_id,
            pictures,
            trajectory,
            privacy: self.privacy.clone(),
            quality: self.decode.snapshot_quality,
            max_bytes: self.decode.snapshot_max_bytes,
        });
    }

    /// What an event of an incident whose rule records evidence says of its
    /// clip: where it is sent and, once sealed, its manifest's hash.
    fn evidence_ref(&self, event: &IncidentEvent) -> Option<anonymize::alert::EvidenceRef> {
        let evidence = self.shared.evidence.as_ref()?;
        self.evidence_rules.iter().find(|(r, _)| **r == *event.rule)?;
        let incident = event.incident_id.to_string();
        let sealed = evidence.delivery.as_ref().and_then(|d| d.sealed(&incident));
        Some(anonymize::alert::EvidenceRef {
            topic: self.shared.topics.clip(&self.camera, &incident),
            clip: sealed.as_ref().map(|s| s.clip_file.clone()),
            manifest_sha256: sealed.map(|s| s.manifest_sha256),
        })
    }

    /// Asks for the clip of a started incident whose rule records evidence.
    fn ask_evidence(&self, event: &IncidentEvent) {
        let Some(evidence) = &self.shared.evidence else { return };
        let Some((_, window)) = self.evidence_rules.iter().find(|(r, _)| **r == *event.rule) else {
            return;
        };
        evidence.start(Request {
            camera: self.camera.clone(),
            incident_id: event.incident_id.to_string(),
            rule: event.rule.clone(),
            pts: event.stream_time,
            wall: event.time,
            window: *window,
            privacy: self.privacy.clone(),
            detector: self.detector.clone(),
        });
    }

    /// Whether `rule`'s incidents are followed by a snapshot.
    pub fn wants_snapshot(&self, rule: &str) -> bool {
        self.snapshot_rules.iter().any(|r| &**r == rule)
    }

    /// This camera's incidents that were open when it last stopped, as the
    /// outbox's ledger keeps them.
    pub fn open_incidents(&self) -> Vec<OpenIncident> {
        self.shared
            .outbox
            .open_incidents()
            .into_iter()
            .filter(|(camera, _)| *camera == *self.camera)
            .map(|(_, incident)| incident)
            .collect()
    }

    /// Ends `incidents` now: open when the camera stopped, but no rule of
    /// its takes them up any more.
    pub fn end_unclaimed(&self, incidents: Vec<OpenIncident>) {
        let mut events: Vec<IncidentEvent> = incidents
            .iter()
            .map(|i| i.end(std::time::Duration::ZERO, std::time::SystemTime::now()))
            .collect();
        for incident in &incidents {
            tracing::info!(camera = %self.camera, rule = %incident.rule, incident = %incident.incident_id,
                "an incident open before the restart has no rule any more; it ends");
        }
        self.send(&mut events);
    }

    /// Writes each event to the outbox; it counts as raised once it is there.
    /// A started incident whose rule wants a snapshot gets one of the frame
    /// analysed last, unless `strip` takes it over (the motion thread's
    /// trajectory strips): then `strip` is told the incident and its targets.
    pub fn send_with(&self, events: &mut Vec<IncidentEvent>, mut strip: impl FnMut(&str, &[Target]) -> bool) {
        for event in events.drain(..) {
            let written = self.shared.outbox.push(
                |seq| {
                    let alert = anonymize::alert(&self.camera, &event, seq);
                    match self.evidence_ref(&event) {
                        Some(evidence) => alert.with_evidence(evidence),
                        None => alert,
                    }
                },
                |alert| self.shared.topics.incidents(alert.camera()),
            );
            let alert = match written {
                Ok(alert) => alert,
                // Disk full: counted by the outbox and logged once a minute.
                Err(OutboxError::Unwritable { .. }) => continue,
                Err(e) => {
                    tracing::error!(camera = %self.camera, rule = %event.rule, error = %e, "cannot store an incident event");
                    continue;
                }
            };
            match event.kind {
                EventKind::Start => self.shared.outbox.mark_open(
                    &self.camera,
                    &OpenIncident {
                        incident_id: event.incident_id,
                        rule: event.rule.clone(),
                        zone: event.zone.clone(),
                        severity: event.severity,
                    },
                ),
                EventKind::End => self.shared.outbox.mark_closed(event.incident_id),
                EventKind::Update => {}
            }
            if let Some(control) = &self.shared.control
                && event.kind != EventKind::Update
            {
                let _ = control.send(ControlEvent::Incident {
                    camera: self.camera.clone(),
                    rule: event.rule.clone(),
                    open: event.kind == EventKind::Start,
                });
            }
            if let Some(console) = &self.shared.console {
                console.feed.incident(&alert);
            }
            match event.kind {
                EventKind::Start => {
                    tracing::info!(
                        camera = %self.camera, rule = %alert.rule(), zone = %alert.zone(), labels = ?alert.labels(),
                        incident = %alert.incident_id(), seq = alert.seq(), severity = %alert.severity(), "incident raised"
                    );
                    self.ask_evidence(&event);
                    if self.wants_snapshot(&event.rule) && !strip(alert.incident_id(), &event.targets) {
                        let pictures = self.picture(alert.incident_id()).into_iter().collect();
                        self.offer_snapshot(alert.incident_id().to_string(), pictures, None);
                    }
                }
                EventKind::End => tracing::info!(
                    camera = %self.camera, rule = %alert.rule(), zone = %alert.zone(), incident = %alert.incident_id(),
                    seq = alert.seq(), "incident ended"
                ),
                EventKind::Update => {}
            }
            self.stats.events.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`Self::send_with`] with a plain snapshot for every started incident.
    pub fn send(&self, events: &mut Vec<IncidentEvent>) {
        self.send_with(events, |_, _| false);
    }
}

/// At start and after a reload: ends the incidents in the outbox's ledger
/// that no camera will take up — every one when the box was down longer
/// than [`ledger::RESUME_WITHIN`](crate::publish::outbox::ledger::RESUME_WITHIN)
/// or across a reboot (`down_for`), and those of cameras no longer in `cameras` — each with an
/// end event, in the outbox like any other.
pub(super) fn end_stale_incidents(
    outbox: &Outbox,
    topics: &Topics,
    cameras: &[&str],
    down_for: crate::publish::outbox::ledger::Downtime,
) {
    let long_down = crate::publish::outbox::ledger::too_long_down(down_for);
    for (camera, incident) in outbox.open_incidents() {
        if !long_down && cameras.contains(&camera.as_str()) {
            continue;
        }
        let event = incident.end(std::time::Duration::ZERO, std::time::SystemTime::now());
        let written = outbox.push(
            |seq| anonymize::alert(&camera, &event, seq),
            |alert| topics.incidents(alert.camera()),
        );
        match written {
            Ok(_) => {
                outbox.mark_closed(incident.incident_id);
                use crate::publish::outbox::ledger::Downtime;
                let why = match down_for {
                    _ if !long_down => "its camera is no longer configured",
                    Downtime::Rebooted => "the machine was rebooted, so how long it was off is unknown",
                    _ => "the box was down too long to take it up",
                };
                let down_secs = match down_for {
                    Downtime::Measured(d) => Some(d.as_secs()),
                    _ => None,
                };
                tracing::info!(camera = %camera, rule = %incident.rule, incident = %incident.incident_id,
                    down_secs, "an incident open before the restart ends: {why}");
            }
            Err(e) => tracing::warn!(camera = %camera, incident = %incident.incident_id, error = %e,
                "cannot end an incident open before the restart"),
        }
    }
}
