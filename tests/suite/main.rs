//! The integration suite, one test binary: each module is one area, run
//! against the real parts (the binary, GStreamer, ONNX Runtime, a real
//! Mosquitto, Chromium). One binary links the crate once instead of once
//! per file; `common` holds the helpers they share, the deadlines
//! ([`common::GUARD`]) among them.
//!
//! Run one area with a filter: `cargo test --release --test suite security::`.
//! `scripts/test --quick` runs the unit tests and the areas in [`QUICK`].

mod common;

/// The areas that need neither a running box nor a browser: seconds, not
/// minutes (`scripts/test --quick` reads this list).
pub const QUICK: &[&str] = &[
    "batching",
    "cli",
    "config_corpus",
    "fuzz_config",
    "layering",
    "model_parity",
    "pipelining",
    "scenarios",
    "schema",
    "yolo_decoders",
];

mod appliance;
mod batching;
mod bundles;
mod cameras;
mod chaos;
mod cli;
mod compile_fail;
mod config_corpus;
mod console;
mod delivery;
mod e2e_mqtt;
mod evidence;
mod facade;
mod face_set;
mod fleet;
mod fuzz_config;
mod health;
mod homeassistant;
mod layering;
mod model_parity;
mod motion_gating;
mod outbox_faults;
mod pipelining;
mod privacy;
mod quality;
mod replay;
mod scenarios;
mod schema;
mod security;
mod service;
mod yolo_decoders;

/// The suite's own shape.
mod suite_shape {
    #[test]
    fn the_quick_areas_are_modules_of_the_suite() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let main = std::fs::read_to_string(root.join("tests/suite/main.rs")).unwrap();
        for area in super::QUICK {
            assert!(
                main.contains(&format!("\nmod {area};\n")),
                "`{area}` is not a module of the suite"
            );
        }
    }
}
