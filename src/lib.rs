//! watchpost: an edge video-analytics appliance for residential communities.
//!
//! A camera frame travels through these stages, one module each, in this order:
//!
//! * [`source`]    — where a camera's video comes from (a file played as a live
//!   camera today; RTSP, USB and MJPEG build on it) and how that is configured.
//! * [`decode`]    — the GStreamer pipeline: demux, decode, rate-limit and scale to
//!   the model input inside GStreamer, then hand the newest frame to inference.
//! * [`infer`]     — ONNX Runtime through `ort`: model manifests, preprocessing,
//!   output decoding and non-maximum suppression.
//! * [`track`]     — associates detections over time into short-lived tracks.
//! * [`rules`]     — zones and rule kinds that turn tracks into incidents with a
//!   start and an end.
//! * [`anonymize`] — the only door from incidents to the outside: strips track ids
//!   and anything else that could identify a person.
//! * [`publish`]   — MQTT delivery of incident alerts to the security office.
//!
//! Around the stages: [`config`] parses and validates the operator's file into a
//! checked plan, and [`app`] wires one plan into running cameras.

pub mod anonymize;
pub mod app;
pub mod config;
pub mod decode;
pub mod infer;
pub mod publish;
pub mod rules;
pub mod source;
pub mod track;
pub mod vocab;

pub mod observe;
pub mod plan;
