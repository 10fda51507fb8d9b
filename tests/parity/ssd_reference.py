#!/usr/bin/env python3
"""Reference run of a model with Python onnxruntime, for parity with watchpost.

watchpost's parity test dumps the exact input tensors it built from frames that
GStreamer decoded and scaled, as raw little-endian float32 files listed in
DIR/meta.json. This script runs them through Python onnxruntime (which must be
the version scripts/setup pins, the same as the library watchpost loads) and
writes every output next to them as raw float32.

    ssd_reference.py MODEL DIR ORT_VERSION [--golden OUT.json]

With --golden it also writes a compact record of the outputs (the input's
sha256, every score above 0.3 with its box, a strided sample of each output,
and each output's sum), which is committed as tests/golden/ssd_vtest.json.
"""
import hashlib
import json
import sys

import numpy as np
import onnxruntime as ort


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
