//! `[cameras.detect]`: which model a camera's frames go to and at what rate
//! (GStreamer drops the rest before anything is scaled), checked against the
//! models that exist.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::ModelPlan;
use crate::config::Ctx;
use crate::config::Spanned;
use crate::config::table::Checked;

crate::config::table! {
    /// `[cameras.detect]`: the detect branch of a camera.
    pub struct DetectConfig in "detect." => DetectKeys {
        /// Name of a model under `[models]`, e.g. "coco".
        #[required]
        pub model: Spanned<String>;
        /// Frames per second sent to the detector, e.g. 5. GStreamer drops the rest.
        pub fps: Spanned<u32> = 5, range 1..=60;
    }
}

/// A checked detect branch: its keys, each checked, and the model it names.
#[derive(Debug, Clone)]
pub struct DetectPlan {
    /// The model under `[models]` that `keys.model` names.
    pub model: Arc<ModelPlan>,
    /// Every key of the table, checked: a new key needs only its line above.
    pub keys: DetectKeys,
}

/// Checks `[cameras.detect]` against the models that exist.
pub fn check(
    camera: &str,
    config: &DetectConfig,
    models: &BTreeMap<String, Arc<ModelPlan>>,
    known_models: &[String],
    ctx: &mut Ctx<'_>,
) -> Option<DetectPlan> {
    let keys = config.checked(ctx);
    let name = config.model.get_ref();
    let model = match models.get(name) {
        Some(model) => Some(model.clone()),
        None if known_models.contains(name) => None, // the model itself is broken; reported there
        None => {
            let known = if known_models.is_empty() {
                "none defined".to_string()
            } else {
                known_models.join(", ")
            };
            ctx.error(
                config.model.span(),
                format!(
                    "camera `{camera}` uses model `{name}`, which is not defined under [models]; known models: {known}"
                ),
            );
            None
        }
    };
    Some(DetectPlan {
        model: model?,
        keys: keys?,
    })
}
