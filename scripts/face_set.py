#!/usr/bin/env python3
"""Builds the face test set of the privacy checks from tests/privacy/faces.toml.

    face_set.py build MANIFEST SRC OUT

SRC holds the files that scripts/setup took from registry packages (the
manifest's [sources] name each one's package, version and path). Every
[[pictures]] entry becomes OUT/<name>.png: a still picture, or a frame of a
clip. Every [[derived]] entry is made from pictures above it by one plain
operation (`dim`, `rotate`, `crop` or a `mosaic` of several), and its faces
are the hand-checked boxes of its pictures carried through that operation.
OUT/labels.json lists every picture with its categories and face boxes, in
its own pixels, for tests/suite/privacy.rs and tests/privacy/face_check.py.

Only OpenCV and numpy (the .venv of scripts/setup) are used.
"""
import json
import math
import os
import sys
import tomllib

import cv2
import numpy as np

# Faces smaller than this (pixels high) after an operation are kept as
# `tiny`: hidden if found, but not counted among the labelled faces.
MIN_FACE = 12


def read_source(src, source, frame):
    path = os.path.join(src, source["file"])
    if frame is None:
        image = cv2.imread(path, cv2.IMREAD_COLOR)
    else:
        clip = cv2.VideoCapture(path)
        image = None
        for _ in range(frame + 1):
            ok, image = clip.read()
            if not ok:
                image = None
                break
    if image is None:
        sys.exit(f"cannot read {path} (frame {frame})")
    return image


def dim(image, faces, factor):
    out = np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)
    return out, faces


def rotate(image, faces, degrees):
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    moved = []
    for x1, y1, x2, y2 in faces:
        # the rotated face's box: its corners pulled in by a quarter, as a
        # rotated square face does not fill the corners of its bounding box
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        corners = np.array([[x1, y1, 1], [x2, y1, 1], [x1, y2, 1], [x2, y2, 1]], np.float64) @ m.T
        nx, ny = m @ np.array([cx, cy, 1.0])
        hw = (corners[:, 0].max() - corners[:, 0].min()) / 2 * 0.85
        hh = (corners[:, 1].max() - corners[:, 1].min()) / 2 * 0.85
        box = clip([nx - hw, ny - hh, nx + hw, ny + hh], w, h)
        if box and (box[2] - box[0]) * (box[3] - box[1]) >= 0.5 * (x2 - x1) * (y2 - y1):
            moved.append(box)
    return out, moved


def crop(image, faces, box):
    x1, y1, x2, y2 = box
    out = image[y1:y2, x1:x2].copy()
    kept = []
    for f in faces:
        c = clip([f[0] - x1, f[1] - y1, f[2] - x1, f[3] - y1], x2 - x1, y2 - y1)
        # a face the edge cuts is kept while at least 40% of it shows
        if c and (c[2] - c[0]) * (c[3] - c[1]) >= 0.4 * (f[2] - f[0]) * (f[3] - f[1]):
            kept.append(c)
    return out, kept


def mosaic(images, width, height, columns, rows):
    out = np.full((height, width, 3), 40, np.uint8)
    tw, th = width // columns, height // rows
    faces = []
    for i, (image, boxes) in enumerate(images):
        h, w = image.shape[:2]
        s = min(tw / w, th / h)
        nw, nh = max(1, int(w * s)), max(1, int(h * s))
        ox = (i % columns) * tw + (tw - nw) // 2
        oy = (i // columns) * th + (th - nh) // 2
        out[oy:oy + nh, ox:ox + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
        faces += [[ox + b[0] * s, oy + b[1] * s, ox + b[2] * s, oy + b[3] * s] for b in boxes]
    return out, faces


def clip(b, w, h):
    x1, y1, x2, y2 = max(0, b[0]), max(0, b[1]), min(w, b[2]), min(h, b[3])
    return [x1, y1, x2, y2] if x2 > x1 and y2 > y1 else None


def build(manifest_path, src, out):
    manifest = tomllib.load(open(manifest_path, "rb"))
    os.makedirs(out, exist_ok=True)
    made = {}
    labels = []

    def record(name, image, faces, categories, origin):
        faces = [[round(v) for v in f] for f in faces]
        counted = [f for f in faces if f[3] - f[1] >= MIN_FACE]
        tiny = [f for f in faces if f[3] - f[1] < MIN_FACE]
        made[name] = (image, counted + tiny)
        cv2.imwrite(os.path.join(out, name + ".png"), image)
        labels.append({"name": name, "file": name + ".png", "width": image.shape[1], "height": image.shape[0],
                       "categories": categories, "faces": counted, "tiny": tiny, "origin": origin})

    for p in manifest["pictures"]:
        source = manifest["sources"][p["source"]]
        image = read_source(src, source, p.get("frame"))
        record(p["name"], image, p["faces"], p["categories"], p["source"])
    for d in manifest["derived"]:
        if "mosaic" in d:
            image, faces = mosaic([made[n] for n in d["mosaic"]], d["width"], d["height"], d["columns"], d["rows"])
        else:
            image, faces = made[d["from"]]
            if "dim" in d:
                image, faces = dim(image, faces, d["dim"])
            if "rotate" in d:
                image, faces = rotate(image, faces, d["rotate"])
            if "crop" in d:
                image, faces = crop(image, faces, d["crop"])
        record(d["name"], image, faces, d["categories"], "derived")
    json.dump(labels, open(os.path.join(out, "labels.json"), "w"), indent=1)
    faces = sum(len(l["faces"]) for l in labels)
    print(f"{len(labels)} pictures, {faces} labelled faces in {out}")


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "build":
        sys.exit(__doc__)
    build(*sys.argv[2:])
