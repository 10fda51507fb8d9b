//! Rule behaviour as data: every tests/scenarios/*.toml file describes timed
//! synthetic objects and the incidents they must raise. The runner turns the
//! objects into detections frame by frame, feeds them through the real
//! tracker and rule engine (zones, rules and tracker settings are read by the
//! same code as a camera's config), and compares the incidents that come out
//! with the file's `[[expect]]` list.
//!
//! A scenario file:
//!
//! ```toml
//! fps = 10                         # detection frames per second
//! duration_secs = 20.0             # the stream ends here (open incidents end)
//! time_zone = "UTC"                # IANA name or POSIX TZ string
//! start = "2026-12-07T21:59:50"    # local wall-clock time at stream time 0
//! tolerance_secs = 0.25            # allowed difference of expected times
//! labels = [[1, "person"], [7, "ebike"]]  # the model's label map; default person, bicycle, car, truck
//!
//! [track]                          # as [cameras.track]
//! [[zones]]                        # as [[cameras.zones]]
//! [[rules]]                        # as [[cameras.rules]]
//!
//! [[objects]]
//! label = "person"
//! score = 0.9                      # default 0.9
//! size = [0.06, 0.2]               # box width and height, default as here
//! path = [[0.0, 0.3, 0.3], [10.0, 0.7, 0.3]]  # [secs, x, y] of the box's bottom centre
//!                                  # or [secs, x, y, w, h]: the box's size changes too
//! hidden = [[4.0, 4.5]]            # [from, to) seconds without a detection
//!
//! [[blobs]]                        # for motion kinds (thrown_object): a small square
//! start = 1.0                      # drawn into synthetic 160×240 grayscale frames
//! end = 2.5                        # from `start` to `end` secs
//! from = [0.3, 0.1]                # normalised position at `start`
//! velocity = [0.1, 0.0]            # frame widths/heights per second
//! accel = [0.0, 1.0]               # per second² (1.0: one frame height per s²)
//! wobble = [0.05, 2.0]             # optional vertical [amplitude, hz]: a flapping bird
//! size_px = 5                      # side, default 5
//! copies = 1                       # optional: that many, spread across the frame (rain)
//!
//! [[expect]]
//! rule = "walkway-intrusion"
//! start = 1.2                      # stream seconds of the start event
//! end = 8.0                        # of the end event; left out: still open at the end
//! updates = 0                      # optional: number of update events
//! targets = 1                      # optional: objects in the start event
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;
use serde::Deserialize;
use toml::Spanned;
use watchpost::config::Ctx;
use watchpost::config::de::{Node, array_items, from_node, from_table_without, parse_document};
use watchpost::config::diag::{Diagnostics, SourceFile};
use watchpost::rules::{self, EventKind, IncidentEvent, RuleEngine, Zone, ZoneConfig};
use watchpost::track::{self, TrackConfig, TrackPlan, Tracker};
use watchpost::vocab::{BBox, Detection, LabelMap};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    fps: f64,
    duration_secs: f64,
    #[serde(default = "utc")]
    time_zone: String,
    #[serde(default = "default_start")]
    start: String,
    #[serde(default = "default_tolerance")]
    tolerance_secs: f64,
    #[serde(default = "default_labels")]
    labels: Vec<(u32, String)>,
    #[serde(default)]
    objects: Vec<Object>,
    #[serde(default)]
    expect: Vec<Expect>,
    #[serde(default)]
    blobs: Vec<MovingBlob>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MovingBlob {
    start: f64,
    end: f64,
    from: [f64; 2],
    #[serde(default)]
    velocity: [f64; 2],
    #[serde(default)]
    accel: [f64; 2],
    #[serde(default)]
    wobble: [f64; 2],
    #[serde(default = "default_blob_size")]
    size_px: i64,
    #[serde(default = "one")]
    copies: usize,
}

fn default_blob_size() -> i64 {
    5
}
fn one() -> usize {
    1
}

const FRAME_W: usize = 160;
const FRAME_H: usize = 240;

/// A synthetic façade with the scenario's blobs at `t`.
fn draw_frame(blobs: &[MovingBlob], t: f64, buf: &mut [u8]) {
    for y in 0..FRAME_H {
        for x in 0..FRAME_W {
            let window = (x % 40) > 10 && (x % 40) < 30 && (y % 60) > 15 && (y % 60) < 45;
            buf[y * FRAME_W + x] = if window { 30 } else { 90 + ((x * 7 + y * 13) % 17) as u8 };
        }
    }
    for b in blobs.iter().filter(|b| (b.start..b.end).contains(&t)) {
        let dt = t - b.start;
        for k in 0..b.copies {
            let spread = k as f64 / b.copies as f64;
            let x = (b.from[0] + spread + b.velocity[0] * dt + 0.5 * b.accel[0] * dt * dt).rem_euclid(1.0);
            let mut y = b.from[1]
                + b.velocity[1] * dt
                + 0.5 * b.accel[1] * dt * dt
                + b.wobble[0] * (std::f64::consts::TAU * b.wobble[1] * dt).sin();
            if b.copies > 1 {
                y = (y + spread * 0.7).rem_euclid(1.0);
            }
            let (cx, cy) = ((x * FRAME_W as f64) as i64, (y * FRAME_H as f64) as i64);
            for yy in cy..cy + b.size_px {
                for xx in cx..cx + b.size_px {
                    if (0..FRAME_W as i64).contains(&xx) && (0..FRAME_H as i64).contains(&yy) {
                        buf[yy as usize * FRAME_W + xx as usize] = 230;
                    }
                }
            }
        }
    }
}

fn utc() -> String {
    "UTC".into()
}
fn default_start() -> String {
    "2026-12-07T12:00:00".into()
}
fn default_tolerance() -> f64 {
    0.25
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Object {
    label: String,
    #[serde(default = "default_score")]
    score: f32,
    #[serde(default = "default_size")]
    size: [f32; 2],
    /// [secs, x, y] or [secs, x, y, w, h]
    path: Vec<Vec<f64>>,
    #[serde(default)]
    hidden: Vec<[f64; 2]>,
}

fn default_score() -> f32 {
    0.9
}
fn default_size() -> [f32; 2] {
    [0.06, 0.2]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    rule: String,
    start: f64,
    end: Option<f64>,
    updates: Option<usize>,
    targets: Option<usize>,
}

/// An incident as it came out of the engine.
#[derive(Debug)]
struct Seen {
    rule: String,
    start: f64,
    /// None: ended by the end of the stream.
    end: Option<f64>,
    updates: usize,
    targets: usize,
}

fn default_labels() -> Vec<(u32, String)> {
    [(1, "person"), (2, "bicycle"), (3, "car"), (4, "truck")]
        .iter()
        .map(|&(id, n)| (id, n.to_string()))
        .collect()
}

fn label_map(labels: &[(u32, String)]) -> LabelMap {
    LabelMap::new(labels.iter().cloned().collect())
}

fn time_zone(name: &str) -> TimeZone {
    TimeZone::get(name)
        .or_else(|_| TimeZone::posix(name))
        .unwrap_or_else(|e| panic!("time zone `{name}`: {e}"))
}

/// The scenario's pieces, read by the same code as a camera's config.
struct Scenario {
    settings: Settings,
    track: TrackPlan,
    rules: Vec<Arc<rules::RulePlan>>,
}

fn load(path: &Path) -> Scenario {
    let text = std::fs::read_to_string(path).unwrap();
    let file = SourceFile::new(path, text);
    let mut diags = Diagnostics::default();
    let doc = parse_document(&file, &mut diags).unwrap_or_else(|| panic!("{path:?}: {diags:?}"));
    let root = Spanned::new(0..file.text.len(), toml::de::DeValue::Table(doc.into_inner()));
    let (settings, parts) = from_table_without::<Settings>(&file, &root, &["track", "zones", "rules"], &mut diags);
    assert!(diags.is_empty(), "{}:\n{:#?}", path.display(), diags.into_sorted());
    let base = path.parent().unwrap().to_path_buf();
    let labels = label_map(settings.as_ref().map_or(&[][..], |s| &s.labels));
    let mut ctx = Ctx {
        file: &file,
        base_dir: &base,
        diags: &mut diags,
    };
    let mut track = Some(TrackPlan::default());
    let mut zones: Vec<Arc<Zone>> = Vec::new();
    let mut zone_names = Vec::new();
    let mut rule_nodes: Vec<Node<'_>> = Vec::new();
    for (key, node) in &parts {
        match key.as_str() {
            "track" => {
                track = from_node::<TrackConfig>(&file, node, ctx.diags).and_then(|t| track::check(&t, &mut ctx));
            }
            "zones" => {
                for z in array_items(&file, node, "zones", ctx.diags).to_vec() {
                    if let Some(config) = from_node::<ZoneConfig>(&file, &z, ctx.diags) {
                        zone_names.push(config.name.get_ref().clone());
                        zones.extend(rules::zone::check("scenario", &config, &mut ctx).map(Arc::new));
                    }
                }
            }
            "rules" => rule_nodes = array_items(&file, node, "rules", ctx.diags).to_vec(),
            _ => {}
        }
    }
    let mut plans = Vec::new();
    for node in &rule_nodes {
        if let Some(config) = rules::load_rule(&file, node, ctx.diags) {
            plans.extend(
                rules::check_rule(
                    "scenario",
                    &config,
                    &zones,
                    &zone_names,
                    Some(&labels),
                    "synthetic",
                    &mut ctx,
                )
                .map(Arc::new),
            );
        }
    }
    assert!(diags.is_empty(), "{}:\n{:#?}", path.display(), diags.into_sorted());
    Scenario {
        settings: settings.unwrap(),
        track: track.unwrap(),
        rules: plans,
    }
}

/// Where an object is at `t`, if it is detected then.
fn detection(object: &Object, t: f64, labels: &LabelMap) -> Option<Detection> {
    let path = &object.path;
    let (first, last) = (path.first()?, path.last()?);
    if t < first[0] || t > last[0] || object.hidden.iter().any(|h| (h[0]..h[1]).contains(&t)) {
        return None;
    }
    let i = path.iter().rposition(|p| p[0] <= t)?;
    let [w0, h0] = object.size.map(f64::from);
    // [secs, x, y, w, h], the size defaulting to the object's
    let at = |p: &Vec<f64>, k: usize| p.get(k).copied().unwrap_or(if k == 3 { w0 } else { h0 });
    let value = |k: usize| match path.get(i + 1) {
        Some(next) if next[0] > path[i][0] => {
            let f = (t - path[i][0]) / (next[0] - path[i][0]);
            at(&path[i], k) + f * (at(next, k) - at(&path[i], k))
        }
        _ => at(&path[i], k),
    };
    let (x, y, w, h) = (value(1) as f32, value(2) as f32, value(3) as f32, value(4) as f32);
    Some(Detection {
        label: *labels
            .ids_of(&object.label)
            .first()
            .unwrap_or_else(|| panic!("unknown label {}", object.label)),
        score: object.score,
        bbox: BBox {
            x1: x - w / 2.0,
            y1: y - h,
            x2: x + w / 2.0,
            y2: y,
        },
    })
}

/// Runs a scenario through the tracker and rule engine; returns every event.
fn run(scenario: &Scenario) -> (Vec<IncidentEvent>, Duration) {
    let s = &scenario.settings;
    let labels = Arc::new(label_map(&s.labels));
    let tz = time_zone(&s.time_zone);
    let start: jiff::civil::DateTime = s.start.parse().unwrap_or_else(|e| panic!("start `{}`: {e}", s.start));
    let wall0 = SystemTime::from(start.to_zoned(tz.clone()).unwrap().timestamp());
    let mut tracker = Tracker::new(scenario.track);
    let mut engine = RuleEngine::new(&scenario.rules, labels.clone()).with_time_zone(tz);
    let mut detections = Vec::new();
    let mut events = Vec::new();
    let frames = (s.duration_secs * s.fps).round() as u64;
    let mut pts = Duration::ZERO;
    let mut gray = vec![0u8; FRAME_W * FRAME_H];
    for i in 0..=frames {
        pts = Duration::from_nanos((i as f64 * 1e9 / s.fps).round() as u64);
        let t = pts.as_secs_f64();
        detections.clear();
        detections.extend(s.objects.iter().filter_map(|o| detection(o, t, &labels)));
        let tracks = tracker.update(&detections, pts);
        engine.step(tracks, pts, wall0 + pts, &mut events);
        if engine.wants_motion() {
            draw_frame(&s.blobs, t, &mut gray);
            let frame = rules::blobs::GrayFrame {
                width: FRAME_W as u32,
                height: FRAME_H as u32,
                stride: FRAME_W,
                data: &gray,
                pts,
            };
            engine.step_motion(&frame, wall0 + pts, &mut events);
        }
    }
    let before_finish = events.len();
    engine.finish(pts, wall0 + pts, &mut events);
    // mark incidents closed by the end of the stream
    for e in &mut events[before_finish..] {
        e.stream_time = Duration::MAX;
    }
    (events, pts)
}

/// Groups events into incidents, checking each incident's events are well formed.
fn incidents(events: &[IncidentEvent]) -> Vec<Seen> {
    let mut by_id: BTreeMap<uuid::Uuid, Vec<&IncidentEvent>> = BTreeMap::new();
    let mut order = Vec::new();
    for e in events {
        let list = by_id.entry(e.incident_id).or_default();
        if list.is_empty() {
            order.push(e.incident_id);
        }
        list.push(e);
    }
    order
        .iter()
        .map(|id| {
            let list = &by_id[id];
            assert_eq!(
                list[0].kind,
                EventKind::Start,
                "incident {id} does not begin with start"
            );
            let ends = list.iter().filter(|e| e.kind == EventKind::End).count();
            assert_eq!(ends, 1, "incident {id} has {ends} ends");
            assert_eq!(
                list.last().unwrap().kind,
                EventKind::End,
                "incident {id}: events after its end"
            );
            assert!(list.iter().all(|e| e.rule == list[0].rule));
            let end = list.last().unwrap().stream_time;
            Seen {
                rule: list[0].rule.to_string(),
                start: list[0].stream_time.as_secs_f64(),
                end: (end != Duration::MAX).then_some(end.as_secs_f64()),
                updates: list.iter().filter(|e| e.kind == EventKind::Update).count(),
                targets: list[0].targets.len(),
            }
        })
        .collect()
}

fn check(path: &Path) -> Result<(), String> {
    let scenario = load(path);
    let (events, _) = run(&scenario);
    let mut seen = incidents(&events);
    let s = &scenario.settings;
    seen.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.rule.cmp(&b.rule)));
    let mut expected: Vec<&Expect> = s.expect.iter().collect();
    expected.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.rule.cmp(&b.rule)));
    let tol = s.tolerance_secs;
    let near = |a: f64, b: f64| (a - b).abs() <= tol + 1e-9;
    let matches = seen.len() == expected.len()
        && seen.iter().zip(&expected).all(|(got, want)| {
            got.rule == want.rule
                && near(got.start, want.start)
                && match (got.end, want.end) {
                    (Some(g), Some(w)) => near(g, w),
                    (None, None) => true,
                    _ => false,
                }
                && want.updates.is_none_or(|u| u == got.updates)
                && want.targets.is_none_or(|t| t == got.targets)
        });
    if matches {
        Ok(())
    } else {
        let want: Vec<String> = expected
            .iter()
            .map(|e| {
                let end = e.end.map_or("open".to_string(), |t| format!("{t:.2}"));
                format!(
                    "  {} {:.2}..{end} updates {:?} targets {:?}",
                    e.rule, e.start, e.updates, e.targets
                )
            })
            .collect();
        let got: Vec<String> = seen
            .iter()
            .map(|g| {
                let end = g.end.map_or("open".to_string(), |t| format!("{t:.2}"));
                format!(
                    "  {} {:.2}..{end} updates {} targets {}",
                    g.rule, g.start, g.updates, g.targets
                )
            })
            .collect();
        Err(format!(
            "{}: expected (±{tol} s)\n{}\ngot\n{}",
            path.display(),
            want.join("\n"),
            got.join("\n")
        ))
    }
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_raises_exactly_its_expected_incidents() {
    let files = scenario_files();
    assert!(!files.is_empty());
    let failures: Vec<String> = files.iter().filter_map(|f| check(f).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_rule_kind_has_a_scenario() {
    let texts: Vec<String> = scenario_files()
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    for kind in rules::KINDS {
        let written = format!("kind = \"{kind}\"");
        assert!(
            texts.iter().any(|t| t.contains(&written)),
            "no scenario uses kind `{kind}`"
        );
    }
}

#[test]
fn a_scenario_replays_identically() {
    // the engine reads no clock: two runs raise the same events at the same times
    for file in scenario_files() {
        let scenario = load(&file);
        let strip = |events: Vec<IncidentEvent>| -> Vec<(EventKind, String, Duration, SystemTime, usize)> {
            events
                .into_iter()
                .map(|e| (e.kind, e.rule.to_string(), e.stream_time, e.time, e.targets.len()))
                .collect()
        };
        assert_eq!(strip(run(&scenario).0), strip(run(&scenario).0), "{}", file.display());
    }
}
