// An alert is built only by the anonymize stage, from a rule's incident
// event, so nothing identifying can be put into one anywhere else: a struct
// literal outside it does not compile.
use watchpost::anonymize::Alert;
use watchpost::rules::{EventKind, Severity};

fn forge() -> Alert {
    Alert {
        schema: 1,
        event: EventKind::Start,
        incident_id: "x".into(),
        seq: 1,
        time: "2026-11-29T00:00:00.000Z".into(),
        camera: "north-gate".into(),
        rule: "r".into(),
        zone: "z".into(),
        labels: vec!["person".into()],
        boxes: vec![],
        confidence: 0.9,
        severity: Severity::High,
        evidence: None,
    }
}

fn main() {
    let _ = forge();
}
