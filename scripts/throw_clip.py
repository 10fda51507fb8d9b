#!/usr/bin/env python3
"""Writes the raw frames of a synthetic façade clip to stdout, for GStreamer
to encode (scripts/setup pipes them into rawvideoparse ! x264enc ! mp4mux).

The façade is scikit-image's brick wall (media/brick.png, decoded by
GStreamer to 512x512 GRAY8 bytes beforehand), tiled to the frame, with a little sensor noise on every frame. A small dark object is
composited onto it:

- ``parabola``: dropped from a balcony at 1.0 s, it falls under gravity
  (1 frame height per s^2, a façade about 10 m tall) while drifting
  sideways, and leaves the picture at the bottom after about 1.3 s;
- ``sideways``: the same object moves across the wall at a constant speed
  and height, from 1.0 s to 3.0 s: no drop, no acceleration.

Usage: throw_clip.py parabola|sideways BRICK_GRAY8 > frames.rgb
(640x360 RGB, 25 fps, 6 s; deterministic).
"""

import sys

import numpy as np

WIDTH, HEIGHT, FPS, SECS = 640, 360, 25, 6.0
SIZE = 6  # the object's side, pixels
GRAVITY = 1.0  # frame heights per s^2
BRICK = 512  # side of the brick wall picture


def facade(brick):
    tiled = np.tile(brick, (HEIGHT // brick.shape[0] + 1, WIDTH // brick.shape[1] + 1))
    gray = tiled[:HEIGHT, :WIDTH].astype(np.float32)
    # a warm render of the wall, kept in mid-tones so a dark object shows
    rgb = np.stack([gray * 0.55 + 90, gray * 0.45 + 70, gray * 0.35 + 60], axis=-1)
    return rgb


def position(kind, t):
    """The object's centre in pixels at t seconds, or None when not in sight."""
    if kind == "parabola":
        if t < 1.0:
            return None
        dt = t - 1.0
        x = 0.35 * WIDTH + 0.05 * WIDTH * dt
        y = 0.06 * HEIGHT + 0.5 * GRAVITY * HEIGHT * dt * dt
        return (x, y) if y < HEIGHT - SIZE else None
    if 1.0 <= t <= 3.0:
        return (0.1 * WIDTH + 0.4 * WIDTH * (t - 1.0), 0.3 * HEIGHT)
    return None


def main():
    kind, brick_raw = sys.argv[1], sys.argv[2]
    assert kind in ("parabola", "sideways")
    wall = facade(np.fromfile(brick_raw, np.uint8).reshape(BRICK, BRICK))
    rng = np.random.default_rng(7)
    out = sys.stdout.buffer
    for n in range(int(SECS * FPS)):
        frame = wall + rng.normal(0.0, 1.5, wall.shape)
        at = position(kind, n / FPS)
        if at is not None:
            x, y = int(round(at[0] - SIZE / 2)), int(round(at[1] - SIZE / 2))
            frame[y : y + SIZE, x : x + SIZE] = (20, 20, 25)
        out.write(np.clip(frame, 0, 255).astype(np.uint8).tobytes())


if __name__ == "__main__":
    main()
