//! The tracker's cut check per analysed frame: a model-input frame (300×300
//! packed RGB, the SSD's input; and 640×640, a YOLO input, for comparison)
//! read into a 16×12 brightness grid and correlated with the previous
//! frame's, as `Tracker::update_seeing` runs it on every analysed frame.
//! Two frames alternate, so every iteration compares two different
//! pictures. Run with `cargo bench --bench cut`; the median goes to
//! docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use watchpost::track::{CutWatch, Pixels};
use watchpost::vocab::{FrameLayout, Geometry};

/// A street-like frame of `side`×`side` pixels, shifted by `shift`.
fn frame(side: usize, shift: usize) -> Vec<u8> {
    (0..side * side * 3)
        .map(|i| {
            let (x, y) = ((i / 3) % side, i / 3 / side);
            (((x + shift) * 7 + y * 3) % 251) as u8
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    for side in [300usize, 640] {
        let frames = [frame(side, 0), frame(side, 5)];
        let layout = FrameLayout {
            width: side,
            height: side,
            stride: side * 3,
        };
        let mut watch = CutWatch::default();
        let mut i = 0usize;
        c.bench_function(&format!("cut check, {side}x{side} input"), |b| {
            b.iter(|| {
                i += 1;
                let px = Pixels {
                    data: &frames[i % 2],
                    layout,
                    geometry: Geometry::STRETCH,
                };
                black_box(watch.cut(&px))
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
