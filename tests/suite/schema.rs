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

/// The config file's JSON Schema (docs/schema/config.json) and its key
/// reference (docs/config.md) are what `watchpost schema` prints: both are
/// derived from the config tables. Regenerate with WATCHPOST_UPDATE_SCHEMA=1.
#[test]
fn the_committed_config_schema_and_reference_match_what_the_binary_prints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for (args, file) in [
        (&["schema"][..], "docs/schema/config.json"),
        (&["schema", "--markdown"][..], "docs/config.md"),
    ] {
        let out = crate::common::watchpost().args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed = String::from_utf8(out.stdout).unwrap();
        let path = root.join(file);
        if std::env::var_os("WATCHPOST_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, &printed).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            committed,
            printed,
            "{file} differs from `watchpost {}`: regenerate with WATCHPOST_UPDATE_SCHEMA=1",
            args.join(" ")
        );
    }
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("docs/schema/config.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = schema["$defs"]["Rule"]["oneOf"]
        .as_array()
        .expect("one schema per rule kind")
        .iter()
        .map(|k| k["title"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, watchpost::rules::KINDS);
}
