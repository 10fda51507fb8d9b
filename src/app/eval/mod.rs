//! `watchpost eval`: how right a camera's rules are on a labelled recording.
//!
//! It replays the recording through the camera's full pipeline (the same
//! [`replay`](super::replay) an operator uses, with its progress bar), takes
//! each rule's raised moments from the incident events — a start, or an
//! update that brings in an object the incident did not hold — and matches
//! them to the moments a person labelled ([`labels`]) with the time
//! tolerance in [`score`]. It prints per rule the true and false positives,
//! misses, precision, recall and the median delay from the labelled moment
//! to the event; `--json` prints the same as one object for scripts and CI.
//!
//! Rules are scored when the label file has moments for them: a
//! `line_crossing` rule on a zone named like a labelled line is scored
//! against the crossings in its direction; any other rule on a zone named
//! like a labelled zone whose moments are for the rule's kind is scored
//! against those moments, counting objects raised or incidents started as
//! the labels say. The line or polygon in the config must be the labelled
//! one, or the labels would not mean anything.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use uuid::Uuid;

use super::replay::{ReplayOptions, Stamp, pick_camera, run_recording};
use crate::rules::kinds::line_crossing::Direction;
use crate::rules::{EventKind, IncidentEvent, RuleKindPlan, RulePlan};

pub mod labels;
pub mod score;

use labels::{Count, Labels, Way};
use score::{Score, score};

/// Exit status for a config or label file that cannot be used.
const EXIT_CONFIG: u8 = 2;
/// How far (in frame fractions) a config's point may sit from the labelled one.
const SAME_LINE: f32 = 0.002;

/// `watchpost eval`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  watchpost eval --config tests/truth/vtest_lines_eval.toml \
                        --labels tests/truth/vtest_lines.toml media/vtest.avi\n\n\
                        A raised moment matches a label from 0.5 s before it to 1.5 s after it."
)]
pub struct EvalArgs {
    /// The config whose camera's rules are scored.
    #[arg(long, short)]
    pub config: PathBuf,
    /// The label file (see tests/truth/README.md for its form).
    #[arg(long)]
    pub labels: PathBuf,
    /// The recording the labels were made on.
    pub recording: PathBuf,
    /// The camera to use (default: the only, or first, camera of the config).
    #[arg(long)]
    pub camera: Option<String>,
    /// Analyse at this many frames a second instead of the camera's detect fps.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub fps: Option<u32>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// When the recording began, e.g. 2026-11-30T21:00:00Z: the rules run on
    /// this plus the position in the recording, so scheduled rules are armed
    /// as they were then (default: the file's modification time).
    #[arg(long, value_name = "TIME", value_parser = super::replay::parse_start)]
    pub start: Option<std::time::SystemTime>,
}

/// One scored rule.
#[derive(Debug, Clone, Serialize)]
pub struct RuleScore {
    pub rule: String,
    pub zone: String,
    pub precision: f64,
    pub recall: f64,
    pub median_delay_secs: Option<f64>,
    #[serde(flatten)]
    pub score: Score,
}

/// What `--json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub recording: String,
    pub camera: String,
    pub fps: u32,
    pub frames: u64,
    pub rules: Vec<RuleScore>,
}

/// Runs the command: 0 when the recording was scored, 2 for a config or
/// label file that cannot be used, 1 when the recording cannot be replayed.
pub fn command(args: &EvalArgs) -> ExitCode {
    match evaluate(args) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("cannot print the report: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", table(&report));
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Input(message)) => {
            eprintln!("{message}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(Failure::Replay(e)) => {
            eprintln!("{}: {e:#}", args.recording.display());
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Input(String),
    Replay(anyhow::Error),
}

/// What a rule is scored against: required and optional moments, in seconds.
struct Expected {
    rule: usize,
    count: Count,
    required: Vec<f64>,
    optional: Vec<f64>,
}

fn evaluate(args: &EvalArgs) -> Result<Report, Failure> {
    let plan = crate::plan::load(&args.config).map_err(|e| Failure::Input(e.to_string()))?;
    let camera = pick_camera(&plan, args.camera.as_deref())
        .map_err(|m| Failure::Input(format!("{}: {m}", args.config.display())))?;
    let labels = Labels::load(&args.labels).map_err(|e| Failure::Input(format!("{e:#}")))?;
    let expected = expectations(&camera.rules, &labels)
        .map_err(|m| Failure::Input(format!("{}: camera `{}`: {m}", args.labels.display(), camera.name)))?;
    if expected.is_empty() {
        return Err(Failure::Input(format!(
            "{}: camera `{}` has no rule the labels in {} can score (a line_crossing rule on a zone named \
             like one of their lines, or a rule of a labelled kind on a zone named like one of their zones)",
            args.config.display(),
            camera.name,
            args.labels.display()
        )));
    }
    let mut raised: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut held: HashMap<Uuid, HashSet<u64>> = HashMap::new();
    let index: HashMap<&str, usize> = camera.rules.iter().enumerate().map(|(i, r)| (&*r.name, i)).collect();
    let counts: HashMap<usize, Count> = expected.iter().map(|e| (e.rule, e.count)).collect();
    let mut on_event = |event: &IncidentEvent, at: Stamp| -> anyhow::Result<()> {
        let Some(&rule) = index.get(&*event.rule) else {
            return Ok(());
        };
        let objects = new_targets(event, &mut held);
        let moments = match counts.get(&rule) {
            Some(Count::Incidents) => usize::from(event.kind == EventKind::Start),
            _ => objects,
        };
        raised
            .entry(rule)
            .or_default()
            .extend(std::iter::repeat_n(at.pts.as_secs_f64(), moments));
        Ok(())
    };
    let options = ReplayOptions {
        out: None,
        start: args.start,
        fps: args.fps,
        in_flight: None,
        plain: false,
    };
    let summary = run_recording(&plan, camera, &args.recording, &options, &mut on_event).map_err(Failure::Replay)?;
    let rules = expected
        .iter()
        .map(|e| {
            let rule = &camera.rules[e.rule];
            let s = score(&e.required, &e.optional, raised.get(&e.rule).map_or(&[][..], |v| v));
            RuleScore {
                rule: rule.name.to_string(),
                zone: rule.zone.name.to_string(),
                precision: s.precision(),
                recall: s.recall(),
                median_delay_secs: s.median_delay(),
                score: s,
            }
        })
        .collect();
    Ok(Report {
        recording: args.recording.display().to_string(),
        camera: camera.name.to_string(),
        fps: args.fps.unwrap_or(camera.detect.keys.fps),
        frames: summary.frames,
        rules,
    })
}

/// How many objects this event raises: all of a start's, and those an
/// update brings in that its incident did not hold.
fn new_targets(event: &IncidentEvent, held: &mut HashMap<Uuid, HashSet<u64>>) -> usize {
    match event.kind {
        EventKind::Start => {
            let ids: HashSet<u64> = event.targets.iter().map(|t| t.track_id).collect();
            let n = event.targets.len();
            held.insert(event.incident_id, ids);
            n
        }
        EventKind::Update => {
            let ids = held.entry(event.incident_id).or_default();
            event.targets.iter().filter(|t| ids.insert(t.track_id)).count()
        }
        EventKind::End => {
            held.remove(&event.incident_id);
            0
        }
    }
}

/// The labelled moments each scorable rule should raise.
fn expectations(rules: &[std::sync::Arc<RulePlan>], labels: &Labels) -> Result<Vec<Expected>, String> {
    let secs = |frame: u64| frame as f64 / labels.fps;
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        // the labelled moments, (frame, optional) each
        let (count, moments): (Count, Vec<(u64, bool)>) = if let RuleKindPlan::LineCrossing(kind) = &rule.kind {
            let Some(labelled) = labels.line(&rule.zone.name) else {
                continue;
            };
            let line = rule.zone.line().map(|l| l.points()).unwrap_or_default();
            labelled_shape(&rule.zone.name, line, &labelled.line, ("line", "line"))?;
            let wanted = |way: Way| match kind.direction {
                Direction::Both => true,
                Direction::AToB => way == Way::AToB,
                Direction::BToA => way == Way::BToA,
            };
            let crossings = labelled.crossings.iter().filter(|c| wanted(c.direction));
            (Count::Objects, crossings.map(|c| (c.frame, c.optional)).collect())
        } else {
            let Some(labelled) = labels.zone(&rule.zone.name, rule.kind.name()) else {
                continue;
            };
            let polygon = rule.zone.polygon().map(|p| p.points()).unwrap_or_default();
            labelled_shape(&rule.zone.name, polygon, &labelled.polygon, ("polygon", "zone"))?;
            let moments = labelled.moments.iter().map(|m| (m.frame, m.optional)).collect();
            (labelled.count, moments)
        };
        let (optional, required): (Vec<_>, Vec<_>) = moments.into_iter().partition(|&(_, optional)| optional);
        let at = |moments: Vec<(u64, bool)>| moments.into_iter().map(|(frame, _)| secs(frame)).collect();
        out.push(Expected {
            rule: i,
            count,
            required: at(required),
            optional: at(optional),
        });
    }
    Ok(out)
}

/// Fails unless zone `zone`'s points are the labelled `shape`'s: the
/// labels only hold for `that` (the line, the zone) they were made on.
fn labelled_shape(
    zone: &str,
    points: &[crate::rules::geometry::Point],
    labelled: &[[f32; 2]],
    (shape, that): (&str, &str),
) -> Result<(), String> {
    if same_points(points, labelled) {
        return Ok(());
    }
    Err(format!(
        "zone `{zone}` is not the labelled {shape} {labelled:?}; the labels only hold for that {that}"
    ))
}

/// Whether a config's points are the labelled ones.
fn same_points(points: &[crate::rules::geometry::Point], labelled: &[[f32; 2]]) -> bool {
    points.len() == labelled.len()
        && points
            .iter()
            .zip(labelled)
            .all(|(p, q)| (p.x - q[0]).abs() <= SAME_LINE && (p.y - q[1]).abs() <= SAME_LINE)
}

/// The report as a table for people.
fn table(report: &Report) -> String {
    let mut s = format!(
        "{} (camera `{}`, {} fps, {} frames analysed)\n{:<24} {:>8} {:>6} {:>4} {:>4} {:>6} {:>9} {:>7} {:>9}\n",
        report.recording,
        report.camera,
        report.fps,
        report.frames,
        "rule",
        "labelled",
        "raised",
        "tp",
        "fp",
        "missed",
        "precision",
        "recall",
        "delay (s)"
    );
    for r in &report.rules {
        let delay = r.median_delay_secs.map_or("-".to_string(), |d| format!("{d:.1}"));
        s += &format!(
            "{:<24} {:>8} {:>6} {:>4} {:>4} {:>6} {:>8.0}% {:>6.0}% {:>9}\n",
            r.rule,
            r.score.labelled,
            r.score.raised,
            r.score.true_positives,
            r.score.false_positives,
            r.score.misses,
            r.precision * 100.0,
            r.recall * 100.0,
            delay
        );
    }
    s
}
