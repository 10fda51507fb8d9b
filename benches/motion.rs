//! Motion-trajectory analysis cost per frame in a façade zone
//! (`thrown_object`): a 1280×720 grayscale frame with a textured façade
//! covering 90 % × 85 % of it, an object falling down it and a few pixels of
//! noise. Each iteration is one frame through `thrown_object::State::analyse`
//! (background update, blobs, blob paths, parabola fits), as `step_motion`
//! runs it at the camera's full rate. Run with `cargo bench --bench motion`;
//! the median goes to docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use watchpost::rules::blobs::{GrayFrame, MotionParams};
use watchpost::rules::geometry::Polygon;
use watchpost::rules::thrown_object::{Plan, State};
use watchpost::rules::zone::{Shape, Zone};

const W: usize = 1280;
const H: usize = 720;
const FRAMES: usize = 50;

/// FRAMES frames of a façade with an object falling down it.
fn clip() -> Vec<Vec<u8>> {
    (0..FRAMES)
        .map(|f| {
            let mut buf: Vec<u8> = (0..W * H)
                .map(|i| {
                    let (x, y) = (i % W, i / W);
                    let window = (x % 120) > 30 && (x % 120) < 90 && (y % 180) > 40 && (y % 180) < 130;
                    if window {
                        30
                    } else {
                        90 + ((x * 7 + y * 13 + f * 3) % 5) as u8
                    }
                })
                .collect();
            let t = f as f64 / 25.0;
            let (cx, cy) = (400.0 + 60.0 * t, 40.0 + 0.5 * 700.0 * t * t);
            for y in (cy as usize)..(cy as usize + 8).min(H) {
                for x in (cx as usize)..(cx as usize + 8) {
                    buf[y * W + x] = 230;
                }
            }
            buf
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let plan = Plan {
        analysis_fps: 25.0,
        min_accel: 0.2,
        max_accel: 4.0,
        motion: MotionParams {
            diff_threshold: 25,
            min_blob_px: 4,
            max_blob_px: 600,
            max_blobs: 12,
            max_missed: 2,
        },
        min_points: 6,
        min_drop: 0.1,
    };
    let zone = Zone {
        name: "facade".into(),
        shape: Shape::Polygon(Polygon::new(&[[0.05, 0.0], [0.95, 0.0], [0.95, 0.85], [0.05, 0.85]]).unwrap()),
    };
    let frames = clip();
    let mut state = State::new(&plan);
    let mut out = Vec::new();
    let mut i = 0u64;
    c.bench_function("thrown_object analyse, 1280x720 facade zone", |b| {
        b.iter(|| {
            let data = &frames[i as usize % FRAMES];
            let frame = GrayFrame {
                width: W as u32,
                height: H as u32,
                stride: W,
                data,
                pts: Duration::from_millis(40 * i),
            };
            i += 1;
            out.clear();
            black_box(state.analyse(&plan, &zone, &frame, &mut out));
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
