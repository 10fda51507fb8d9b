#!/usr/bin/env python3
"""INT8 SSD-MobileNetV2: static quantization of the committed FP32 detector.

Input: models/ssd_mobilenet_v2_coco.onnx (its sha256 is checked against
models/ssd_mobilenet_v2_coco.toml first). Output: the INT8 model whose
manifest is models/ssd_mobilenet_v2_coco_int8.toml. The result is
deterministic: the same FP32 file, calibration frames, onnxruntime and
numpy versions give the same bytes, so `--check` remakes the model in a
temporary folder and compares its sha256 with the manifest's.

Method (recorded in the INT8 manifest's [source]):
- ONNX Runtime's own tools (`onnxruntime.quantization`, the version pinned in
  scripts/versions.env): `quant_pre_process` (shape inference and graph
  optimisation), then `quantize_static`.
- The convolutions, their ReLU6 clips and the residual additions are
  quantized (weights INT8 per output channel, activations UINT8, MinMax
  calibration), so the feature extractor stays in INT8 from end to end;
  quantizing the convolutions alone left a dequantize/quantize pair around
  every clip and addition, which ate the gain. The box decoding at the end
  of the graph (`Postprocessor/*`) stays in float.
- Weights use 7 bits (`reduce_range`): on x86 CPUs without VNNI (AVX2 only,
  like the development machine) ONNX Runtime's u8s8 kernels add pairs of
  products in 16 bits, which saturate with full 8-bit weights; with them
  only about three in four of the FP32 model's detections survived.
- QOperator format by default (QLinearConv): on ONNX Runtime's CPU provider
  it ran faster here than QDQ, see docs/benchmarks.md. `--format qdq` makes
  the QDQ variant for comparison.
- Calibration frames: every 25th frame of media/vtest.avi (32 frames) and
  every 25th frame of media/bikes.mp4 (10 frames), decoded and stretched to
  300x300 RGB by GStreamer (decodebin, videoconvert, videoscale), as the
  camera pipeline does, and scaled to the model's range (x * 2/255 - 1).

Usage (in .venv, which scripts/setup makes):
    .venv/bin/python models/quantize_ssd.py            # writes the INT8 model
    .venv/bin/python models/quantize_ssd.py --check    # remakes it, compares sha256
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FP32 = os.path.join(HERE, "ssd_mobilenet_v2_coco.onnx")
FP32_MANIFEST = os.path.join(HERE, "ssd_mobilenet_v2_coco.toml")
INT8 = os.path.join(HERE, "ssd_mobilenet_v2_coco_int8.onnx")
INT8_MANIFEST = os.path.join(HERE, "ssd_mobilenet_v2_coco_int8.toml")
SIDE = 300
# (clip, take every Nth frame): the calibration set.
# Operators quantized, and the nodes (by name prefix) that stay in float.
OPS = ["Conv", "Clip", "Add"]
FLOAT_NODES = ("Postprocessor",)
CALIBRATION = [("media/vtest.avi", 25), ("media/bikes.mp4", 25)]


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_sha(path):
    with open(path) as f:
        match = re.search(r'^sha256 = "([0-9a-f]{64})"', f.read(), re.M)
    if not match:
        sys.exit(f"{path}: no sha256 line")
    return match.group(1)


def frames(clip, every):
    """Every `every`th frame of `clip`, 300x300 RGB, decoded by GStreamer."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "frames.rgb")
        subprocess.run(
            [
                "gst-launch-1.0", "-q",
                "filesrc", f"location={os.path.join(ROOT, clip)}", "!", "decodebin", "!",
                "videoconvert", "!", "videoscale", "!",
                f"video/x-raw,format=RGB,width={SIDE},height={SIDE}", "!",
                "filesink", f"location={raw}",
            ],
            check=True,
        )
        data = np.fromfile(raw, dtype=np.uint8)
    size = SIDE * SIDE * 3  # 900-byte rows: no padding at this width
    count = len(data) // size
    images = data[: count * size].reshape(count, SIDE, SIDE, 3)
    return images[::every]


class Frames(CalibrationDataReader):
    def __init__(self, images):
        self.images = iter(images)

    def get_next(self):
        image = next(self.images, None)
        if image is None:
            return None
        value = image.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
        return {"image": value[np.newaxis]}


def quantize(out, fmt):
    want = manifest_sha(FP32_MANIFEST)
    if sha256(FP32) != want:
        sys.exit(f"{FP32} does not match its manifest's sha256 {want}")
    images = np.concatenate([frames(clip, every) for clip, every in CALIBRATION])
    print(f"calibration: {len(images)} frames", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(FP32, pre, skip_symbolic_shape=True)
        graph = onnx.load(pre).graph
        keep_float = [n.name for n in graph.node if n.name.startswith(FLOAT_NODES)]
        quantize_static(
            pre,
            out,
            Frames(images),
            quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
            op_types_to_quantize=OPS,
            nodes_to_exclude=keep_float,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    # Keep the FP32 model's I/O names and drop the producer's version string,
    # so the bytes depend on the inputs only.
    model = onnx.load(out)
    model.producer_version = ""
    onnx.save(model, out)
    return sha256(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true", help="remake in a temporary folder and compare sha256")
    parser.add_argument("--format", choices=["qoperator", "qdq"], default="qoperator")
    parser.add_argument("--out", default=INT8)
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            made = quantize(os.path.join(tmp, "int8.onnx"), args.format)
        want = manifest_sha(INT8_MANIFEST)
        print(f"remade: {made}\nmanifest: {want}")
        sys.exit(0 if made == want else 1)
    print(quantize(args.out, args.format))


if __name__ == "__main__":
    main()
