#!/usr/bin/env python3
"""End-to-end evidence bench: 4 live-paced cameras (media/vtest_640x360_10fps.mp4
in a loop at its own rate, detect 5 fps), each with a person-intrusion rule
on the lawn corner of configs/demo.toml (cooldown 20 s; the four cameras
play the same file in step, so their incidents and clips come in bursts
of four), run for DURATION seconds with evidence clips on
(evidence = { pre_secs = 10, post_secs = 10 }, clips 640x360 at 5 fps, the
face model searching key frames) and then off, against a Mosquitto started
here. It reports, for each run:

- alert delay: receipt at the subscriber minus the event's own `time`
  (the wall time of the frame that raised it), median and max, start events;
- the cameras' analysed frame rate from the box's stats message;
- process CPU seconds (user + system, /usr/bin/time);
- with evidence: clips sealed, and from each log line "evidence clip
  sealed": the time from the incident's start to the sealed clip
  (since_asked_ms) and the redaction + encoding wall time.

    .venv/bin/python benches/evidence/e2e.py [DURATION]   (default 150)
"""
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "watchpost")
CLIP = os.path.join(ROOT, "media", "vtest_640x360_10fps.mp4")
CAMERAS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(path, state, port, evidence):
    rule_evidence = "evidence = { pre_secs = 10, post_secs = 10 }\n" if evidence else ""
    text = f"""site = "bench"
box_id = "bench-box"
state_dir = "{state}"

[mqtt]
url = "mqtt://127.0.0.1:{port}"

[metrics]
listen = "127.0.0.1:{free_port()}"

[models.coco]
manifest = "{ROOT}/models/ssd_mobilenet_v2_coco.toml"
confidence = 0.5

[models.faces]
manifest = "{ROOT}/models/centerface.toml"

[privacy]
face_model = "faces"
"""
    for i in range(CAMERAS):
        text += f"""
[[cameras]]
name = "cam{i}"

[cameras.source]
url = "{CLIP}"
loop = true
realtime = true

[cameras.detect]
model = "coco"
fps = 5

[[cameras.zones]]
name = "walk"
polygon = [[0.70, 0.58], [1.0, 0.58], [1.0, 0.80], [0.70, 0.80]]

[[cameras.rules]]
name = "walk-intrusion"
kind = "intrusion"
zone = "walk"
labels = ["person"]
min_secs = 0.4
end_after_secs = 3.0
cooldown_secs = 20.0
once_per_target = false
{rule_evidence}"""
    with open(path, "w") as f:
        f.write(text)


def run(duration, evidence):
    tmp = tempfile.mkdtemp(prefix="evbench-")
    os.chmod(tmp, 0o777)  # mosquitto, started as root, writes its log as its own user
    port = free_port()
    conf = os.path.join(tmp, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest file {tmp}/mosquitto.log\n")
    broker = subprocess.Popen(["mosquitto", "-c", conf])
    time.sleep(0.5)
    received = open(os.path.join(tmp, "received.txt"), "w")
    sub = subprocess.Popen(
        ["mosquitto_sub", "-p", str(port), "-v", "-F", "%U %t %p",
         "-t", "watchpost/+/+/+/incidents", "-t", "watchpost/+/+/stats"],
        stdout=received)
    time.sleep(0.5)
    cfg = os.path.join(tmp, "bench.toml")
    config(cfg, os.path.join(tmp, "state"), port, evidence)
    log = os.path.join(tmp, "watchpost.log")
    timing = os.path.join(tmp, "time.txt")
    with open(log, "w") as out:
        subprocess.run(["/usr/bin/time", "-o", timing, "-f", "%e %U %S", "timeout", "-s", "TERM",
                        str(duration), BIN, "run", "--config", cfg], stdout=out, stderr=subprocess.STDOUT)
    time.sleep(1)
    sub.terminate()
    broker.terminate()
    received.close()
    wall, user, system = map(float, open(timing).read().split()[-3:])
    delays, frames, uptime = [], {}, 0
    for line in open(os.path.join(tmp, "received.txt")):
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        at, topic, payload = float(parts[0]), parts[1], parts[2]
        try:
            msg = json.loads(payload)
        except ValueError:
            continue
        if topic.endswith("/incidents") and msg.get("event") == "start":
            t = msg["time"].replace("Z", "+00:00")
            from datetime import datetime
            delays.append(at - datetime.fromisoformat(t).timestamp())
        elif topic.endswith("/stats"):
            uptime = msg["uptime_secs"]
            frames = {k: v["inferred"] + v["skipped_still"] for k, v in msg["cameras"].items()}
    sealed = [l for l in open(log) if "evidence clip sealed" in l]
    asked = [int(re.search(r"since_asked_ms=(\d+)", l).group(1)) for l in sealed]
    work = [int(re.search(r"work_ms=(\d+)", l).group(1)) for l in sealed if "work_ms=" in l]
    counts = [int(re.search(r"frames=(\d+)", l).group(1)) for l in sealed]
    dropped = sum(1 for l in open(log) if "evidence clip dropped" in l)
    return {
        "evidence": evidence,
        "wall_s": wall,
        "cpu_s": round(user + system, 1),
        "starts": len(delays),
        "alert_delay_median_ms": round(statistics.median(delays) * 1000) if delays else None,
        "alert_delay_max_ms": round(max(delays) * 1000) if delays else None,
        "analysed_fps_per_camera": {k: round(v / uptime, 2) for k, v in frames.items()} if uptime else None,
        "clips": len(sealed),
        "clips_dropped": dropped,
        "clip_frames_median": statistics.median(counts) if counts else None,
        "start_to_sealed_median_ms": statistics.median(asked) if asked else None,
        "start_to_sealed_max_ms": max(asked) if asked else None,
        "work_median_ms": statistics.median(work) if work else None,
        "dir": tmp,
    }


def main():
    duration = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    for evidence in (True, False):
        print(json.dumps(run(duration, evidence)), flush=True)


if __name__ == "__main__":
    main()
