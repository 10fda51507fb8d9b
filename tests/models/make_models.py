#!/usr/bin/env python3
"""Makes the tiny ONNX models that test watchpost's YOLO decoders.

Each model takes a [1, 3, 64, 64] image and returns a constant output tensor
that encodes known boxes, in the layout of its family, so a test can assert
the exact boxes, labels and scores that come out after decoding and NMS.
yolov8_batch_test takes a batch and scales its scores by each image's
brightness, so batching tests can tell the frames of a batch apart.
Run from the repository root with the project's .venv (onnx is pinned in
scripts/versions.env):  .venv/bin/python tests/models/make_models.py
It rewrites tests/models/*.onnx and the sha256 in each manifest.
"""
import hashlib
import math
import pathlib
import re

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = pathlib.Path(__file__).parent


def constant_model(name, output):
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(output.shape))
    node = helper.make_node("Constant", [], ["output0"], value=numpy_helper.from_array(output.astype(np.float32)))
    graph = helper.make_graph([node], name, [image], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="watchpost-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    save(model, name)


def save(model, name):
    path = HERE / f"{name}.onnx"
    onnx.save(model, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = HERE / f"{name}.toml"
    text = manifest.read_text()
    manifest.write_text(re.sub(r'sha256 = "[0-9a-f]*"', f'sha256 = "{digest}"', text))


# yolov5: rows of cx, cy, w, h, objectness, person, bicycle
v5 = np.array([[
    [32, 32, 16, 32, 0.9, 0.8, 0.1],   # person 0.72
    [33, 33, 16, 32, 0.9, 0.7, 0.1],   # person 0.63, overlaps the first: suppressed
    [10, 10, 4, 4, 0.95, 0.1, 0.9],    # bicycle 0.855
    [50, 50, 8, 8, 0.3, 0.9, 0.9],     # objectness too low
]])
constant_model("yolov5_test", v5)

# yolov8: channels first [1, 4 + C, N]
anchors = [
    (32, 16, 32, 8, 0.95, 0.0),   # person 0.95
    (31, 16, 30, 8, 0.60, 0.0),   # overlaps it: suppressed
    (48, 48, 8, 8, 0.0, 0.70),    # bicycle 0.7
    (8, 8, 4, 4, 0.2, 0.3),       # below threshold
]
v8 = np.array(anchors, dtype=np.float32).T[None, ...]
constant_model("yolov8_test", v8)

# yolox: 8x8 + 4x4 + 2x2 grids at strides 8, 16, 32; rows of dx, dy, log w, log h, obj, person, bicycle
rows = np.zeros((8 * 8 + 4 * 4 + 2 * 2, 7), dtype=np.float32)
rows[4 * 8 + 3] = [0.5, 0.5, math.log(2), math.log(4), 0.9, 0.9, 0.0]   # stride 8, cell (3, 4): person 0.81
rows[80 + 0 * 2 + 1] = [0.0, 0.5, 0.0, 0.0, 0.8, 0.0, 0.9]            # stride 32, cell (1, 0): bicycle 0.72
constant_model("yolox_test", rows[None, ...])


def batch_model(name):
    """A yolov8-layout model with a dynamic batch whose scores depend on the
    image: every class score is scaled by the mean of the image's first
    channel, so a bright frame finds the boxes and a dark one finds none."""
    image = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 64, 64])
    out = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 6, 4])
    boxes = np.zeros_like(v8, dtype=np.float32)
    boxes[:, :4] = v8[:, :4]
    scores = np.zeros_like(v8, dtype=np.float32)
    scores[:, 4:] = v8[:, 4:]
    nodes = [
        helper.make_node("Constant", [], ["starts"], value=numpy_helper.from_array(np.array([0], dtype=np.int64))),
        helper.make_node("Constant", [], ["ends"], value=numpy_helper.from_array(np.array([1], dtype=np.int64))),
        helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(np.array([1], dtype=np.int64))),
        helper.make_node("Slice", ["images", "starts", "ends", "axes"], ["first"]),
        helper.make_node("ReduceMean", ["first"], ["mean4"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Squeeze", ["mean4", "axes"], ["mean"]),
        helper.make_node("Constant", [], ["scores"], value=numpy_helper.from_array(scores)),
        helper.make_node("Constant", [], ["boxes"], value=numpy_helper.from_array(boxes)),
        helper.make_node("Mul", ["scores", "mean"], ["scaled"]),
        helper.make_node("Add", ["scaled", "boxes"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, name, [image], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="watchpost-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    save(model, name)


batch_model("yolov8_batch_test")
