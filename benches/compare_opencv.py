"""The hand-rolled pipeline watchpost is compared with: OpenCV + onnxruntime.

Decodes a clip with cv2.VideoCapture, stretches every frame to the model's
input size (cv2.resize, bilinear), turns BGR into RGB, applies the manifest's
scale and offset, runs the SSD model with onnxruntime on every frame and
keeps the person boxes above the confidence threshold. It prints one JSON
line: frames, seconds, fps, CPU seconds and peak RSS (VmHWM of this
process; ru_maxrss is not used because Linux carries it over from the
parent across fork and exec, so a large parent would inflate it).

With no options the session has ONNX Runtime's defaults, as a user would
write it (intra-op threads: one per core; idle threads spin). `--threads N`
and `--spin on|off` tune it. The seconds it prints are from the first
frame read to the last inference; a caller that times the whole process
(benches/replay_vs_loop.py) counts the imports and the session's load too.

Run by `cargo bench --bench capacity -- compare` and by
benches/replay_vs_loop.py, side by side with watchpost on the same clip and
model; or by hand:

    .venv/bin/python benches/compare_opencv.py media/vtest.avi \
        models/ssd_mobilenet_v2_coco.onnx --threads 2 --spin off
"""

import argparse
import json
import resource
import time

import cv2
import numpy as np
import onnxruntime as ort

# From models/ssd_mobilenet_v2_coco.toml: 300x300 RGB NHWC, value = pixel * 2/255 - 1.
WIDTH, HEIGHT = 300, 300
SCALE, OFFSET = 2.0 / 255.0, -1.0
PERSON = 0  # score column of COCO id 1
CONFIDENCE = 0.5


def peak_rss_kb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("clip")
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: its own)")
    parser.add_argument(
        "--spin", choices=["on", "off"], default=None, help="let idle inference threads spin (default: its own, on)"
    )
    args = parser.parse_args()

    cv2.setNumThreads(1)  # decode and resize on the calling thread, as watchpost's pipeline does per camera
    options = ort.SessionOptions()
    if args.threads is not None:
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
    if args.spin is not None:
        spin = "1" if args.spin == "on" else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        options.add_session_config_entry("session.inter_op.allow_spinning", spin)
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    tensor = np.empty((1, HEIGHT, WIDTH, 3), dtype=np.float32)

    capture = cv2.VideoCapture(args.clip)
    if not capture.isOpened():
        raise SystemExit(f"cannot open {args.clip}")
    frames = persons = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(cv2.resize(bgr, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
        np.multiply(rgb, SCALE, out=tensor[0], casting="unsafe")
        tensor += OFFSET
        scores, _boxes = session.run(["scores", "boxes"], {"image": tensor})
        persons += int(np.count_nonzero(scores[0, :, PERSON] > CONFIDENCE))
        frames += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak_kb = peak_rss_kb()
    print(
        json.dumps(
            {
                "frames": frames,
                "seconds": round(wall, 3),
                "fps": round(frames / wall, 2),
                "cpu_seconds": round(cpu, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "person_scores_over_threshold": persons,
            }
        )
    )


if __name__ == "__main__":
    main()
