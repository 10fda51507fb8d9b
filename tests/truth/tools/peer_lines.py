"""Counts line crossings with an independent tracker, for comparison with
watchpost's line rules on lines nobody labelled.

The peer is ByteTrack with a LineZone from the `supervision` library
(0.25), triggered by the bottom centre of each box (a person's feet, like a
watchpost rule's default anchor), fed with the same model's detections:
SSD-MobileNetV2 from models/ through onnxruntime, person ≥ 0.4, per-class
NMS at IoU 0.5. Every frame of the recording is used.

    python peer_lines.py VIDEO MODEL.onnx [--step N] "name:x0,y0,x1,y1" ...

`--step N` uses every Nth frame only (ByteTrack told the frame rate that
gives), to compare with watchpost at a lower detect fps. Each line's
`frames` lists the frame index of every crossing it counted, to match
against hand labels.

prints one JSON object: per line, supervision's `in` and `out` counts
and their total (compare the total: the two tools name the sides of a line
differently). It needs its own environment (supervision pulls in a
second OpenCV), e.g. a venv with supervision==0.25.1 and onnxruntime; it is
not part of the product or its tests.
"""
import json
import sys

import cv2
import numpy as np
import onnxruntime as ort
import supervision as sv

PERSON = 0  # COCO id 1
CONFIDENCE = 0.4


def detect(session, frame):
    h, w = frame.shape[:2]
    x = cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), (300, 300)).astype(np.float32) * (2 / 255) - 1
    scores, boxes = session.run(None, {session.get_inputs()[0].name: x[None]})
    s = scores[0, :, PERSON]
    keep = s >= CONFIDENCE
    b = boxes[0, keep, 0, :]  # ymin, xmin, ymax, xmax
    xyxy = np.stack([b[:, 1] * w, b[:, 0] * h, b[:, 3] * w, b[:, 2] * h], axis=1)
    det = sv.Detections(xyxy=xyxy, confidence=s[keep], class_id=np.zeros(len(xyxy), dtype=int))
    return det.with_nms(threshold=0.5)


def main():
    video, model, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
    step = 1
    if specs[:1] == ["--step"]:
        step, specs = int(specs[1]), specs[2:]
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    cap = cv2.VideoCapture(video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 10
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    tracker = sv.ByteTrack(frame_rate=max(1, int(round(fps / step))))
    zones = {}
    for spec in specs:
        name, coords = spec.split(":")
        x0, y0, x1, y1 = (float(v) for v in coords.split(","))
        zones[name] = sv.LineZone(
            start=sv.Point(x0 * w, y0 * h),
            end=sv.Point(x1 * w, y1 * h),
            triggering_anchors=[sv.Position.BOTTOM_CENTER],
        )
    frames = 0
    crossed = {name: [] for name in zones}
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames += 1
        if (frames - 1) % step:
            continue
        tracks = tracker.update_with_detections(detect(session, frame))
        for name, zone in zones.items():
            ins, outs = zone.trigger(tracks)
            crossed[name].extend([frames - 1] * int(ins.sum() + outs.sum()))
    out = {
        "frames": frames,
        "lines": {
            n: {"in": z.in_count, "out": z.out_count, "total": z.in_count + z.out_count, "frames": crossed[n]}
            for n, z in zones.items()
        },
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
