//! The writer's promises on real config text: reading then writing back
//! changes nothing, an edit changes only its keys, comments and order stay.

use super::*;
use super::{model, nodes};

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
    assert_eq!(walkway.rules[0].keys["labels"], serde_json::json!(["person"]));
    assert_eq!(walkway.rules[0].keys["end_after_secs"], serde_json::json!(3));
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
        schedule: Some(vec![WindowEdit {
            days: Some(vec!["sat".into(), "sun".into()]),
            from: "22:00".into(),
            to: "06:00".into(),
        }]),
        keys: [
            ("labels", serde_json::json!(["person", "car"])),
            ("end_after_secs", serde_json::json!(2.0)),
            ("direction", serde_json::json!("a_to_b")),
            ("cooldown_secs", serde_json::json!(30.0)),
        ]
        .map(|(key, value)| (key.to_string(), value))
        .into(),
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
    ); // a key of the kind's own, built from the schema on the page, is written too
    assert!(text.contains("cooldown_secs = 30.0"), "{text}");
}

#[test]
fn a_whole_number_is_written_as_the_schema_types_its_key() {
    let mut edit = walkway();
    let mut crowd = rule("lawn-crowd", "lawn");
    crowd.kind = "crowd".into();
    crowd.keys.insert("min_secs".into(), serde_json::json!(3));
    crowd.keys.insert("min_count".into(), serde_json::json!(5));
    edit.rules.push(crowd);
    let (text, _) = apply(CONFIG, &edit).unwrap();
    assert!(text.contains("min_secs = 3.0\n"), "{text}");
    assert!(text.contains("min_count = 5\n"), "{text}");
}

#[test]
fn rule_keys_change_one_by_one_and_removed_keys_go() {
    let mut edit = walkway();
    edit.rules[0]
        .keys
        .insert("labels".into(), serde_json::json!(["person", "dog"]));
    edit.rules[0].keys.remove("min_secs");
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

fn rule(name: &str, zone: &str) -> RuleEdit {
    RuleEdit {
        name: name.into(),
        kind: "intrusion".into(),
        zone: zone.into(),
        schedule: None,
        keys: [
            ("labels".to_string(), serde_json::json!(["person"])),
            ("min_secs".to_string(), serde_json::json!(2.0)),
        ]
        .into(),
    }
}

const INLINE: &str = r#"site = "demo"
box_id = "b1"

[[cameras]]
name = "gate"
source.url = "gate.avi"
zones = [
    { name = "drive", polygon = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]] },
]
rules = [
    { name = "drive-intrusion", kind = "intrusion", zone = "drive", labels = ["person"] },
    { name = "drive-loiter", kind = "loitering", zone = "drive", min_secs = 30 },
]
"#;

/// The finding of issue 31: rules written as an inline array were not
/// listed, and adding one replaced the array, dropping the others.
#[test]
fn rules_written_as_an_inline_array_are_listed_and_kept_when_one_is_added() {
    let mut gate = read(INLINE).unwrap().remove(0);
    let names: Vec<&str> = gate.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["drive-intrusion", "drive-loiter"]);
    assert_eq!(gate.zones.len(), 1);
    gate.rules.push(rule("drive-night", "drive"));
    let (text, changes) = apply(INLINE, &gate).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let parsed: toml::Table = text.parse().unwrap();
    let rules = parsed["cameras"][0]["rules"].as_array().unwrap();
    let names: Vec<&str> = rules.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["drive-intrusion", "drive-loiter", "drive-night"], "{text}");
    assert!(
        text.contains(
            "    { name = \"drive-loiter\", kind = \"loitering\", zone = \"drive\", min_secs = 30 },\n    { name = \"drive-night\", kind = \"intrusion\", zone = \"drive\", labels = [\"person\"], min_secs = 2.0 },\n]"
        ),
        "{text}"
    );
}

/// A camera the editor cannot show whole is shown with the reason and
/// never written: nothing is dropped.
#[test]
fn a_camera_written_in_a_form_the_editor_cannot_show_is_refused_with_the_reason() {
    for (text, reason) in [
        (
            "[[cameras]]\nname = \"a\"\nzones = [{ name = \"z\", polygon = \"everywhere\" }]\n",
            "zone `z` has no `polygon` or `line`",
        ),
        (
            "[[cameras]]\nname = \"a\"\nrules = [\"intrusion\"]\n",
            "`rules` holds string where a table is expected",
        ),
        (
            "[[cameras]]\nname = \"a\"\nrules = \"all\"\n",
            "`rules` is string, not a list of tables",
        ),
        (
            "[[cameras]]\nname = \"a\"\nprivacy.masks = [[[0, 0], [1, 0], [1]]]\n",
            "privacy mask 1 is not a list of [x, y] points",
        ),
        (
            "[[cameras]]\nname = \"a\"\n[[cameras.rules]]\nname = \"r\"\n[[cameras.rules]]\nname = \"r\"\n",
            "two rules are named `r`",
        ),
        (
            "[[cameras]]\nname = \"a\"\n[[cameras.rules]]\nkind = \"intrusion\"\n",
            "a rule has no `name`",
        ),
    ] {
        let mut edit = read(text).unwrap().remove(0);
        let locked = edit.locked.take().unwrap_or_else(|| panic!("not locked:\n{text}"));
        assert!(locked.contains(reason), "{locked}");
        edit.rules = vec![rule("new", "z")];
        match apply(text, &edit) {
            Err(EditError::Unsupported(m)) => assert!(m.contains(reason) && m.contains("by hand"), "{m}"),
            other => panic!("{other:?} for\n{text}"),
        }
    }
}

#[test]
fn edits_larger_than_the_caps_are_refused_before_reading_the_file() {
    let too_many_points = {
        let mut edit = walkway();
        edit.zones[0].points = vec![[0.5, 0.5]; model::MAX_POINTS + 1];
        edit
    };
    let too_many_zones = {
        let mut edit = walkway();
        edit.zones = (0..=model::MAX_ITEMS)
            .map(|i| ZoneEdit {
                name: format!("z{i}"),
                kind: "polygon".into(),
                points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]],
            })
            .collect();
        edit
    };
    let long_name = {
        let mut edit = walkway();
        edit.rules[0].name = "r".repeat(model::MAX_NAME + 1);
        edit
    };
    let many_labels = {
        let mut edit = walkway();
        edit.rules[0]
            .keys
            .insert("labels".into(), serde_json::json!(vec!["person"; model::MAX_LIST + 1]));
        edit
    };
    let mask_points = {
        let mut edit = walkway();
        edit.masks = vec![vec![[0.1, 0.1]; model::MAX_POINTS + 1]];
        edit
    };
    for (edit, says) in [
        (too_many_points, "zone `lawn` points: 257 given, at most 256"),
        (too_many_zones, "zones: 65 given, at most 64"),
        (long_name, "a rule name is 65 bytes long; at most 64"),
        (many_labels, "`labels`: 33 given, at most 32"),
        (mask_points, "privacy mask 1 points: 257 given"),
    ] {
        match apply("not even TOML [", &edit) {
            Err(EditError::Invalid(m)) => assert!(m.contains(says), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    // at the caps is fine
    let mut edit = walkway();
    edit.zones[0].points = vec![[0.5, 0.5]; model::MAX_POINTS];
    assert!(apply(CONFIG, &edit).is_ok());
}

// The golden corpus: tests/console_corpus/*.toml.

fn corpus() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console_corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// The bytes of `old` that `new` changed: `old[start..end]` was replaced
/// (an insertion when empty). None when the texts are equal.
fn changed_region(old: &str, new: &str) -> Option<std::ops::Range<usize>> {
    if old == new {
        return None;
    }
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let room = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(room)
        .take_while(|(x, y)| x == y)
        .count();
    Some(prefix..a.len() - suffix)
}

/// Spans in `text` of camera `camera`'s list `key` entries, by name, and of
/// its masks value.
fn spans(text: &str, camera: &str, key: &str) -> Vec<(String, std::ops::Range<usize>)> {
    type Entry<'t> = (String, std::ops::Range<usize>, &'t dyn toml_edit::TableLike);
    fn entries(item: Option<&toml_edit::Item>) -> Vec<Entry<'_>> {
        match item {
            Some(toml_edit::Item::ArrayOfTables(a)) => a
                .iter()
                .map(|t| {
                    // a table's own span is its header: reach to its last value
                    let header = t.span().unwrap();
                    let end = t.iter().filter_map(|(_, v)| v.span()).map(|s| s.end).max();
                    let span = header.start..end.unwrap_or(header.end).max(header.end);
                    (nodes::name_of(t).to_string(), span, t as &dyn toml_edit::TableLike)
                })
                .collect(),
            Some(toml_edit::Item::Value(toml_edit::Value::Array(a))) => a
                .iter()
                .map(|v| {
                    let t = v.as_inline_table().unwrap();
                    (
                        nodes::name_of(t).to_string(),
                        v.span().unwrap(),
                        t as &dyn toml_edit::TableLike,
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }
    let doc = toml_edit::Document::parse(text).unwrap();
    let cameras = entries(doc.get("cameras"));
    let (_, _, table) = cameras.iter().find(|(n, _, _)| n == camera).unwrap();
    if key == "masks" {
        let masks = table
            .get("privacy")
            .and_then(toml_edit::Item::as_table_like)
            .and_then(|p| p.get("masks"));
        return masks
            .map(|m| ("masks".to_string(), m.span().unwrap()))
            .into_iter()
            .collect();
    }
    entries(table.get(key)).into_iter().map(|(n, s, _)| (n, s)).collect()
}

/// Camera `camera`'s list `key` (zones, rules) as TOML values, by name.
fn values(text: &str, camera: &str, key: &str) -> Vec<(String, toml::Value)> {
    let doc: toml::Table = text.parse().unwrap();
    let cameras = doc["cameras"].as_array().unwrap();
    let table = cameras.iter().find(|c| c["name"].as_str() == Some(camera)).unwrap();
    match key {
        "masks" => table
            .get("privacy")
            .and_then(|p| p.get("masks"))
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|m| (String::new(), m))
            .collect(),
        _ => table
            .get(key)
            .and_then(toml::Value::as_array)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|v| (v["name"].as_str().unwrap_or("").to_string(), v))
            .collect(),
    }
}

/// Everything but camera `camera`'s list `key`, as TOML: must not change.
fn without(text: &str, camera: &str, key: &str) -> toml::Table {
    let mut doc: toml::Table = text.parse().unwrap();
    for c in doc["cameras"].as_array_mut().unwrap() {
        if c["name"].as_str() == Some(camera) {
            let c = c.as_table_mut().unwrap();
            if key == "masks" {
                if let Some(p) = c.get_mut("privacy").and_then(toml::Value::as_table_mut) {
                    p.remove("masks");
                }
            } else {
                c.remove(key);
            }
        }
    }
    doc
}

#[test]
fn the_corpus_reads_whole_and_writes_back_unchanged() {
    for (file, text) in corpus() {
        let cameras = read(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!cameras.is_empty(), "{file}");
        for camera in cameras {
            assert_eq!(camera.locked, None, "{file}");
            let name = &camera.camera;
            assert_eq!(camera.zones.len(), values(&text, name, "zones").len(), "{file} {name}");
            assert_eq!(camera.rules.len(), values(&text, name, "rules").len(), "{file} {name}");
            assert_eq!(camera.masks.len(), values(&text, name, "masks").len(), "{file} {name}");
            let (again, changes) = apply(&text, &camera).unwrap();
            assert!(changes.is_empty(), "{file} {name}: {changes:?}");
            assert_eq!(again, text, "{file} {name}");
        }
    }
}

#[test]
fn the_corpus_keeps_every_rule_when_one_is_added_by_inserting_it_only() {
    for (file, text) in corpus() {
        for mut camera in read(&text).unwrap() {
            let name = camera.camera.clone();
            let zone = camera.zones.first().map_or("somewhere".to_string(), |z| z.name.clone());
            camera.rules.push(rule("added-by-the-console", &zone));
            let (new, changes) = apply(&text, &camera).unwrap();
            assert_eq!(changes.len(), 1, "{file} {name}: {changes:?}");
            let region = changed_region(&text, &new).unwrap();
            assert!(
                region.is_empty(),
                "{file} {name}: `{}` rewritten:\n{new}",
                &text[region.clone()]
            );
            let (before, after) = (values(&text, &name, "rules"), values(&new, &name, "rules"));
            assert_eq!(after.len(), before.len() + 1, "{file} {name}:\n{new}");
            assert_eq!(after[..before.len()], before[..], "{file} {name}:\n{new}");
            assert_eq!(after[before.len()].0, "added-by-the-console");
            assert_eq!(without(&new, &name, "rules"), without(&text, &name, "rules"), "{file}");
            // and the editor reads back what it wrote
            let back = read(&new).unwrap().into_iter().find(|c| c.camera == name).unwrap();
            assert_eq!(back, camera, "{file}:\n{new}");
        }
    }
}

#[test]
fn the_corpus_changes_only_the_moved_zone() {
    let mut moved = 0;
    for (file, text) in corpus() {
        for mut camera in read(&text).unwrap() {
            let name = camera.camera.clone();
            let Some(zone) = camera.zones.last_mut() else { continue };
            zone.points[0] = [0.25, 0.75];
            let zone = zone.name.clone();
            let (new, changes) = apply(&text, &camera).unwrap();
            assert_eq!(changes.len(), 1, "{file} {name}: {changes:?}");
            let region = changed_region(&text, &new).unwrap();
            let span = spans(&text, &name, "zones")
                .into_iter()
                .find(|(n, _)| *n == zone)
                .unwrap()
                .1;
            assert!(
                span.start <= region.start && region.end <= span.end,
                "{file} {name}: changed {region:?} outside zone `{zone}` at {span:?}:\n{new}"
            );
            let (before, after) = (values(&text, &name, "zones"), values(&new, &name, "zones"));
            assert_eq!(before.len(), after.len());
            for (b, a) in before.iter().zip(&after) {
                assert_eq!(b.0, a.0, "{file}: the order changed");
                assert_eq!(b.1 == a.1, b.0 != zone, "{file} {name} zone {}", b.0);
            }
            assert_eq!(without(&new, &name, "zones"), without(&text, &name, "zones"), "{file}");
            let back = read(&new).unwrap().into_iter().find(|c| c.camera == name).unwrap();
            assert_eq!(back, camera, "{file}:\n{new}");
            moved += 1;
        }
    }
    assert!(moved >= 6, "{moved}");
}

#[test]
fn the_corpus_changes_only_the_masks_when_one_is_removed() {
    let mut removed = 0;
    for (file, text) in corpus() {
        for mut camera in read(&text).unwrap() {
            let name = camera.camera.clone();
            if camera.masks.is_empty() {
                continue;
            }
            camera.masks.remove(0);
            let (new, changes) = apply(&text, &camera).unwrap();
            assert_eq!(changes.len(), 1, "{file} {name}: {changes:?}");
            let region = changed_region(&text, &new).unwrap();
            let span = spans(&text, &name, "masks").remove(0).1;
            assert!(
                span.start <= region.start && region.end <= span.end,
                "{file} {name}: changed {region:?} outside the masks at {span:?}:\n{new}"
            );
            let (before, after) = (values(&text, &name, "masks"), values(&new, &name, "masks"));
            assert_eq!(after[..], before[1..], "{file} {name}");
            assert_eq!(without(&new, &name, "masks"), without(&text, &name, "masks"), "{file}");
            removed += 1;
        }
    }
    assert!(removed >= 4, "{removed}");
}

#[test]
fn the_corpus_keeps_the_other_rules_when_one_is_removed() {
    let mut removed = 0;
    for (file, text) in corpus() {
        for mut camera in read(&text).unwrap() {
            let name = camera.camera.clone();
            if camera.rules.len() < 2 {
                continue;
            }
            let gone = camera.rules.remove(0).name;
            let (new, changes) = apply(&text, &camera).unwrap();
            assert_eq!(changes.len(), 1, "{file} {name}: {changes:?}");
            let list = spans(&text, &name, "rules");
            let region = changed_region(&text, &new).unwrap();
            // a pure deletion: the removed rule and the separator before the next one, no more
            let deleted = text.len() - new.len();
            assert_eq!(region.len(), deleted, "{file} {name}: not a pure deletion:\n{new}");
            assert!(
                list[0].1.len() <= deleted && deleted <= list[1].1.start - list[0].1.start,
                "{file} {name}: deleted {region:?}, rules at {list:?}:\n{new}"
            );
            let at = list[0].1.start;
            assert!(
                (at.saturating_sub(16)..=at).any(|a| new == format!("{}{}", &text[..a], &text[a + deleted..])),
                "{file} {name}: deleted {region:?}, not where rule `{gone}` was at {list:?}:\n{new}"
            );
            let (before, after) = (values(&text, &name, "rules"), values(&new, &name, "rules"));
            assert_eq!(after[..], before[1..], "{file} {name}: `{gone}`");
            assert_eq!(without(&new, &name, "rules"), without(&text, &name, "rules"), "{file}");
            removed += 1;
        }
    }
    assert!(removed >= 4, "{removed}");
}
