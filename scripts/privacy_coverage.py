#!/usr/bin/env python3
"""How much of a redacted picture is covered, and whose heads are.

Two measures of docs/privacy.md, both from the pictures watchpost wrote
compared with the raw pictures, pixel by pixel (a covered pixel is one that
changed: redaction fills regions with one flat colour):

  faces OUT
      The face set (media/faces/labels.json) redacted into OUT/<name>.png
      (WATCHPOST_FACE_OUT of scripts/face_report): the *collateral
      coverage*, the share of each picture covered outside its labelled
      faces grown to the head around them (HEAD_GROW below).

  clip CONFIG CAMERA CLIP OUT [STEP] [HEADS]
      `watchpost replay --out OUT --plain` of a recording analysed every
      STEP frames (its frame rate over the camera's detect rate; default
      1): for every frame it
      wrote, the persons an independent detector (OpenCV's HOG people
      detector, a different method from watchpost's SSD) finds in the raw
      frame, and whether each one's head is covered in the written frame;
      and the collateral coverage outside those heads. With HEADS, a JSON
      file of heads labelled by eye per source frame (e.g.
      benches/privacy/bikes_heads.json), the labelled heads take HOG's
      place: each counts as covered when COVERED of its box is, and the
      collateral is what lies outside them grown by LABEL_GROW.

Prints one JSON object.
"""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# A labelled face box grown to the head around it: half its width on each
# side, 60% of its height above (hair) and 30% below (chin).
HEAD_GROW = (0.5, 0.6, 0.3)
# A pixel differing by more than this (any channel) counts as covered.
CHANGED = 14
# The head of a HOG person box (a 64x128 window with a margin around the
# person): its central band, where the head sits in a standing person.
HEAD_CORE = (0.36, 0.08, 0.64, 0.24)
# The top of a HOG box, full width: the head and a margin, not collateral.
HEAD_ALLOWED = 0.32
# A head counts as covered when this share of its core is covered.
COVERED = 0.6
# A head labelled by eye grown to what covering it may legitimately take:
# half its width on each side, half its height above (hair, a hat) and its
# height below (the neck and shoulders a head region's band ends on).
LABEL_GROW = (0.5, 0.5, 1.0)


def covered_mask(raw, redacted, jpeg):
    """Covered pixels: flat in the redacted picture (one colour over a 5x5
    neighbourhood) where the raw picture is not, or changed outright. A
    patch's colour is the mean of what it covers, so much of it differs
    little from the raw pixels; its flatness is what gives it away."""
    diff = np.abs(raw.astype(np.int16) - redacted.astype(np.int16)).max(axis=2)
    changed = diff > (CHANGED + (10 if jpeg else 0))

    def local_std(img):
        g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        mean = cv2.blur(g, (5, 5))
        return np.sqrt(np.maximum(cv2.blur(g * g, (5, 5)) - mean * mean, 0))

    flat = local_std(redacted) < (2.5 if jpeg else 0.8)
    textured = local_std(raw) >= (2.5 if jpeg else 0.8)
    mask = (changed | (flat & textured)).astype(np.uint8)
    # patches are solid; drop thin lines drawn on the picture, fill small holes
    kernel = np.ones((5, 5), np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    return mask.astype(bool)


def box_mask(shape, boxes):
    m = np.zeros(shape[:2], bool)
    h, w = shape[:2]
    for x1, y1, x2, y2 in boxes:
        x1, y1 = max(0, int(x1)), max(0, int(y1))
        x2, y2 = min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        if x2 > x1 and y2 > y1:
            m[y1:y2, x1:x2] = True
    return m


def faces(out):
    labels = json.loads((ROOT / "media/faces/labels.json").read_text())
    rows = []
    for p in labels:
        red_path = Path(out) / f"{p['name']}.png"
        if not red_path.exists():
            continue
        raw = cv2.imread(str(ROOT / "media/faces" / p["file"]))
        red = cv2.imread(str(red_path))
        if raw is None or red is None or raw.shape != red.shape:
            continue
        heads = []
        for x1, y1, x2, y2 in p["faces"]:
            fw, fh = x2 - x1, y2 - y1
            heads.append((x1 - fw * HEAD_GROW[0], y1 - fh * HEAD_GROW[1], x2 + fw * HEAD_GROW[0], y2 + fh * HEAD_GROW[2]))
        covered = covered_mask(raw, red, jpeg=False)
        allowed = box_mask(raw.shape, heads)
        total = covered.size
        rows.append({
            "name": p["name"],
            "categories": p["categories"],
            "covered": float(covered.sum() / total),
            "collateral": float((covered & ~allowed).sum() / total),
        })
    return summary(rows)


def hog_persons(frame):
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    scale = 2.0
    big = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    rects, weights = hog.detectMultiScale(big, winStride=(8, 8), padding=(16, 16), scale=1.05, hitThreshold=0.3)
    boxes = [(x / scale, y / scale, (x + w) / scale, (y + h) / scale) for (x, y, w, h) in rects]
    weights = [float(np.ravel(w)[0]) for w in weights] if len(weights) else []
    keep = cv2.dnn.NMSBoxes([(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in boxes], weights, 0.5, 0.3) if boxes else []
    return [(boxes[i], weights[i]) for i in np.ravel(keep)]


def labelled(heads, n, reach):
    """The heads labelled on source frame n, or on the labelled frame
    nearest it within reach; None when no labelled frame is that near."""
    near = [int(k) for k in heads if abs(int(k) - n) <= reach]
    if not near:
        return None
    return heads[str(min(near, key=lambda k: abs(k - n)))]


def clip(config, camera, recording, out, step="1", heads=None):
    out, step = Path(out), float(step)
    heads = json.loads(Path(heads).read_text())["heads"] if heads else None
    if not (out / "frames").is_dir():  # measure again what was written before
        subprocess.run(
            [str(ROOT / "target/release/watchpost"), "replay", "--config", config, "--camera", camera, recording,
             "--out", str(out), "--plain"],
            check=True, stdout=subprocess.DEVNULL)
    cap = cv2.VideoCapture(recording)
    raws = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        raws.append(frame)
    rows, persons, heads_covered, misses = [], 0, 0, []
    for path in sorted((out / "frames").glob("*.jpg")):
        red = cv2.imread(str(path))
        k = int(path.stem)
        # the written frame's source frame: near k * step, the closest in pixels
        at, reach = round(k * step), max(2, round(step))
        near = [i for i in range(at - reach, at + reach + 1) if 0 <= i < len(raws)]
        if not near:
            continue
        small = cv2.resize(red, (96, 72)).astype(np.int16)
        n = min(near, key=lambda i: np.abs(cv2.resize(raws[i], (96, 72)).astype(np.int16) - small).mean())
        raw = raws[n]
        if red is None or red.shape != raw.shape:
            continue
        covered = covered_mask(raw, red, jpeg=True)
        allowed = np.zeros(covered.shape, bool)
        if heads is not None:
            marked = labelled(heads, n, 2)
            if marked is None:
                continue
            for x1, y1, x2, y2 in marked:
                w, h = x2 - x1, y2 - y1
                share = covered[box_mask(raw.shape, [(x1, y1, x2, y2)])].mean()
                persons += 1
                if share >= COVERED:
                    heads_covered += 1
                else:
                    misses.append({"written": k, "frame": n, "box": [x1, y1, x2, y2], "covered": round(float(share), 2)})
                allowed |= box_mask(raw.shape, [(x1 - w * LABEL_GROW[0], y1 - h * LABEL_GROW[1],
                                                 x2 + w * LABEL_GROW[0], y2 + h * LABEL_GROW[2])])
            rows.append({"name": str(k), "categories": ["frames"], "covered": float(covered.mean()),
                         "collateral": float((covered & ~allowed).mean())})
            continue
        found = hog_persons(raw)
        for (x1, y1, x2, y2), weight in found:
            w, h = x2 - x1, y2 - y1
            core = box_mask(raw.shape, [(x1 + w * HEAD_CORE[0], y1 + h * HEAD_CORE[1],
                                         x1 + w * HEAD_CORE[2], y1 + h * HEAD_CORE[3])])
            share = covered[core].mean() if core.any() else 0.0
            persons += 1
            if share >= COVERED:
                heads_covered += 1
            else:
                misses.append({"written": k, "frame": n, "box": [round(v) for v in (x1, y1, x2, y2)],
                               "weight": round(weight, 2), "covered": round(float(share), 2)})
            allowed |= box_mask(raw.shape, [(x1, y1, x2, y1 + h * HEAD_ALLOWED)])
        rows.append({"name": str(k), "categories": ["frames"], "covered": float(covered.mean()),
                     "collateral": float((covered & ~allowed).mean())})
    result = summary(rows)
    result["labelled_heads" if heads is not None else "hog_persons"] = persons
    result["heads_covered"] = heads_covered
    result["head_recall"] = heads_covered / persons if persons else None
    result["misses"] = misses
    # each written frame's share, for a look at the frames that cost most
    result["frames"] = [{"written": r["name"], "covered": round(r["covered"], 4),
                         "collateral": round(r["collateral"], 4)} for r in rows]
    return result


def summary(rows):
    cats = {}
    for r in rows:
        for c in r["categories"] + ["all"]:
            cats.setdefault(c, []).append(r)
    table = {}
    for c, rs in sorted(cats.items()):
        col = np.array([r["collateral"] for r in rs])
        cov = np.array([r["covered"] for r in rs])
        table[c] = {"pictures": len(rs), "covered_mean": round(float(cov.mean()), 4),
                    "collateral_mean": round(float(col.mean()), 4),
                    "collateral_median": round(float(np.median(col)), 4),
                    "collateral_max": round(float(col.max()), 4)}
    return {"categories": table}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "faces":
        print(json.dumps(faces(sys.argv[2]), indent=1))
    elif mode == "clip":
        print(json.dumps(clip(*sys.argv[2:8]), indent=1))
    else:
        sys.exit(__doc__)
