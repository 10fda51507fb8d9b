#!/usr/bin/env python3
"""Writes the raw frames of a second walkway scene derived from
media/vtest.avi to stdout, for GStreamer to encode (scripts/setup pipes
them into rawvideoparse ! x264enc ! mp4mux).

The picture is mirrored left to right, cropped to its middle (x 5–95%,
y 10–90% of the mirrored frame) and scaled to 640x428, and the frames are
played at 15 fps instead of 10: people walk the other way across a picture
of another size, half as fast again, so a camera sampling it at 10 fps
sees every frame but one in three. The label files for it
(tests/truth/mirror_*.toml) hold vtest.avi's hand labels carried through
the same transform (see tests/truth/README.md).

Usage: mirror_clip.py VTEST > frames.rgb   (640x428 RGB, 15 fps, 795 frames; deterministic)
"""

import sys

import cv2

WIDTH, HEIGHT = 640, 428
CROP = (0.05, 0.10, 0.95, 0.90)  # x0, y0, x1, y1 of the mirrored frame


def main():
    cap = cv2.VideoCapture(sys.argv[1])
    out = sys.stdout.buffer
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = CROP
        mirrored = cv2.flip(frame, 1)
        cut = mirrored[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)]
        scaled = cv2.resize(cut, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
        out.write(cv2.cvtColor(scaled, cv2.COLOR_BGR2RGB).tobytes())


if __name__ == "__main__":
    main()
