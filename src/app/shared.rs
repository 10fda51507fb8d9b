//! [`Shared`]: what every camera shares — the models' inference services,
//! the outbox and its topics, where snapshots and clips are made, the arming
//! switches, the control task and the console. The app builds it; each
//! camera, and the alert side of each camera, holds it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::snapshot::Snapshots;
use crate::console::Console;
use crate::evidence::Evidence;
use crate::infer::ModelService;
use crate::publish::{ControlEvent, Outbox, Topics};
use crate::rules::Arming;

/// What every camera shares.
#[derive(Clone)]
pub struct Shared {
    /// One inference service per model, shared by the cameras that use it.
    pub models: BTreeMap<String, Arc<ModelService>>,
    pub outbox: Arc<Outbox>,
    pub topics: Topics,
    /// Where redacted snapshots are made.
    pub snapshots: Snapshots,
    /// Where evidence clips are made, when a rule asks for them.
    pub evidence: Option<Evidence>,
    /// The box's arming switches (everything armed unless someone disarms it).
    pub arming: Arc<Arming>,
    /// The control task, told of incidents' starts and ends, if it runs.
    pub control: Option<tokio::sync::mpsc::UnboundedSender<ControlEvent>>,
    /// The operator console, if it runs.
    pub console: Option<Arc<Console>>,
}
