//! Tracker plus rules cost per frame, with 10 and with 100 objects in view.
//!
//! A synthetic scene: objects in rows drifting left and right across a
//! vertical line, over an area zone, with one rule of each kind (intrusion,
//! line crossing, loitering, crowd). Each iteration is one frame:
//! Tracker::update then RuleEngine::step, as the detect thread runs them. Run with `cargo bench --bench rules`; the medians go to
//! docs/benchmarks.md. The tracker alone is also timed with the frame's
//! pixels (a 300×300 RGB frame, the SSD input), with and without its
//! appearance cue, for what reading the boxes' looks costs.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use watchpost::rules::geometry::{Anchor, Line, Point, Polygon};
use watchpost::rules::incident::LifecyclePlan;
use watchpost::rules::kinds::line_crossing::{self, Direction};
use watchpost::rules::kinds::{crowd, intrusion, loitering};
use watchpost::rules::zone::{Shape, Zone};
use watchpost::rules::{CommonKeys, RuleEngine, RuleKindPlan, RulePlan, Severity, schedule};
use watchpost::track::{Pixels, TrackPlan, Tracker};
use watchpost::vocab::frame::{FrameLayout, Geometry};
use watchpost::vocab::{BBox, Detection, LabelMap};

const FRAMES: usize = 400;
const FPS: u64 = 10;

/// Detections of `n` objects for each of FRAMES frames.
fn scene(n: usize) -> Vec<Vec<Detection>> {
    let side = (n as f32).sqrt().ceil() as usize;
    let pitch = 0.9 / side as f32;
    (0..FRAMES)
        .map(|f| {
            (0..n)
                .map(|i| {
                    let (row, col) = (i / side, i % side);
                    // rows drift back and forth by up to 0.1 of the frame,
                    // one full swing per FRAMES so the scene loops smoothly
                    let phase = f as f32 * std::f32::consts::TAU / FRAMES as f32 * 3.0 + row as f32;
                    let x = 0.05 + col as f32 * pitch + 0.1 * phase.sin();
                    let y = 0.1 + row as f32 * pitch;
                    Detection {
                        label: 1,
                        score: if (f + i) % 7 == 0 { 0.3 } else { 0.8 },
                        bbox: BBox {
                            x1: x,
                            y1: y,
                            x2: x + pitch * 0.4,
                            y2: y + pitch * 0.8,
                        },
                    }
                })
                .collect()
        })
        .collect()
}

fn rule(name: &str, zone: &Arc<Zone>, kind: RuleKindPlan, schedule: schedule::Schedule) -> Arc<RulePlan> {
    let once_per_target = !matches!(kind, RuleKindPlan::Crowd(_));
    Arc::new(RulePlan {
        name: name.into(),
        zone: zone.clone(),
        labels: vec![1],
        keys: CommonKeys {
            anchor: Anchor::BottomCentre,
            severity: Severity::Medium,
            min_confidence: 0.5,
            min_secs: 1.0,
            end_after_secs: 3.0,
            update_every_secs: 5.0,
            cooldown_secs: 0.0,
            once_per_target,
            snapshot: false,
            evidence: None,
        },
        lifecycle: LifecyclePlan {
            min_duration: Duration::from_secs(1),
            end_after: Duration::from_secs(3),
            update_every: Duration::from_secs(5),
            cooldown: Duration::ZERO,
            once_per_target,
        },
        schedule,
        kind,
    })
}

fn engine() -> RuleEngine {
    let area = Arc::new(Zone {
        name: "area".into(),
        shape: Shape::Polygon(Polygon::new(&[[0.1, 0.1], [0.7, 0.1], [0.7, 0.9], [0.1, 0.9]]).unwrap()),
    });
    let line = Arc::new(Zone {
        name: "line".into(),
        shape: Shape::Line(Line::from_points(vec![Point { x: 0.5, y: 0.0 }, Point { x: 0.5, y: 1.0 }]).unwrap()),
    });
    let always = schedule::Schedule::default();
    let rules = [
        rule(
            "intrusion",
            &area,
            RuleKindPlan::Intrusion(intrusion::Plan {}),
            always.clone(),
        ),
        rule(
            "crossing",
            &line,
            RuleKindPlan::LineCrossing(line_crossing::Plan {
                direction: Direction::Both,
                min_distance: 0.01,
            }),
            always.clone(),
        ),
        rule(
            "loitering",
            &area,
            RuleKindPlan::Loitering(loitering::Plan {
                loiter_secs: Duration::from_secs(10),
                leave_secs: Duration::from_secs(3),
            }),
            always.clone(),
        ),
        rule(
            "crowd",
            &area,
            RuleKindPlan::Crowd(crowd::Plan { min_count: 5 }),
            always,
        ),
    ];
    let labels = Arc::new(LabelMap::new(BTreeMap::from([(1, "person".to_string())])));
    RuleEngine::new(&rules, labels).with_time_zone(jiff::tz::TimeZone::UTC)
}

fn benches(c: &mut Criterion) {
    for n in [10, 100] {
        let frames = scene(n);
        let mut tracker = Tracker::new(TrackPlan::default());
        let mut rules = engine();
        let mut events = Vec::new();
        let mut frame = 0u64;
        c.bench_function(&format!("tracker + 4 rules, {n} objects, per frame"), |b| {
            b.iter(|| {
                let pts = Duration::from_millis(frame * 1000 / FPS);
                let detections = &frames[frame as usize % FRAMES];
                let tracks = tracker.update(black_box(detections), pts);
                rules.step(tracks, pts, SystemTime::UNIX_EPOCH + pts, &mut events);
                events.clear();
                frame += 1;
            })
        });
    }
    // A textured 300×300 RGB frame (the SSD input the tracker reads looks from).
    let layout = FrameLayout {
        width: 300,
        height: 300,
        stride: 900,
    };
    let data: Vec<u8> = (0..300 * 900).map(|i| ((i * 7919) % 251) as u8).collect();
    let pixels = Pixels {
        data: &data,
        layout,
        geometry: Geometry::STRETCH,
    };
    for n in [10, 100] {
        let frames = scene(n);
        for appearance in [false, true] {
            let mut tracker = Tracker::new(TrackPlan {
                appearance,
                ..TrackPlan::default()
            });
            let mut frame = 0u64;
            let cue = if appearance { "on" } else { "off" };
            c.bench_function(
                &format!("tracker with pixels, appearance {cue}, {n} objects, per frame"),
                |b| {
                    b.iter(|| {
                        let pts = Duration::from_millis(frame * 1000 / FPS);
                        let detections = &frames[frame as usize % FRAMES];
                        black_box(tracker.update_seeing(black_box(detections), Some(&pixels), pts));
                        frame += 1;
                    })
                },
            );
        }
    }
}

criterion_group! {
    name = rules;
    config = Criterion::default().sample_size(50);
    targets = benches
}
criterion_main!(rules);
