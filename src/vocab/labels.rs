//! Label maps: a model's class ids and their names, as listed in its manifest.
//!
//! Rules name labels as text; the config check resolves them to ids here once,
//! so the per-frame path only compares integers.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::Ctx;
use crate::config::Spanned;

/// A class id as the model's manifest numbers it (COCO: person = 1).
pub type LabelId = u32;

#[derive(Debug, Clone, Default)]
pub struct LabelMap {
    by_id: BTreeMap<LabelId, Arc<str>>,
}

impl LabelMap {
    pub fn new(names: BTreeMap<LabelId, String>) -> Self {
        Self {
            by_id: names.into_iter().map(|(id, name)| (id, Arc::from(name))).collect(),
        }
    }

    pub fn name(&self, id: LabelId) -> Option<&Arc<str>> {
        self.by_id.get(&id)
    }

    /// The ids carrying a name (a name may be listed under several ids).
    pub fn ids_of(&self, name: &str) -> Vec<LabelId> {
        self.by_id
            .iter()
            .filter(|(_, n)| n.as_ref() == name)
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn contains_id(&self, id: LabelId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// All names, sorted and without repeats, for error messages.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_id.values().map(|n| n.as_ref()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Resolves label names to the model's ids; unknown names are errors that
/// list the model's labels. `labels` is None when the model failed its check.
/// `owner` says who uses them, e.g. "rule `x` on camera `y`".
pub fn resolve(
    ctx: &mut Ctx<'_>,
    owner: &str,
    names: &Spanned<Vec<String>>,
    labels: Option<&LabelMap>,
    model: &str,
) -> Option<Vec<LabelId>> {
    if names.get_ref().is_empty() {
        ctx.error(
            names.span(),
            format!("{owner} lists no labels; name at least one, e.g. labels = [\"person\"]"),
        );
        return None;
    }
    let labels = labels?;
    let mut ids = Vec::new();
    let mut ok = true;
    for name in names.get_ref() {
        let found = labels.ids_of(name);
        if found.is_empty() {
            ok = false;
            let known = labels.names();
            let hint = crate::config::closest(name, &known)
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            ctx.error(
                names.span(),
                format!(
                    "{owner} uses label `{name}`, which model `{model}` does not have; {hint}known labels: {}",
                    known.join(", ")
                ),
            );
        }
        ids.extend(found);
    }
    ok.then_some(ids)
}
