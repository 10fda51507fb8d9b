//! The incident payload is versioned by docs/schema/incident.v1.json, which
//! is generated from the Rust types. This test fails when they drift apart;
//! regenerate with WATCHPOST_UPDATE_SCHEMA=1 after a deliberate change (and
//! bump the schema version if the change is not backwards compatible).

use watchpost::publish::Alert;

#[test]
fn the_committed_schema_matches_the_alert_type() {
    let generated = serde_json::to_string_pretty(&schemars::schema_for!(Alert)).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/incident.v1.json");
    if std::env::var_os("WATCHPOST_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).expect("docs/schema/incident.v1.json is committed");
    assert_eq!(
        committed, generated,
        "the Alert type changed: regenerate the schema with WATCHPOST_UPDATE_SCHEMA=1"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in [
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
    ] {
        assert!(required.contains(&field), "`{field}` is not required by the schema");
    }
    assert_eq!(schema["additionalProperties"], false);
}
