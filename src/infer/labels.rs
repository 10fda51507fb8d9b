//! Label maps: a model's class ids and their names, as listed in its manifest.
//!
//! Rules name labels as text; the config check resolves them to ids here once,
//! so the per-frame path only compares integers.

use std::collections::BTreeMap;
use std::sync::Arc;

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
