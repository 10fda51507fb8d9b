#!/usr/bin/env python3
"""Reference CenterFace run with Python onnxruntime, for parity with watchpost.

    centerface_reference.py MODEL INPUT.f32 HEIGHT WIDTH THRESHOLD NMS_IOU

INPUT.f32 is the exact [1, 3, HEIGHT, WIDTH] tensor watchpost built, raw
little-endian float32. Prints a JSON list of [x1, y1, x2, y2, score] with
boxes normalised to the input, best first, after greedy NMS — decoded here
independently with numpy from the model's heatmap, log-size and offset maps
(stride 4), the way CenterFace's authors describe its outputs.
"""
import json
import sys

import numpy as np
import onnxruntime as ort


def main(model, path, height, width, threshold, nms_iou):
    x = np.fromfile(path, dtype="<f4").reshape(1, 3, height, width)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    heat, scale, offset, _ = session.run(["537", "538", "539", "540"], {"input.1": x})
    rows, cols = np.nonzero(heat[0, 0] >= np.float32(threshold))
    h = np.exp(scale[0, 0, rows, cols]) * 4
    w = np.exp(scale[0, 1, rows, cols]) * 4
    x1 = np.clip((cols + offset[0, 1, rows, cols] + 0.5) * 4 - w / 2, 0, width)
    y1 = np.clip((rows + offset[0, 0, rows, cols] + 0.5) * 4 - h / 2, 0, height)
    x2 = np.minimum(x1 + w, width)
    y2 = np.minimum(y1 + h, height)
    found = [
        [float(a / width), float(b / height), float(c / width), float(d / height), float(s)]
        for a, b, c, d, s in zip(x1, y1, x2, y2, heat[0, 0, rows, cols])
    ]
    kept = []
    for f in sorted(found, key=lambda f: -f[4]):
        if all(iou(f, k) <= nms_iou for k in kept):
            kept.append(f)
    print(json.dumps(kept))


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


if __name__ == "__main__":
    a = sys.argv
    main(a[1], a[2], int(a[3]), int(a[4]), float(a[5]), float(a[6]))
