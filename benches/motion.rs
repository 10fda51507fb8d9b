//! Motion-trajectory analysis cost per frame in a façade zone
//! (`thrown_object`): a grayscale frame — 640×360, the size the camera's
//! motion branch delivers from a 16:9 camera, and 1280×720 for comparison —
//! with a textured façade covering 90 % × 85 % of it, an object falling down it and a few pixels of
//! noise. Each iteration is one frame through `thrown_object::State::analyse`
//! (background update, blobs, blob paths, parabola fits), as `step_motion`
//! runs it at the camera's full rate. Run with `cargo bench --bench motion`;
//! the median goes to docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use watchpost::rules::RuleState;
use watchpost::rules::blobs::GrayFrame;
use watchpost::rules::geometry::Polygon;
use watchpost::rules::kinds::thrown_object::{Plan, State};
use watchpost::rules::zone::{Shape, Zone};

const FRAMES: usize = 50;

/// FRAMES frames W×H of a façade with an object falling down it.
fn clip(w: usize, h: usize) -> Vec<Vec<u8>> {
    let (sx, sy) = (w as f64 / 1280.0, h as f64 / 720.0);
    (0..FRAMES)
        .map(|f| {
            let mut buf: Vec<u8> = (0..w * h)
                .map(|i| {
                    let (x, y) = (i % w, i / w);
                    let window = (x % 120) > 30 && (x % 120) < 90 && (y % 180) > 40 && (y % 180) < 130;
                    if window {
                        30
                    } else {
                        90 + ((x * 7 + y * 13 + f * 3) % 5) as u8
                    }
                })
                .collect();
            let t = f as f64 / 25.0;
            let (cx, cy) = ((400.0 + 60.0 * t) * sx, (40.0 + 0.5 * 700.0 * t * t) * sy);
            let side = (8.0 * sx).round() as usize;
            for y in (cy as usize)..(cy as usize + side).min(h) {
                for x in (cx as usize)..(cx as usize + side) {
                    buf[y * w + x] = 230;
                }
            }
            buf
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    // the defaults: 25 frames a second, blobs of 4 to 600 pixels
    let plan = Plan::default();
    let zone = Zone {
        name: "facade".into(),
        shape: Shape::Polygon(Polygon::new(&[[0.05, 0.0], [0.95, 0.0], [0.95, 0.85], [0.05, 0.85]]).unwrap()),
    };
    for (w, h) in [(640usize, 360usize), (1280, 720)] {
        let frames = clip(w, h);
        let mut state = State::new(&plan);
        let mut out = Vec::new();
        let mut i = 0u64;
        c.bench_function(&format!("thrown_object analyse, {w}x{h} facade zone"), |b| {
            b.iter(|| {
                let data = &frames[i as usize % FRAMES];
                let frame = GrayFrame {
                    width: w as u32,
                    height: h as u32,
                    stride: w,
                    data,
                    pts: Duration::from_millis(40 * i),
                };
                i += 1;
                out.clear();
                black_box(state.analyse(&plan, &zone, &frame, &mut out));
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
