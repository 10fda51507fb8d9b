//! Which edits need the password again: those that take away what protects
//! people or raises alerts — a privacy mask removed or reshaped (the area
//! it hid would be analysed and shown), a rule or a zone removed. A
//! session whose password was checked within
//! [`REAUTH_WINDOW`](super::auth::REAUTH_WINDOW) may make them; others are
//! asked for it (`401` with `"reauth": true`). Adding and changing are not.

use super::document::CameraEdit;

/// What `after` removes of `before`, in operator words; empty when nothing.
pub fn removals(before: &CameraEdit, after: &CameraEdit) -> Vec<String> {
    let mut removed = Vec::new();
    let masks_gone = before.masks.iter().filter(|m| !after.masks.contains(m)).count();
    if masks_gone > 0 {
        removed.push(format!(
            "{masks_gone} privacy mask{} removed or reshaped",
            if masks_gone == 1 { "" } else { "s" }
        ));
    }
    for rule in &before.rules {
        if !after.rules.iter().any(|r| r.name == rule.name) {
            removed.push(format!("rule `{}` removed", rule.name));
        }
    }
    for zone in &before.zones {
        if !after.zones.iter().any(|z| z.name == zone.name) {
            removed.push(format!("zone `{}` removed", zone.name));
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::document::{RuleEdit, ZoneEdit};

    fn camera() -> CameraEdit {
        CameraEdit {
            camera: "gate".into(),
            zones: vec![ZoneEdit {
                name: "drive".into(),
                kind: "polygon".into(),
                points: vec![[0.1, 0.1], [0.9, 0.1], [0.5, 0.9]],
            }],
            masks: vec![vec![[0.0, 0.0], [0.2, 0.0], [0.2, 0.2]]],
            rules: vec![RuleEdit {
                name: "car-at-gate".into(),
                kind: "intrusion".into(),
                zone: "drive".into(),
                schedule: None,
                keys: Default::default(),
            }],
            locked: None,
        }
    }

    #[test]
    fn adding_and_changing_need_nothing_removing_needs_the_password() {
        let before = camera();
        let mut after = camera();
        after.masks.push(vec![[0.5, 0.5], [0.6, 0.5], [0.6, 0.6]]);
        after.rules[0].keys.insert("min_secs".into(), serde_json::json!(2.0));
        after.zones[0].points[0] = [0.2, 0.2];
        assert!(removals(&before, &after).is_empty());

        let mut after = camera();
        after.masks[0][1] = [0.1, 0.0];
        assert_eq!(removals(&before, &after), ["1 privacy mask removed or reshaped"]);
        let mut after = camera();
        after.rules.clear();
        after.zones.clear();
        assert_eq!(
            removals(&before, &after),
            ["rule `car-at-gate` removed", "zone `drive` removed"]
        );
    }
}
