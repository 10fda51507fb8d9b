//! Which models the box has loaded, and loading the ones a plan needs: a
//! model whose manifest and runtime settings are unchanged is shared, not
//! loaded again; the sessions of a new one load on a blocking thread. Used
//! at start and, off the main loop, by a reload. It never touches cameras.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;

use crate::infer::{Detector, ModelPlan, ModelService, runtime};
use crate::plan::Plan;

/// A model's inference service and what it was loaded from.
#[derive(Clone)]
pub(super) struct LoadedModel {
    pub(super) service: Arc<ModelService>,
    pub(super) fingerprint: String,
}

/// What decides whether a model must be loaded again.
fn model_fingerprint(model: &ModelPlan, plan: &Plan) -> String {
    format!("{model:?}|{:?}", plan.runtime)
}

/// Loads the models `plan`'s cameras use, taking those in `current` that
/// are loaded as they are; the sessions load on a blocking thread. A
/// reload runs it off the main loop.
pub(super) async fn load_models(
    current: &BTreeMap<String, LoadedModel>,
    rt: &'static runtime::Runtime,
    plan: &Plan,
) -> anyhow::Result<BTreeMap<String, LoadedModel>> {
    let mut loaded = BTreeMap::new();
    let wanted = plan.cameras.iter().map(|c| &c.detect.model);
    let faces = plan
        .privacy
        .face_model
        .as_ref()
        .filter(|_| plan.wants_snapshots() || plan.wants_evidence());
    for model in wanted.chain(faces) {
        if loaded.contains_key(&model.key) {
            continue;
        }
        let fingerprint = model_fingerprint(model, plan);
        if let Some(old) = current.get(&model.key).filter(|m| m.fingerprint == fingerprint) {
            loaded.insert(model.key.clone(), old.clone());
            continue;
        }
        let (model_plan, settings) = (model.clone(), plan.runtime.clone());
        let detectors =
            tokio::task::spawn_blocking(move || Detector::load_sessions(&model_plan, rt, &settings)).await??;
        let service =
            ModelService::spawn_sessions(detectors).with_context(|| format!("cannot start model `{}`", model.key))?;
        tracing::info!(model = %model.key, "model loaded");
        loaded.insert(
            model.key.clone(),
            LoadedModel {
                service: Arc::new(service),
                fingerprint,
            },
        );
    }
    Ok(loaded)
}
