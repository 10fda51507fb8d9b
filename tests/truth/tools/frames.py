"""Contact sheets of frames, for checking a label by eye.

Draws the given lines (x0,y0,x1,y1 as fractions) on frames FROM..TO (every
STEP) of VIDEO, each frame cropped to the box CX0,CY0,CX1,CY1 and labelled
with its index, and tiles them into one picture.

    python frames.py VIDEO FROM TO STEP OUT.png --crop 0.3,0.1,0.7,0.7 --line 0.45,0.30,0.45,0.62
"""
import argparse

import cv2
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("video")
p.add_argument("frm", type=int)
p.add_argument("to", type=int)
p.add_argument("step", type=int)
p.add_argument("out")
p.add_argument("--crop", default="0,0,1,1")
p.add_argument("--line", action="append", default=[])
p.add_argument("--cols", type=int, default=4)
a = p.parse_args()
cx0, cy0, cx1, cy1 = map(float, a.crop.split(","))
cap = cv2.VideoCapture(a.video)
tiles = []
i = 0
while True:
    ok, f = cap.read()
    if not ok or i > a.to:
        break
    if i >= a.frm and (i - a.frm) % a.step == 0:
        h, w = f.shape[:2]
        for ln in a.line:
            x0, y0, x1, y1 = map(float, ln.split(","))
            cv2.line(f, (int(x0 * w), int(y0 * h)), (int(x1 * w), int(y1 * h)), (0, 255, 255), 1)
        t = f[int(cy0 * h) : int(cy1 * h), int(cx0 * w) : int(cx1 * w)].copy()
        cv2.putText(t, str(i), (3, 14), 0, 0.5, (0, 0, 255), 2)
        tiles.append(t)
    i += 1
while len(tiles) % a.cols:
    tiles.append(np.zeros_like(tiles[0]))
rows = [np.hstack(tiles[r : r + a.cols]) for r in range(0, len(tiles), a.cols)]
cv2.imwrite(a.out, np.vstack(rows))
