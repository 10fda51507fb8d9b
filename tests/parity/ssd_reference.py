#!/usr/bin/env python3
"""Reference run of a model with Python onnxruntime, for parity with watchpost.

watchpost's parity test dumps the exact input tensors it built from frames that
GStreamer decoded and scaled, as raw little-endian float32 files listed in
DIR/meta.json. This script runs them through Python onnxruntime (which must be
the version scripts/setup pins, the same as the library watchpost loads) and
writes every output next to them as raw float32.

    ssd_reference.py MODEL DIR ORT_VERSION [--golden OUT.json]

When DIR/meta.json has an "nms" entry, it also decodes each frame's outputs
the way the manifest says (score threshold, class offset, corner order,
clamping, per-class greedy NMS) and writes frame-N.detections.json, so the
boxes after NMS can be compared too.

With --golden it also writes a compact record of the outputs (the input's
sha256, every score above 0.3 with its box, a strided sample of each output,
and each output's sum), which is committed as tests/golden/ssd_vtest.json.
"""
import hashlib
import json
import sys

import numpy as np
import onnxruntime as ort


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ssd_detections(scores, boxes, nms):
    """Decode + per-class greedy NMS, float32 like watchpost."""
    scores = scores[0]
    boxes = boxes.reshape(scores.shape[0], 4)
    found = []
    for anchor, column in zip(*np.nonzero(scores >= np.float32(nms["confidence"]))):
        label = int(column) + nms["class_offset"]
        if label not in nms["labels"]:
            continue
        y1, x1, y2, x2 = (np.clip(v, np.float32(0), np.float32(1)) for v in boxes[anchor])
        found.append((label, np.float32(scores[anchor, column]), [x1, y1, x2, y2]))
    kept = []
    for label in sorted({d[0] for d in found}):
        for d in sorted((d for d in found if d[0] == label), key=lambda d: -d[1]):
            if all(iou(d[2], k[2]) <= nms["iou"] for k in kept if k[0] == label):
                kept.append(d)
    kept.sort(key=lambda d: -d[1])
    return [{"label": d[0], "score": float(d[1]), "box": [float(v) for v in d[2]]} for d in kept[:100]]


def main():
    model, folder, version = sys.argv[1:4]
    golden_path = sys.argv[5] if len(sys.argv) > 5 and sys.argv[4] == "--golden" else None
    if ort.__version__ != version:
        sys.exit(f"Python onnxruntime is {ort.__version__}, but watchpost pins {version}: run scripts/setup")
    meta = json.load(open(f"{folder}/meta.json"))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    golden = {"onnxruntime": ort.__version__, "frames": []}
    for frame in meta["frames"]:
        raw = open(f"{folder}/{frame['name']}.input.f32", "rb").read()
        tensor = np.frombuffer(raw, dtype="<f4").reshape(meta["shape"])
        outputs = session.run(names, {meta["input"]: tensor})
        record = {"number": frame["number"], "input_sha256": hashlib.sha256(raw).hexdigest(), "outputs": {}}
        for name, value in zip(names, outputs):
            value = np.ascontiguousarray(value, dtype="<f4")
            value.tofile(f"{folder}/{frame['name']}.{name}.f32")
            flat = value.ravel()
            record["outputs"][name] = {
                "shape": list(value.shape),
                "sum": float(flat.astype(np.float64).sum()),
                "sample_stride": 97,
                "sample": [float(v) for v in flat[::97]],
            }
        if "nms" in meta:
            dets = ssd_detections(outputs[names.index("scores")], outputs[names.index("boxes")], meta["nms"])
            with open(f"{folder}/{frame['name']}.detections.json", "w") as f:
                json.dump(dets, f)
        if "scores" in names and "boxes" in names:
            scores = outputs[names.index("scores")][0]
            boxes = outputs[names.index("boxes")].reshape(scores.shape[0], 4)
            anchors, classes = np.nonzero(scores > 0.3)
            record["top"] = [
                [int(a), int(c), float(scores[a, c]), [float(v) for v in boxes[a]]]
                for a, c in zip(anchors, classes)
            ]
        golden["frames"].append(record)
    if golden_path:
        with open(golden_path, "w") as f:
            json.dump(golden, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
