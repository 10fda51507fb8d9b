//! Motion analysis for kinds that watch pixels rather than detections
//! (`thrown_object`): frame differencing against a running background on a
//! grayscale copy of the frame, inside one zone's bounding box only, then
//! connected blobs, a small nearest-neighbour blob tracker, and a
//! least-squares fit of each blob's path.
//!
//! It runs at the camera's full frame rate, so its hot path allocates
//! nothing: every buffer is sized when the frame size changes and reused.
//! It never keeps or passes on pixels: only blob positions leave it.

use std::time::Duration;

use super::geometry::{Point, Polygon};

/// A grayscale frame (GRAY8, or the Y plane of I420/NV12) lent for one call.
#[derive(Debug, Clone, Copy)]
pub struct GrayFrame<'a> {
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: usize,
    pub data: &'a [u8],
    /// Stream time of the frame.
    pub pts: Duration,
}

/// Settings of the motion analysis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotionParams {
    /// Least change of a pixel's brightness against the background to count as motion.
    pub diff_threshold: u8,
    /// Blobs smaller than this (pixels) are noise.
    pub min_blob_px: u32,
    /// Blobs larger than this are not small objects (people, lit windows).
    pub max_blob_px: u32,
    /// More moving blobs than this at once: rain, snow or a shaking camera; the frame is skipped.
    pub max_blobs: usize,
    /// A blob unseen for more analysed frames than this ends its path.
    pub max_missed: u32,
}

/// One blob in one frame, in pixels of the frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Blob {
    pub x: f32,
    pub y: f32,
    pub area: u32,
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

/// One point of a blob's path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PathPoint {
    pub secs: f64,
    pub blob: Blob,
}

/// Longest path kept per blob; a throw across a façade takes a second or two.
pub const MAX_POINTS: usize = 128;
/// Most blob paths followed at once.
pub const MAX_PATHS: usize = 16;

/// A followed blob.
#[derive(Debug)]
pub struct BlobPath {
    pub id: u64,
    pub points: Vec<PathPoint>,
    pub missed: u32,
    active: bool,
    /// Set by the caller once the path has been judged (and raised).
    pub flagged: bool,
}

impl BlobPath {
    pub fn last(&self) -> Option<&PathPoint> {
        self.points.last()
    }

    fn predict(&self, secs: f64) -> Option<(f32, f32)> {
        let n = self.points.len();
        let last = self.points.last()?;
        if n < 2 {
            return Some((last.blob.x, last.blob.y));
        }
        let prev = &self.points[n - 2];
        let dt = (last.secs - prev.secs).max(1e-6);
        let f = ((secs - last.secs) / dt) as f32;
        Some((
            last.blob.x + f * (last.blob.x - prev.blob.x),
            last.blob.y + f * (last.blob.y - prev.blob.y),
        ))
    }
}

/// A polynomial fit of a path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// y(t) = a t² + b t + c, pixels and seconds from the first point.
    pub a: f64,
    pub b: f64,
    pub c: f64,
    /// Root mean square distance of the points from the fitted y(t), pixels.
    pub y_rms: f64,
    /// The same for x(t) fitted with a straight line.
    pub x_rms: f64,
}

/// Least-squares y(t) = a t² + b t + c and x(t) = p t + q over the points.
pub fn fit(points: &[PathPoint]) -> Option<Fit> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let t0 = points[0].secs;
    // sums of t^k and t^k·y
    let (mut s, mut sy, mut sx) = ([0.0f64; 5], [0.0f64; 3], [0.0f64; 2]);
    for p in points {
        let t = p.secs - t0;
        let mut tk = 1.0;
        for k in &mut s {
            *k += tk;
            tk *= t;
        }
        let (x, y) = (f64::from(p.blob.x), f64::from(p.blob.y));
        sy[0] += y;
        sy[1] += t * y;
        sy[2] += t * t * y;
        sx[0] += x;
        sx[1] += t * x;
    }
    // normal equations for (c, b, a), solved by Cramer's rule
    let m = [[s[0], s[1], s[2]], [s[1], s[2], s[3]], [s[2], s[3], s[4]]];
    let det3 = |m: &[[f64; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det3(&m);
    if d.abs() < 1e-12 {
        return None;
    }
    let with = |col: usize| {
        let mut r = m;
        for (row, v) in r.iter_mut().zip(sy) {
            row[col] = v;
        }
        det3(&r) / d
    };
    let (c, b, a) = (with(0), with(1), with(2));
    let dx = s[0] * s[2] - s[1] * s[1];
    if dx.abs() < 1e-12 {
        return None;
    }
    let p = (s[0] * sx[1] - s[1] * sx[0]) / dx;
    let q = (sx[0] - p * s[1]) / s[0];
    let (mut ey, mut ex) = (0.0, 0.0);
    for pt in points {
        let t = pt.secs - t0;
        ey += (f64::from(pt.blob.y) - (a * t * t + b * t + c)).powi(2);
        ex += (f64::from(pt.blob.x) - (p * t + q)).powi(2);
    }
    Some(Fit {
        a,
        b,
        c,
        y_rms: (ey / n as f64).sqrt(),
        x_rms: (ex / n as f64).sqrt(),
    })
}

/// Background, blobs and paths of one zone.
#[derive(Debug)]
pub struct MotionAnalyser {
    params: MotionParams,
    polygon: Polygon,
    frame: (u32, u32),
    /// The zone's bounding box in pixels: x, y, width, height.
    roi: (u32, u32, u32, u32),
    /// Per ROI pixel: inside the polygon.
    inside: Vec<bool>,
    /// Per ROI pixel: the background brightness ×16.
    background: Vec<u16>,
    /// Per ROI pixel: 1 moving, 2 moving and already in a blob, 0 still.
    moving: Vec<u8>,
    stack: Vec<u32>,
    blobs: Vec<Blob>,
    paths: Vec<BlobPath>,
    next_id: u64,
    warm: bool,
    /// Blobs in the last analysed frame (including those too small or large to follow).
    pub last_blob_count: usize,
}

impl MotionAnalyser {
    pub fn new(params: MotionParams, polygon: Polygon) -> Self {
        Self {
            params,
            polygon,
            frame: (0, 0),
            roi: (0, 0, 0, 0),
            inside: Vec::new(),
            background: Vec::new(),
            moving: Vec::new(),
            stack: Vec::new(),
            blobs: Vec::with_capacity(64),
            paths: (0..MAX_PATHS)
                .map(|_| BlobPath {
                    id: 0,
                    points: Vec::with_capacity(MAX_POINTS),
                    missed: 0,
                    active: false,
                    flagged: false,
                })
                .collect(),
            next_id: 1,
            warm: false,
            last_blob_count: 0,
        }
    }

    /// The frame size the analysis is set up for.
    pub fn frame_size(&self) -> (u32, u32) {
        self.frame
    }

    /// The blob paths being followed.
    pub fn paths(&self) -> impl Iterator<Item = &BlobPath> {
        self.paths.iter().filter(|p| p.active)
    }

    pub fn paths_mut(&mut self) -> impl Iterator<Item = &mut BlobPath> {
        self.paths.iter_mut().filter(|p| p.active)
    }

    /// Sizes the buffers for a frame size (only when it changes).
    fn set_up(&mut self, width: u32, height: u32) {
        self.frame = (width, height);
        let pts = self.polygon.points();
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in pts {
            x0 = x0.min(p.x);
            y0 = y0.min(p.y);
            x1 = x1.max(p.x);
            y1 = y1.max(p.y);
        }
        let px = |v: f32, size: u32| ((v.clamp(0.0, 1.0) * size as f32) as u32).min(size);
        let (rx0, ry0) = (px(x0, width), px(y0, height));
        let (rx1, ry1) = (px(x1, width), px(y1, height));
        let (rw, rh) = (rx1.saturating_sub(rx0), ry1.saturating_sub(ry0));
        self.roi = (rx0, ry0, rw, rh);
        let n = rw as usize * rh as usize;
        self.inside.clear();
        self.inside.extend((0..n).map(|i| {
            let (x, y) = ((i % rw as usize) as u32 + rx0, (i / rw as usize) as u32 + ry0);
            self.polygon.contains(Point {
                x: (x as f32 + 0.5) / width as f32,
                y: (y as f32 + 0.5) / height as f32,
            })
        }));
        self.background.clear();
        self.background.resize(n, 0);
        self.moving.clear();
        self.moving.resize(n, 0);
        self.stack.clear();
        self.stack.reserve(n.min(1 << 16));
        for p in &mut self.paths {
            p.active = false;
        }
        self.warm = false;
    }

    /// Analyses one frame: updates the background, finds the blobs and
    /// extends the paths. Returns false when the frame was unusable (wrong
    /// size for its buffer, or too busy: rain, snow, a shaking camera).
    pub fn analyse(&mut self, frame: &GrayFrame<'_>) -> bool {
        let (w, h) = (frame.width, frame.height);
        if w == 0
            || h == 0
            || frame.stride < w as usize
            || frame.data.len() < frame.stride * (h as usize - 1) + w as usize
        {
            return false;
        }
        if self.frame != (w, h) {
            self.set_up(w, h);
        }
        let (rx, ry, rw, rh) = self.roi;
        let thr = i32::from(self.params.diff_threshold) * 16;
        for y in 0..rh as usize {
            let row = (ry as usize + y) * frame.stride + rx as usize;
            let src = &frame.data[row..row + rw as usize];
            let base = y * rw as usize;
            let bg = &mut self.background[base..base + rw as usize];
            let mv = &mut self.moving[base..base + rw as usize];
            let ins = &self.inside[base..base + rw as usize];
            for (((s, b), m), i) in src.iter().zip(bg.iter_mut()).zip(mv.iter_mut()).zip(ins) {
                let cur = i32::from(*s) * 16;
                let old = i32::from(*b);
                if !self.warm {
                    *b = cur as u16;
                    *m = 0;
                    continue;
                }
                let diff = cur - old;
                let moving = *i && diff.abs() > thr;
                *m = u8::from(moving);
                // still pixels follow the scene quickly, moving ones slowly
                // (a light switched on is absorbed in a few seconds)
                let shift = if moving { 6 } else { 3 };
                *b = (old + (diff >> shift)) as u16;
            }
        }
        let secs = frame.pts.as_secs_f64();
        if !self.warm {
            self.warm = true;
            return true;
        }
        self.find_blobs();
        if self.last_blob_count > self.params.max_blobs {
            // rain or snow: nothing in this frame can be trusted, and paths
            // through it would join streaks
            for p in &mut self.paths {
                p.active = false;
            }
            return false;
        }
        self.follow(secs);
        true
    }

    fn find_blobs(&mut self) {
        let (rx, ry, rw, rh) = self.roi;
        let (rw, rh) = (rw as usize, rh as usize);
        self.blobs.clear();
        let mut count = 0;
        for start in 0..self.moving.len() {
            if self.moving[start] != 1 {
                continue;
            }
            self.moving[start] = 2;
            self.stack.clear();
            self.stack.push(start as u32);
            let mut b = Blob {
                x0: u32::MAX,
                y0: u32::MAX,
                ..Blob::default()
            };
            let (mut sx, mut sy) = (0u64, 0u64);
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                let (x, y) = (i % rw, i / rw);
                b.area += 1;
                sx += x as u64;
                sy += y as u64;
                b.x0 = b.x0.min(x as u32);
                b.y0 = b.y0.min(y as u32);
                b.x1 = b.x1.max(x as u32);
                b.y1 = b.y1.max(y as u32);
                let visit = |j: usize, m: &mut Vec<u8>, s: &mut Vec<u32>| {
                    if m[j] == 1 {
                        m[j] = 2;
                        s.push(j as u32);
                    }
                };
                if x > 0 {
                    visit(i - 1, &mut self.moving, &mut self.stack);
                }
                if x + 1 < rw {
                    visit(i + 1, &mut self.moving, &mut self.stack);
                }
                if y > 0 {
                    visit(i - rw, &mut self.moving, &mut self.stack);
                }
                if y + 1 < rh {
                    visit(i + rw, &mut self.moving, &mut self.stack);
                }
            }
            if b.area < 2 {
                continue; // single-pixel sensor noise
            }
            count += 1;
            if b.area < self.params.min_blob_px || b.area > self.params.max_blob_px || self.blobs.len() == 64 {
                continue;
            }
            b.x = (sx as f32 / b.area as f32) + rx as f32;
            b.y = (sy as f32 / b.area as f32) + ry as f32;
            b.x0 += rx;
            b.x1 += rx;
            b.y0 += ry;
            b.y1 += ry;
            self.blobs.push(b);
        }
        self.last_blob_count = count;
    }

    /// Nearest-neighbour association of this frame's blobs to the paths.
    fn follow(&mut self, secs: f64) {
        let gate = (self.frame.1 as f32 * 0.08).max(6.0);
        for p in &mut self.paths {
            if p.active {
                p.missed += 1;
            }
        }
        for b in &self.blobs {
            let mut best: Option<(usize, f32)> = None;
            for (k, p) in self.paths.iter().enumerate() {
                // missed was just raised: 1 means seen in the previous frame
                if !p.active || p.missed == 0 {
                    continue;
                }
                let Some((px, py)) = p.predict(secs) else {
                    continue;
                };
                let d = ((b.x - px).powi(2) + (b.y - py).powi(2)).sqrt();
                if d <= gate && best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((k, d));
                }
            }
            let point = PathPoint { secs, blob: *b };
            match best {
                Some((k, _)) => {
                    let p = &mut self.paths[k];
                    p.missed = 0;
                    if p.points.len() == MAX_POINTS {
                        p.points.remove(0);
                    }
                    p.points.push(point);
                }
                None => {
                    if let Some(p) = self.paths.iter_mut().find(|p| !p.active) {
                        p.active = true;
                        p.id = self.next_id;
                        self.next_id += 1;
                        p.points.clear();
                        p.points.push(point);
                        p.missed = 0;
                        p.flagged = false;
                    }
                }
            }
        }
        let max_missed = self.params.max_missed;
        for p in &mut self.paths {
            if p.active && p.missed > max_missed {
                p.active = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parabola_is_fitted_exactly_and_a_line_has_no_curvature() {
        let pts: Vec<PathPoint> = (0..10)
            .map(|i| {
                let t = i as f64 * 0.04;
                PathPoint {
                    secs: 3.0 + t,
                    blob: Blob {
                        x: (10.0 + 50.0 * t) as f32,
                        y: (20.0 + 30.0 * t + 150.0 * t * t) as f32,
                        area: 9,
                        ..Blob::default()
                    },
                }
            })
            .collect();
        let f = fit(&pts).unwrap();
        assert!((f.a - 150.0).abs() < 0.5, "{f:?}");
        assert!((f.b - 30.0).abs() < 0.5, "{f:?}");
        assert!(f.y_rms < 0.01 && f.x_rms < 0.01, "{f:?}");
        let line: Vec<PathPoint> = pts
            .iter()
            .map(|p| PathPoint {
                blob: Blob {
                    y: (20.0 + 80.0 * (p.secs - 3.0)) as f32,
                    ..p.blob
                },
                ..*p
            })
            .collect();
        assert!(fit(&line).unwrap().a.abs() < 0.5);
    }

    /// An analyser of `polygon` with small-object settings.
    fn analyser(polygon: Polygon) -> MotionAnalyser {
        let params = MotionParams {
            diff_threshold: 25,
            min_blob_px: 4,
            max_blob_px: 400,
            max_blobs: 10,
            max_missed: 2,
        };
        MotionAnalyser::new(params, polygon)
    }

    #[test]
    fn a_moving_square_is_one_blob_followed_along_its_path() {
        let polygon = Polygon::new(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]).unwrap();
        let mut m = analyser(polygon);
        let (w, h) = (80u32, 60u32);
        let mut buf = vec![40u8; (w * h) as usize];
        for f in 0..8u32 {
            buf.fill(40);
            let (x, y) = (5 + 5 * f, 20);
            // the first frame is the background: the square shows from the second
            for yy in (y..y + 3).filter(|_| f > 0) {
                for xx in x..x + 3 {
                    buf[(yy * w + xx) as usize] = 220;
                }
            }
            let frame = GrayFrame {
                width: w,
                height: h,
                stride: w as usize,
                data: &buf,
                pts: Duration::from_millis(40 * u64::from(f)),
            };
            assert!(m.analyse(&frame));
        }
        let paths: Vec<&BlobPath> = m.paths().collect();
        assert_eq!(paths.len(), 1, "{paths:?}");
        assert_eq!(paths[0].points.len(), 7, "every frame but the first (the background)");
        assert_eq!(paths[0].last().unwrap().blob.x, 41.0, "the centre of the last square");
    }

    #[test]
    fn a_short_or_wrong_buffer_is_refused_not_a_panic() {
        let polygon = Polygon::new(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]).unwrap();
        let mut m = analyser(polygon);
        let buf = [0u8; 10];
        let frame = GrayFrame {
            width: 80,
            height: 60,
            stride: 80,
            data: &buf,
            pts: Duration::ZERO,
        };
        assert!(!m.analyse(&frame));
    }
}
