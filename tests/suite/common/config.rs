//! A builder for the box's TOML config, shaped as the product's config is:
//! the top level (site, box id, state folder), then the tables the test
//! sets (`[mqtt]`, `[models.*]`, `[privacy]`, `[metrics]`, `[console]`,
//! `[runtime]`, `[outbox]`…), then each `[[cameras]]` with its source,
//! decode, detect, privacy… tables, zones and rules. It writes through
//! `toml_edit`, so the text is always valid TOML and keeps the order the test
//! gave (it reads like a config written by hand). Keys with no method of
//! their own go through `set` or, for whole tables, `extra`.
//!
//! ```ignore
//! Config::new(dir).mqtt(port).coco().camera(
//!     Camera::new("walkway").clip(&clip).realtime(true).detect("coco", 5)
//!         .zone("lawn", &LAWN).rule(Rule::intrusion("lawn-intrusion", "lawn").set("min_secs", 0.4)),
//! ).to_toml()
//! ```

use std::path::{Path, PathBuf};

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value, value};

/// The lower-right lawn of vtest.avi, where people walk in and out.
pub const LAWN: [[f64; 2]; 4] = [[0.70, 0.58], [1.0, 0.58], [1.0, 0.80], [0.70, 0.80]];
/// The whole picture.
pub const WHOLE_FRAME: [[f64; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];

/// A polygon in frame fractions, as TOML: `[[x, y], …]`.
pub fn polygon(points: &[[f64; 2]]) -> Array {
    points
        .iter()
        .map(|p| Value::Array(p.iter().copied().collect()))
        .collect()
}

/// A TOML array of strings (labels, redactions, armed cameras).
pub fn strings(items: &[&str]) -> Array {
    items.iter().copied().collect()
}

/// A whole config.
#[derive(Clone)]
pub struct Config {
    site: String,
    box_id: Option<String>,
    state_dir: PathBuf,
    tables: Table,
    cameras: Vec<Camera>,
}

impl Config {
    /// Site `test-site`, its state in `state_dir`; no table yet.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            site: "test-site".into(),
            box_id: None,
            state_dir: state_dir.to_path_buf(),
            tables: Table::new(),
            cameras: Vec::new(),
        }
    }

    pub fn site(mut self, site: &str) -> Self {
        self.site = site.into();
        self
    }

    pub fn box_id(mut self, box_id: &str) -> Self {
        self.box_id = Some(box_id.into());
        self
    }

    /// `[mqtt]` on a broker at 127.0.0.1:`port`; the box is named
    /// `box-{port}`, as the tests' topics expect, unless `box_id` names it.
    pub fn mqtt(mut self, port: u16) -> Self {
        self.box_id.get_or_insert_with(|| format!("box-{port}"));
        self.set("mqtt", "url", format!("mqtt://127.0.0.1:{port}"))
    }

    /// `[models.<name>]` with this manifest.
    pub fn model(self, name: &str, manifest: &Path) -> Self {
        self.set(&format!("models.{name}"), "manifest", manifest.display().to_string())
    }

    /// `[models.coco]`: the SSD MobileNet detector of the suite.
    pub fn coco(self) -> Self {
        self.model("coco", &super::manifest())
    }

    /// `[models.faces]` (CenterFace) and `[privacy]` finding faces with it.
    pub fn faces(self) -> Self {
        self.model("faces", &super::root().join("models/centerface.toml"))
            .set("privacy", "face_model", "faces")
    }

    /// `[metrics]` listening on 127.0.0.1:`port`.
    pub fn metrics(self, port: u16) -> Self {
        self.set("metrics", "listen", format!("127.0.0.1:{port}"))
    }

    /// `[console]` listening on 127.0.0.1:`port`, its password hash in `password_file`.
    pub fn console(self, port: u16, password_file: &Path) -> Self {
        self.set("console", "listen", format!("127.0.0.1:{port}")).set(
            "console",
            "password_file",
            password_file.display().to_string(),
        )
    }

    /// `key = value` in the table `table` (dotted for a nested one:
    /// `integrations.home_assistant`), made if it is not there yet.
    pub fn set(mut self, table: &str, key: &str, v: impl Into<Value>) -> Self {
        table_at(&mut self.tables, table).insert(key, value(v));
        self
    }

    /// The config without `key` in `table` (a test of what its absence does).
    pub fn without(mut self, table: &str, key: &str) -> Self {
        table_at(&mut self.tables, table).remove(key);
        self
    }

    pub fn camera(mut self, camera: Camera) -> Self {
        self.cameras.push(camera);
        self
    }

    /// Raw TOML for the tables the builder has no method for, merged in
    /// (e.g. `"[profiles.night]\narmed = [\"walkway\"]"`).
    pub fn extra(mut self, toml: &str) -> Self {
        merge(&mut self.tables, parse(toml));
        self
    }

    pub fn to_toml(&self) -> String {
        let mut doc = DocumentMut::new();
        doc.insert("site", value(self.site.as_str()));
        if let Some(box_id) = &self.box_id {
            doc.insert("box_id", value(box_id.as_str()));
        }
        doc.insert("state_dir", value(self.state_dir.display().to_string()));
        for (key, item) in self.tables.iter() {
            doc.insert(key, item.clone());
        }
        if !self.cameras.is_empty() {
            let cameras: ArrayOfTables = self.cameras.iter().map(Camera::table).collect();
            doc.insert("cameras", Item::ArrayOfTables(cameras));
        }
        doc.to_string()
    }

    /// Writes the config to `path` and returns it.
    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.to_toml()).unwrap();
        path.to_path_buf()
    }
}

/// One `[[cameras]]` entry.
#[derive(Clone)]
pub struct Camera {
    table: Table,
}

impl Camera {
    pub fn new(name: &str) -> Self {
        let mut table = Table::new();
        table.insert("name", value(name));
        Self { table }
    }

    /// `[cameras.source] url`: a stream's URL.
    pub fn source(self, url: &str) -> Self {
        self.set("source", "url", url)
    }

    /// `[cameras.source] url`: a file.
    pub fn clip(self, path: &Path) -> Self {
        self.source(&path.display().to_string())
    }

    /// `[cameras.source] loop`: the file starts again at its end.
    pub fn looped(self, looped: bool) -> Self {
        self.set("source", "loop", looped)
    }

    /// `[cameras.source] realtime`: the file plays at its own pace.
    pub fn realtime(self, realtime: bool) -> Self {
        self.set("source", "realtime", realtime)
    }

    /// `[cameras.detect]`: this model, `fps` frames a second.
    pub fn detect(self, model: &str, fps: i64) -> Self {
        self.set("detect", "model", model).set("detect", "fps", fps)
    }

    /// A `[[cameras.zones]]` polygon.
    pub fn zone(mut self, name: &str, points: &[[f64; 2]]) -> Self {
        let mut zone = Table::new();
        zone.insert("name", value(name));
        zone.insert("polygon", value(polygon(points)));
        push(&mut self.table, "zones", zone);
        self
    }

    /// A `[[cameras.rules]]` entry.
    pub fn rule(mut self, rule: Rule) -> Self {
        push(&mut self.table, "rules", rule.table);
        self
    }

    /// `key = value` in the camera's table `table` (`source`, `decode`,
    /// `detect`, `privacy`, `health`, `motion`…), made if it is not there yet.
    pub fn set(mut self, table: &str, key: &str, v: impl Into<Value>) -> Self {
        table_at(&mut self.table, table).insert(key, value(v));
        self
    }

    /// Raw TOML relative to the camera, merged in (e.g. `"[motion]\nenabled = false"`).
    pub fn extra(mut self, toml: &str) -> Self {
        merge(&mut self.table, parse(toml));
        self
    }

    /// The camera's table; zones and rules come after its other tables.
    fn table(&self) -> Table {
        let mut table = self.table.clone();
        for key in ["zones", "rules"] {
            if let Some(item) = table.remove(key) {
                table.insert(key, item);
            }
        }
        table
    }
}

/// One `[[cameras.rules]]` entry.
#[derive(Clone)]
pub struct Rule {
    table: Table,
}

impl Rule {
    /// A rule of `kind` on `zone`, watching people.
    pub fn new(name: &str, kind: &str, zone: &str) -> Self {
        let mut table = Table::new();
        table.insert("name", value(name));
        table.insert("kind", value(kind));
        table.insert("zone", value(zone));
        table.insert("labels", value(strings(&["person"])));
        Self { table }
    }

    /// An intrusion rule on `zone`, watching people.
    pub fn intrusion(name: &str, zone: &str) -> Self {
        Self::new(name, "intrusion", zone)
    }

    /// The labels it watches (people unless told).
    pub fn labels(self, labels: &[&str]) -> Self {
        self.set("labels", strings(labels))
    }

    /// Any other key: `min_secs`, `end_after_secs`, `severity`, `snapshot`…
    pub fn set(mut self, key: &str, v: impl Into<Value>) -> Self {
        self.table.insert(key, value(v));
        self
    }
}

/// The table at the dotted `path` under `root`, made (with its parents) if
/// it is not there yet; a parent made only to hold it writes no header.
fn table_at<'a>(root: &'a mut Table, path: &str) -> &'a mut Table {
    path.split('.').fold(root, |table, key| {
        let item = table.entry(key).or_insert_with(|| {
            let mut made = Table::new();
            made.set_implicit(true);
            Item::Table(made)
        });
        item.as_table_mut().unwrap_or_else(|| panic!("`{key}` is not a table"))
    })
}

fn push(table: &mut Table, key: &str, entry: Table) {
    let item = table.entry(key).or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    item.as_array_of_tables_mut()
        .unwrap_or_else(|| panic!("`{key}` is not an array of tables"))
        .push(entry);
}

/// Raw TOML as a table without its layout (it takes the builder's).
fn parse(toml: &str) -> Table {
    let doc: DocumentMut = toml
        .parse()
        .unwrap_or_else(|e| panic!("invalid TOML in a test config: {e}\n{toml}"));
    let mut table = doc.as_table().clone();
    plain(&mut table);
    table
}

fn plain(table: &mut Table) {
    table.set_position(None);
    table.decor_mut().clear();
    table.fmt();
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => plain(t),
            Item::ArrayOfTables(a) => a.iter_mut().for_each(plain),
            _ => {}
        }
    }
}

/// `from` into `into`: tables merge key by key, arrays of tables grow.
fn merge(into: &mut Table, from: Table) {
    for (key, item) in from {
        match (into.get_mut(&key), item) {
            (Some(Item::Table(old)), Item::Table(new)) => merge(old, new),
            (Some(Item::ArrayOfTables(old)), Item::ArrayOfTables(new)) => old.extend(new),
            (_, item) => {
                into.insert(&key, item);
            }
        }
    }
}
