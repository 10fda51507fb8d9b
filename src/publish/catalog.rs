//! What the control task knows of the running config: the box, its cameras
//! with their rules, and the arming profiles. The app builds it from the
//! plan at start and on every reload; discovery and arming commands are
//! checked against it.

use crate::rules::Profile;

/// One rule, as the control task sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogRule {
    pub name: String,
    /// Its kind's name, e.g. "loitering".
    pub kind: &'static str,
    /// Whether its incidents are followed by a redacted snapshot.
    pub snapshot: bool,
}

/// One camera and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogCamera {
    pub name: String,
    pub rules: Vec<CatalogRule>,
}

/// The running config's cameras, rules and profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    pub site: String,
    pub box_id: String,
    pub cameras: Vec<CatalogCamera>,
    pub profiles: Vec<Profile>,
}

impl Catalog {
    pub fn camera(&self, name: &str) -> Option<&CatalogCamera> {
        self.cameras.iter().find(|c| c.name == name)
    }

    pub fn has_rule(&self, camera: &str, rule: &str) -> bool {
        self.camera(camera)
            .is_some_and(|c| c.rules.iter().any(|r| r.name == rule))
    }

    pub fn profile(&self, name: &str) -> Option<&Profile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// Cameras with their rule names, as [`crate::rules::Arming`] takes them.
    pub fn names(&self) -> Vec<(String, Vec<String>)> {
        self.cameras
            .iter()
            .map(|c| (c.name.clone(), c.rules.iter().map(|r| r.name.clone()).collect()))
            .collect()
    }
}
