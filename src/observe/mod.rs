//! Observe: how the box tells people it is well — the Prometheus metrics
//! endpoint and the counters behind it ([`metrics`]), and the systemd
//! readiness and watchdog ([`health`]). It reads the stages' live figures and
//! never steers them: a camera, a model or the publisher runs the same
//! whether anyone watches or not.

pub mod health;
pub mod listener;
pub mod metrics;
pub mod stats;

pub use metrics::CameraStats;
