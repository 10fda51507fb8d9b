"""Line sweep: watchpost and the independent peer counting crossings of a
grid of lines, side by side with the hand counts where there are any.

For every line of the sweep (vertical lines every 0.05 of the width, a few
diagonal and horizontal ones, and every labelled line of the label files
given) this writes one evaluation camera with two `line_crossing` counters
per line (one per direction, person >= 0.4, `end_after_secs = 0.05`,
`update_every_secs = 0`, `once_per_target = false`, the product's tracker
defaults, every frame inferred on one thread), runs `watchpost eval` on it
at 10 and 5 fps, runs `peer_lines.py` (ByteTrack + LineZone on the same
model's detections) on every frame and on every second frame, and prints a
Markdown table: per line the hand count (labelled lines only), watchpost's
count at 10 and 5 fps and the peer's, with a mark where watchpost and the
peer differ by more than 10% or watchpost is under 90% of the hand count.
On labelled lines the peer's crossings are matched to the hand labels the
way `watchpost eval` matches its own (from 0.5 s before a label to 1.5 s
after it, each label taken once; the peer names sides differently, so
directions are not compared), which tells found crossings from flips.

    python sweep.py --watchpost target/release/watchpost \
        --peer-python /path/to/venv-with-supervision/bin/python \
        --labels tests/truth/vtest_lines.toml --labels tests/truth/vtest_lines_more.toml \
        [--clip media/vtest.avi] [--json out.json]

The peer's counts are cached in target/sweep/ (they depend only on the
clip and the lines). Run from the repository root.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tomllib

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MODEL = os.path.join(ROOT, "models", "ssd_mobilenet_v2_coco.onnx")
MANIFEST = os.path.join(ROOT, "models", "ssd_mobilenet_v2_coco.toml")


def grid():
    """The sweep's own lines: name -> ((x0, y0), (x1, y1))."""
    lines = {}
    for i in range(1, 20):
        x = round(i * 0.05, 2)
        lines[f"v{i * 5:02d}"] = ((x, 0.20), (x, 0.90))
    lines["d-lamp"] = ((0.62, 0.25), (0.48, 0.75))
    lines["d-east"] = ((0.60, 0.30), (0.80, 0.80))
    lines["d-west"] = ((0.15, 0.25), (0.35, 0.65))
    lines["d-road"] = ((0.70, 0.15), (0.99, 0.45))
    lines["h-road"] = ((0.72, 0.30), (0.99, 0.30))
    lines["h-walk"] = ((0.30, 0.48), (0.70, 0.48))
    return lines


def labelled(paths):
    """Labelled lines: name -> (geometry, [crossings], clip)."""
    out = {}
    for path in paths:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        for line in doc.get("lines", []):
            out[line["name"]] = (tuple(map(tuple, line["line"])), line["crossings"])
    return out


def rule(name, zone, direction):
    return f"""
[[cameras.rules]]
name = "{name}"
kind = "line_crossing"
zone = "{zone}"
labels = ["person"]
min_confidence = 0.4
direction = "{direction}"
end_after_secs = 0.05
update_every_secs = 0.0
once_per_target = false
"""


def write_camera(folder, clip, lines, hand, fps):
    config = f"""site = "sweep"
box_id = "sweep-box"
state_dir = "{folder}/state"

[runtime]
intra_threads = 1
inter_threads = 1

[mqtt]
url = "mqtt://127.0.0.1:1883"

[models.coco]
manifest = "{MANIFEST}"
confidence = 0.4

[[cameras]]
name = "sweep"

[cameras.source]
url = "{clip}"

[cameras.detect]
model = "coco"
fps = {fps}

[cameras.motion]
enabled = false
"""
    labels = f'clip = "{clip}"\nfps = {fps}\n'
    for name, ((x0, y0), (x1, y1)) in lines.items():
        config += f'\n[[cameras.zones]]\nname = "{name}"\nline = [[{x0}, {y0}], [{x1}, {y1}]]\n'
        config += rule(f"{name}-a-to-b", name, "a_to_b") + rule(f"{name}-b-to-a", name, "b_to_a")
        crossings = hand.get(name, (None, []))[1]
        items = ", ".join(
            "{ frame = %d, direction = \"%s\"%s }" % (c["frame"], c["direction"], ", optional = true" if c.get("optional") else "")
            for c in crossings
        )
        labels += f'\n[[lines]]\nname = "{name}"\nline = [[{x0}, {y0}], [{x1}, {y1}]]\ncrossings = [{items}]\n'
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "camera.toml"), "w") as f:
        f.write(config)
    with open(os.path.join(folder, "labels.toml"), "w") as f:
        f.write(labels)


def run_watchpost(exe, folder, clip, fps):
    out = subprocess.run(
        [exe, "eval", "--json", "--fps", str(fps), "--config", os.path.join(folder, "camera.toml"),
         "--labels", os.path.join(folder, "labels.toml"), clip],
        check=True, capture_output=True, text=True,
    )
    report = json.loads(out.stdout)
    counts = {}
    for r in report["rules"]:
        c = counts.setdefault(r["zone"], {"raised": 0, "tp": 0, "fp": 0, "missed": 0})
        s = r
        c["raised"] += s["raised"]
        c["tp"] += s["true_positives"]
        c["fp"] += s["false_positives"]
        c["missed"] += s["misses"]
    return counts


def run_peer(python, clip, lines, step, cache):
    specs = [f"{n}:{x0},{y0},{x1},{y1}" for n, ((x0, y0), (x1, y1)) in lines.items()]
    key = hashlib.sha256(json.dumps(["v2", os.path.basename(clip), step, specs]).encode()).hexdigest()[:16]
    path = os.path.join(cache, f"peer-{key}.json")
    if not os.path.exists(path):
        out = subprocess.run(
            [python, os.path.join(os.path.dirname(__file__), "peer_lines.py"), clip, MODEL, "--step", str(step)] + specs,
            check=True, capture_output=True, text=True,
        )
        os.makedirs(cache, exist_ok=True)
        with open(path, "w") as f:
            f.write(out.stdout)
    with open(path) as f:
        return {n: v for n, v in json.load(f)["lines"].items()}


def match(crossings, frames, fps):
    """(found, false) for crossings raised at `frames` against hand labels."""
    labels = sorted((c["frame"], bool(c.get("optional"))) for c in crossings)
    used = [False] * len(labels)
    found = false = 0
    for f in sorted(frames):
        pick = None
        for want_optional in (False, True):
            for i, (l, optional) in enumerate(labels):
                if not used[i] and optional == want_optional and l - 0.5 * fps <= f <= l + 1.5 * fps:
                    pick = i
                    break
            if pick is not None:
                break
        if pick is None:
            false += 1
        else:
            used[pick] = True
            found += not labels[pick][1]
    return found, false


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--watchpost", default=os.path.join(ROOT, "target", "release", "watchpost"))
    p.add_argument("--peer-python")
    p.add_argument("--labels", action="append", default=[])
    p.add_argument("--clip", default=os.path.join(ROOT, "media", "vtest.avi"))
    p.add_argument("--fps", type=int, default=10)
    p.add_argument("--only-labelled", action="store_true")
    p.add_argument("--json")
    a = p.parse_args()
    clip = os.path.abspath(a.clip)
    hand = labelled(a.labels)
    lines = {} if a.only_labelled else grid()
    for name, (geom, _) in hand.items():
        lines[name] = geom
    folder = os.path.join(ROOT, "target", "sweep")
    write_camera(folder, clip, lines, hand, a.fps)
    wp = {fps: run_watchpost(a.watchpost, folder, clip, fps) for fps in (a.fps, a.fps // 2)}
    peer = {}
    if a.peer_python:
        peer = {step: run_peer(a.peer_python, clip, lines, step, folder) for step in (1, 2)}
    rows = []
    print(f"| line | geometry | hand | watchpost {a.fps} fps | watchpost {a.fps // 2} fps | peer {a.fps} fps | peer {a.fps // 2} fps | note |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name, ((x0, y0), (x1, y1)) in lines.items():
        h = None
        if name in hand:
            h = sum(1 for c in hand[name][1] if not c.get("optional"))
        w10, w5 = wp[a.fps][name], wp[a.fps // 2][name]
        p10 = peer.get(1, {}).get(name)
        p5 = peer.get(2, {}).get(name)
        if h is not None and p10 is not None:
            pf, pfalse = match(hand[name][1], p10["frames"], a.fps)
            peer_note = f"peer {pf}/{h} found, {pfalse} false"
        else:
            peer_note = None
        p10 = None if p10 is None else p10["total"]
        p5 = None if p5 is None else p5["total"]
        notes = []
        if h is not None:
            notes.append(f"{w10['tp']}/{h} found, {w10['fp']} false")
            if w10["raised"] < 0.9 * h:
                notes.append("**under 90% of hand**")
            if peer_note:
                notes.append(peer_note)
        if w5["raised"] < 0.9 * w10["raised"] or w5["raised"] > 1.1 * w10["raised"]:
            notes.append("5 fps off by >10%")
        if p10 is not None and abs(w10["raised"] - p10) > 0.1 * max(w10["raised"], p10, 1):
            notes.append("differs from peer >10%")
        geom = f"({x0}, {y0})–({x1}, {y1})"
        print(f"| {name} | {geom} | {'' if h is None else h} | {w10['raised']} | {w5['raised']} | "
              f"{'' if p10 is None else p10} | {'' if p5 is None else p5} | {'; '.join(notes)} |")
        rows.append({"line": name, "geometry": [[x0, y0], [x1, y1]], "hand": h, "watchpost": {str(a.fps): w10, str(a.fps // 2): w5},
                     "peer": {str(a.fps): p10, str(a.fps // 2): p5}})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
