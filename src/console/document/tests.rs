//! The writer's promises on real config text: reading then writing back
//! changes nothing, an edit changes only its keys, comments and order stay.

use super::*;

const CONFIG: &str = r#"# The demo box.
site = "demo"   # where
box_id = "b1"

[[cameras]]
name = "walkway"

[cameras.source]
url = "clip.avi"

# Hide the neighbour's window.
[cameras.privacy]
redact = ["faces"]
masks = [[[0.0, 0.0], [0.18, 0.0], [0.18, 0.22]]] # top-left

[[cameras.zones]]
# the lawn
name = "lawn"
polygon = [[0.70, 0.58], [1.0, 0.58], [1.0, 0.80], [0.70, 0.80]]  # lower right

[[cameras.zones]]
name = "gate"
units = "px"
frame_size = [768, 576]
line = [[100, 300], [600, 300]]

[[cameras.rules]]
name = "lawn-intrusion"
kind = "intrusion"
zone = "lawn"
labels = ["person"]   # people only
min_secs = 0.4
end_after_secs = 3   # an integer

[[cameras]]
name = "street"

[cameras.source]
url = "street.avi"
"#;

fn walkway() -> CameraEdit {
    read(CONFIG).unwrap().remove(0)
}

/// Lines of `b` not in `a`, and of `a` not in `b`.
fn diff(a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let added = lb.iter().filter(|l| !la.contains(l)).map(|l| l.to_string()).collect();
    let gone = la.iter().filter(|l| !lb.contains(l)).map(|l| l.to_string()).collect();
    (added, gone)
}

#[test]
fn reads_zones_in_normalised_points_whatever_their_units() {
    let cameras = read(CONFIG).unwrap();
    assert_eq!(cameras.len(), 2);
    let walkway = &cameras[0];
    assert_eq!(walkway.zones[0].kind, "polygon");
    assert_eq!(walkway.zones[0].points[0], [0.70, 0.58]);
    assert_eq!(walkway.zones[1].kind, "line");
    let [x, y] = walkway.zones[1].points[1];
    assert!((x - 600.0 / 768.0).abs() < 1e-9 && (y - 300.0 / 576.0).abs() < 1e-9);
    assert_eq!(walkway.masks.len(), 1);
    assert_eq!(walkway.rules[0].labels.as_deref(), Some(&["person".to_string()][..]));
    assert_eq!(walkway.rules[0].end_after_secs, Some(3.0));
}

#[test]
fn writing_back_what_was_read_changes_nothing() {
    let (text, changes) = apply(CONFIG, &walkway()).unwrap();
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(text, CONFIG);
}

#[test]
fn a_moved_zone_changes_only_its_polygon_and_keeps_its_comment() {
    let mut edit = walkway();
    edit.zones[0].points[0] = [0.5, 0.5];
    let (text, changes) = apply(CONFIG, &edit).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let (added, gone) = diff(CONFIG, &text);
    assert_eq!(
        added,
        ["polygon = [[0.5, 0.5], [1.0, 0.58], [1.0, 0.8], [0.7, 0.8]]  # lower right"]
    );
    assert_eq!(gone.len(), 1);
    assert!(text.contains("# the lawn") && text.contains("# Hide the neighbour's window."));
}

#[test]
fn a_pixel_zone_is_written_back_in_pixels() {
    let mut edit = walkway();
    edit.zones[1].points[0] = [0.25, 0.5];
    let (text, _) = apply(CONFIG, &edit).unwrap();
    let (added, _) = diff(CONFIG, &text);
    assert_eq!(added, ["line = [[192.0, 288.0], [600.0, 300.0]]"]);
}

#[test]
fn a_new_zone_and_rule_land_inside_their_camera() {
    let mut edit = walkway();
    edit.zones.push(ZoneEdit {
        name: "drive".into(),
        kind: "line".into(),
        points: vec![[0.1, 0.9], [0.9, 0.9]],
    });
    edit.rules.push(RuleEdit {
        name: "drive-crossing".into(),
        kind: "line_crossing".into(),
        zone: "drive".into(),
        labels: Some(vec!["person".into(), "car".into()]),
        severity: None,
        min_confidence: None,
        min_secs: None,
        end_after_secs: Some(2.0),
        snapshot: None,
        direction: Some("a_to_b".into()),
        schedule: Some(vec![WindowEdit {
            days: Some(vec!["sat".into(), "sun".into()]),
            from: "22:00".into(),
            to: "06:00".into(),
        }]),
    });
    let (text, changes) = apply(CONFIG, &edit).unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    let again = read(&text).unwrap();
    assert_eq!(again[0], edit, "{text}");
    assert_eq!(again[1].camera, "street");
    assert!(again[1].zones.is_empty() && again[1].rules.is_empty(), "{text}");
    // everything that was there is still there, in order
    let kept: Vec<&str> = CONFIG.lines().collect();
    let mut lines = text.lines();
    for line in kept {
        assert!(lines.any(|l| l == line), "`{line}` lost or moved:\n{text}");
    }
    assert!(
        text.contains("schedule = [{ days = [\"sat\", \"sun\"], from = \"22:00\", to = \"06:00\" }]"),
        "{text}"
    );
}

#[test]
fn rule_keys_change_one_by_one_and_removed_keys_go() {
    let mut edit = walkway();
    edit.rules[0].labels = Some(vec!["person".into(), "dog".into()]);
    edit.rules[0].min_secs = None;
    let (text, changes) = apply(CONFIG, &edit).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let (added, gone) = diff(CONFIG, &text);
    assert_eq!(added, ["labels = [\"person\", \"dog\"]   # people only"]);
    assert_eq!(gone, ["labels = [\"person\"]   # people only", "min_secs = 0.4"]);
}

#[test]
fn removed_zones_and_new_masks() {
    let mut edit = walkway();
    edit.zones.remove(1);
    edit.masks.push(vec![[0.5, 0.5], [0.6, 0.5], [0.6, 0.6]]);
    let (text, changes) = apply(CONFIG, &edit).unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(!text.contains("gate") && !text.contains("frame_size"), "{text}");
    assert!(text.contains("# top-left"), "{text}");
    assert_eq!(read(&text).unwrap()[0].masks.len(), 2);
}

#[test]
fn a_camera_without_privacy_gets_a_table() {
    let mut street = read(CONFIG).unwrap().remove(1);
    street.masks.push(vec![[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]]);
    let (text, _) = apply(CONFIG, &street).unwrap();
    assert_eq!(read(&text).unwrap()[1].masks.len(), 1, "{text}");
    assert_eq!(read(&text).unwrap()[0], walkway());
}

#[test]
fn bad_edits_are_refused_before_writing() {
    let mut edit = walkway();
    edit.zones.push(edit.zones[0].clone());
    assert!(matches!(apply(CONFIG, &edit), Err(EditError::Invalid(m)) if m.contains("two zones")));
    let mut edit = walkway();
    edit.camera = "nowhere".into();
    assert_eq!(apply(CONFIG, &edit), Err(EditError::NoCamera("nowhere".into())));
}

#[test]
fn fields_are_found_by_line() {
    let fields = field_lines(CONFIG, "walkway");
    let line_of = |needle: &str| CONFIG.lines().position(|l| l.starts_with(needle)).unwrap() + 1;
    assert_eq!(field_at(&fields, line_of("polygon")), Some("zone:lawn:polygon"));
    assert_eq!(field_at(&fields, line_of("zone = ")), Some("rule:lawn-intrusion:zone"));
    assert_eq!(field_at(&fields, line_of("masks")), Some("masks"));
}
