//! watchpost: an edge video-analytics appliance for residential communities.
//!
//! A camera frame travels through these stages, one module each, in this
//! order; a stage imports only the stages before it:
//!
//! * [`source`]    — where a camera's video comes from (a file played as a live
//!   camera, RTSP, USB, MJPEG) and how that is configured.
//! * [`decode`]    — the GStreamer pipeline: demux, decode, privacy masks,
//!   rate-limit and scale to the model input inside GStreamer, then hand the
//!   newest frame to inference; the picture conversions snapshots use.
//! * [`infer`]     — ONNX Runtime through `ort`: model manifests and the model
//!   family registry, `[models]` and `[cameras.detect]`, preprocessing,
//!   output decoding, non-maximum suppression, batching and the motion gate.
//! * [`track`]     — associates detections over time into short-lived tracks.
//! * [`rules`]     — zones and the rule-kind registry that turns tracks (or,
//!   for pixel-watching kinds, grayscale frames) into incidents with a start
//!   and an end; and camera health (covered, blurred, moved, too dark or
//!   bright, frozen, signal lost) raised the same way.
//! * [`anonymize`] — the only door from incidents to the outside: builds the
//!   alert (no track ids, nothing identifying) and redacts every picture.
//! * [`publish`]   — the durable outbox and MQTT delivery of alerts to the
//!   security office, and each camera's retained status.
//! * [`evidence`]  — redacted incident clips: a pre-roll of analysed frames,
//!   each redacted over its own detections, encoded H.264/MP4, sealed with a
//!   signed, chained manifest, sent through the outbox, verified by
//!   `watchpost verify`, deleted after the retention.
//!
//! Under the stages: [`config`], the generic config toolkit (spans, located
//! diagnostics, [`config::Ctx`]), which imports nothing of watchpost, and
//! [`vocab`], the few types every stage speaks (boxes, detections, labels,
//! frames). Above them: [`observe`] (metrics, health, the stats message),
//! [`console`] (the operator's web console: redacted live views, the zone
//! and rule editor, incidents as they happen), [`plan`], which checks one operator's file into the [`plan::Plan`] the box
//! runs, and [`app`], which wires a plan into running threads and keeps it in
//! step on reload; and [`fleet`], the security office's side of many boxes
//! on one hub (fleet status, the incident watch, the fleet simulation). docs/architecture.md gives the layers and the rule
//! `tests/suite/layering.rs` holds them to.

pub mod config;
pub mod vocab;

pub mod anonymize;
pub mod decode;
pub mod evidence;
pub mod infer;
pub mod publish;
pub mod rules;
pub mod source;
pub mod track;

pub mod app;
pub mod console;
pub mod fleet;
pub mod observe;
pub mod plan;
