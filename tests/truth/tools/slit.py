"""Slit-scan pictures for labelling line crossings by eye.

For a straight line from (x0, y0) to (x1, y1) (fractions of the frame) this
cuts, from every frame, the pixels along the line shifted by -d and by +d
along its normal, and lays them side by side in time: time runs left to
right (a tick every 10 frames, the index every 50), position along the line
runs down. Only what differs from the median background is drawn, the -d
cut in red and the +d cut in cyan, so a person crossing the line leaves one
figure with a coloured fringe: red on its left (the red cut saw them first)
means they walked from the -d side to the +d side, cyan on the left means
the other way. The -d side is side A of watchpost's line (left of the line
walking from its first point to its last). Each strip is drawn from `above`
before the line's first point, so a person standing on the line is seen
whole, and the segment itself is marked by two yellow rules.

    python slit.py VIDEO X0 Y0 X1 Y1 OUT.png [--d 0.02] [--frm F] [--to F] [--zoom 2]

This only draws pictures. The labels are written by a person looking at them
(and at frames cut with frames.py) into the TOML files beside this folder.
"""
import argparse

import cv2
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("video")
p.add_argument("x0", type=float)
p.add_argument("y0", type=float)
p.add_argument("x1", type=float)
p.add_argument("y1", type=float)
p.add_argument("out")
p.add_argument("--d", type=float, default=0.02)
p.add_argument("--frm", type=int, default=0)
p.add_argument("--to", type=int, default=10**9)
p.add_argument("--zoom", type=int, default=2)
p.add_argument("--above", type=float, default=0.12)
a = p.parse_args()

cap = cv2.VideoCapture(a.video)
frames = []
while True:
    ok, f = cap.read()
    if not ok:
        break
    frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32))
h, w = frames[0].shape
bg = np.median(np.stack(frames[::5]), axis=0)
p0 = np.array([a.x0 * w, a.y0 * h])
p1 = np.array([a.x1 * w, a.y1 * h])
along = (p1 - p0) / np.linalg.norm(p1 - p0)
# side A is to the left walking p0 -> p1; in image coordinates (y down) that
# is the normal (along.y, -along.x)
normal_a = np.array([along[1], -along[0]])
length = np.linalg.norm(p1 - p0)
above = a.above * h
ts = np.arange(-above, length + 1)
span = range(max(0, a.frm), min(len(frames), a.to))
cuts = []
for sign in (+1, -1):  # +1: shifted towards side A (red), -1: towards side B (cyan)
    pts = p0[None, :] + ts[:, None] * along[None, :] + sign * a.d * w * normal_a[None, :]
    xs = np.clip(pts[:, 0], 0, w - 1).astype(np.float32)
    ys = np.clip(pts[:, 1], 0, h - 1).astype(np.float32)
    cols = []
    for i in span:
        diff = np.abs(frames[i] - bg)
        cols.append(cv2.remap(diff, xs[:, None], ys[:, None], cv2.INTER_LINEAR)[:, 0])
    cuts.append(np.clip(np.stack(cols, axis=1) * 3, 0, 255).astype(np.uint8))
img = np.dstack([cuts[1], cuts[1], cuts[0]])  # BGR: red = side A cut, cyan = side B cut
img = cv2.resize(img, (img.shape[1] * a.zoom, img.shape[0] * a.zoom), interpolation=cv2.INTER_NEAREST)
for r in (int(above), int(above + length)):
    img[min(r * a.zoom, img.shape[0] - 1), :] = (0, 200, 200)
bar = np.zeros((16, img.shape[1], 3), np.uint8)
for t in span:
    if t % 10:
        continue
    c = (t - span.start) * a.zoom
    bar[: 12 if t % 50 == 0 else 6, c] = 255
    if t % 50 == 0:
        cv2.putText(bar, str(t), (c + 2, 12), 0, 0.35, (255, 255, 255), 1)
cv2.imwrite(a.out, np.vstack([bar, img, bar]))
