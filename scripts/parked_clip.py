#!/usr/bin/env python3
"""Writes the raw frames of a derived fire-lane clip to stdout, for GStreamer
to encode (scripts/setup pipes them into rawvideoparse ! x264enc ! mp4mux).

The scene is media/vtest.avi's walkway with the people taken out (the
median of every 20th frame), scaled to 640x360. The white van parked at
the top right of vtest.avi is cut from that picture, enlarged 3 times and
driven onto the walkway, which stands for a fire lane:

- 0–10 s: the empty walkway;
- 10–16 s: the van drives in from the right edge and stops at the middle;
- 16–256 s: it stays parked there, four minutes, still;
- 256–262 s: it drives off to the left edge;
- 262–272 s: the empty walkway again.

Usage: parked_clip.py VTEST > frames.rgb   (640x360 RGB, 5 fps, 272 s; deterministic)
"""

import sys

import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 640, 360, 5
ARRIVE, PARKED, LEAVE, END = 10.0, 16.0, 256.0, 272.0
DRIVE = 6.0  # seconds to drive in or out
SCALE = 3.0
VAN = (648, 38, 730, 104)  # x0, y0, x1, y1 in vtest.avi's 768x576 picture
PARK_X, BOTTOM = 320, 300  # the parked van's centre and bottom, in pixels


def background(path):
    cap = cv2.VideoCapture(path)
    frames, i = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % 20 == 0:
            frames.append(frame)
        i += 1
    if not frames:
        sys.exit(f"cannot read {path}")
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    scene = background(sys.argv[1])
    x0, y0, x1, y1 = VAN
    van = scene[y0:y1, x0:x1]
    w = int(round((x1 - x0) * WIDTH / scene.shape[1] * SCALE))
    h = int(round((y1 - y0) * HEIGHT / scene.shape[0] * SCALE))
    van = cv2.resize(van, (w, h), interpolation=cv2.INTER_CUBIC)
    base = cv2.resize(scene, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    base = cv2.cvtColor(base, cv2.COLOR_BGR2RGB)
    van = cv2.cvtColor(van, cv2.COLOR_BGR2RGB)
    out = sys.stdout.buffer
    for n in range(int(END * FPS)):
        t = n / FPS
        frame = base.copy()
        if ARRIVE <= t < PARKED:
            cx = WIDTH + w / 2 + (PARK_X - WIDTH - w / 2) * (t - ARRIVE) / DRIVE
        elif PARKED <= t < LEAVE:
            cx = PARK_X
        elif LEAVE <= t < LEAVE + DRIVE:
            cx = PARK_X + (-w / 2 - PARK_X) * (t - LEAVE) / DRIVE
        else:
            cx = None
        if cx is not None:
            left = int(round(cx - w / 2))
            a, b = max(left, 0), min(left + w, WIDTH)
            if a < b:
                frame[BOTTOM - h : BOTTOM, a:b] = van[:, a - left : b - left]
        out.write(frame.tobytes())


if __name__ == "__main__":
    main()
