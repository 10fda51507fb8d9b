//! The incident alert, schema 1: what a security office receives for each
//! event of an incident. Its fields are private and [`alert`] is the only
//! way to build one, from a rule's [`IncidentEvent`], so nothing that
//! identifies a person — track ids, crops, embeddings, names, plate text —
//! can be put into one anywhere else. Boxes are rounded to four decimals (a
//! fraction of a pixel), so they carry position, not sub-pixel signatures.
//! Consumers may read an alert back (it deserialises, refusing unknown
//! fields) and look at it through its getters.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::rules::{EventKind, IncidentEvent, Severity};

/// The incident payload, schema 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "watchpost incident event", extend("$id" = "https://watchpost.invalid/schema/incident.v1.json"))]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Payload schema version: 1.
    schema: u32,
    /// `start`, `update` or `end`.
    event: EventKind,
    /// Stable for the incident's life (a UUIDv7).
    incident_id: String,
    /// Per box, increasing with every event, across restarts.
    seq: u64,
    /// When the event was raised, ISO-8601 UTC, e.g. "2026-11-29T08:15:02.120Z".
    time: String,
    camera: String,
    rule: String,
    zone: String,
    /// Labels of the objects involved, sorted, e.g. ["person"].
    labels: Vec<String>,
    /// Their boxes, normalised to the frame: [x1, y1, x2, y2].
    boxes: Vec<[f32; 4]>,
    /// The highest detection score among them.
    confidence: f32,
    severity: Severity,
    /// The incident's evidence clip, when its rule records one: where it is
    /// sent, and, once sealed, its file and its signed manifest's SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    evidence: Option<EvidenceRef>,
}

/// Where an incident's evidence clip is, in its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceRef {
    /// The MQTT topic its manifest (`<topic>/manifest`) and MP4 parts
    /// (`<topic>/part/<i>/<n>`) are sent on.
    pub topic: String,
    /// The clip's file name, once it is sealed (later events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<String>,
    /// The SHA-256 of its signed manifest, once it is sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
}

impl Alert {
    /// Payload schema version: 1.
    pub fn schema(&self) -> u32 {
        self.schema
    }

    /// `start`, `update` or `end`.
    pub fn event(&self) -> EventKind {
        self.event
    }

    /// Stable for the incident's life (a UUIDv7).
    pub fn incident_id(&self) -> &str {
        &self.incident_id
    }

    /// Per box, increasing with every event, across restarts.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// When the event was raised, ISO-8601 UTC.
    pub fn time(&self) -> &str {
        &self.time
    }

    pub fn camera(&self) -> &str {
        &self.camera
    }

    pub fn rule(&self) -> &str {
        &self.rule
    }

    pub fn zone(&self) -> &str {
        &self.zone
    }

    /// Labels of the objects involved, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Their boxes, normalised to the frame: [x1, y1, x2, y2].
    pub fn boxes(&self) -> &[[f32; 4]] {
        &self.boxes
    }

    /// The highest detection score among them.
    pub fn confidence(&self) -> f32 {
        self.confidence
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The incident's evidence clip, when its rule records one.
    pub fn evidence(&self) -> Option<&EvidenceRef> {
        self.evidence.as_ref()
    }

    /// The alert naming the incident's evidence clip.
    pub fn with_evidence(mut self, evidence: EvidenceRef) -> Self {
        self.evidence = Some(evidence);
        self
    }
}

/// Builds the public alert for one incident event of one camera.
/// `seq` is the box-wide sequence number the outbox assigned to this event.
pub fn alert(camera: &str, event: &IncidentEvent, seq: u64) -> Alert {
    let mut labels: Vec<String> = event.targets.iter().map(|t| t.label.to_string()).collect();
    labels.sort_unstable();
    labels.dedup();
    let boxes = event
        .targets
        .iter()
        .map(|t| {
            let b = t.bbox.clamped();
            [round4(b.x1), round4(b.y1), round4(b.x2), round4(b.y2)]
        })
        .collect();
    let confidence = event.targets.iter().map(|t| t.score).fold(0.0f32, f32::max);
    Alert {
        schema: 1,
        event: event.kind,
        incident_id: event.incident_id.to_string(),
        seq,
        time: jiff::Timestamp::try_from(event.time)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .round(jiff::Unit::Millisecond)
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
            .to_string(),
        camera: camera.to_string(),
        rule: event.rule.to_string(),
        zone: event.zone.to_string(),
        labels,
        boxes,
        confidence: round4(confidence),
        severity: event.severity,
        evidence: None,
    }
}

fn round4(v: f32) -> f32 {
    (v * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::rules::{EventKind, Severity, Target};
    use crate::vocab::BBox;

    #[test]
    fn an_alert_has_no_track_ids_and_sorted_unique_labels() {
        let target = |id, label: &str, score| Target {
            track_id: id,
            label: label.into(),
            score,
            bbox: BBox {
                x1: 0.123456,
                y1: -0.1,
                x2: 0.5,
                y2: 1.2,
            },
            trajectory: None,
        };
        let event = IncidentEvent {
            kind: EventKind::Start,
            incident_id: uuid::Uuid::now_v7(),
            rule: "gate".into(),
            zone: "walkway".into(),
            severity: Severity::High,
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            stream_time: Duration::ZERO,
            targets: vec![
                target(41, "person", 0.7),
                target(42, "person", 0.9),
                target(43, "bicycle", 0.6),
            ],
        };
        let a = alert("north", &event, 41);
        assert_eq!(a.seq, 41);
        assert_eq!(a.labels, vec!["bicycle", "person"]);
        assert_eq!(a.boxes[0], [0.1235, 0.0, 0.5, 1.0]);
        assert_eq!(a.confidence, 0.9);
        assert_eq!(a.time, "2023-11-14T22:13:20.123Z");
        // exactly the contract's fields: nothing else, track ids included, goes out
        let json = serde_json::to_value(&a).unwrap();
        let keys: std::collections::BTreeSet<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let contract = [
            "schema",
            "event",
            "incident_id",
            "seq",
            "time",
            "camera",
            "rule",
            "zone",
            "labels",
            "boxes",
            "confidence",
            "severity",
        ];
        assert_eq!(keys, contract.into_iter().collect());
    }
}
