"""Where the memory of `watchpost replay` and of the OpenCV + onnxruntime loop goes.

Runs each side to its end, several rounds (fresh processes, interleaved),
and reads, for each run:

- the peak: the child's own ru_maxrss from wait4 (as benches/replay_vs_loop.py);
- what is resident, by mapping: /proc/PID/smaps every 0.2 s, keeping the
  sample with the most resident memory (the peak's composition; in both
  programs the peak is the steady state, reached within 2 s of the start).
  Rss, not Size: what is resident, not what is reserved.

Mappings are grouped as:

- allocated: the heap and anonymous mappings (malloc, ONNX Runtime's
  arenas, the weights, decoded frames, thread stacks);
- libonnxruntime: ONNX Runtime's code and data;
- the program: the watchpost binary, or libpython, the Python modules'
  own libraries (cv2.abi3.so, numpy's) and the interpreter;
- gst-libav's libraries: every library that GStreamer's libav plugin brings
  in and nothing else loaded needs (libavcodec, libavformat, libavfilter and
  the libraries they link: codecs, flite voices, librsvg, libplacebo, …),
  found with ldd from the plugins this run loaded;
- wheels' bundled libraries: libraries the Python wheels carry (OpenCV's own
  FFmpeg build, OpenBLAS, …, in `*.libs/` folders);
- other libraries: libc, libstdc++, GLib, GStreamer's core and plugins, …

The table gives medians over the rounds. Memory does not depend on the
machine's load; the CPU seconds are printed only to show the runs were
whole.

    .venv/bin/python benches/footprint.py --rounds 3 [--model int8]
"""

import argparse
import collections
import os
import re
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the benches
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from replay_vs_loop import ROOT, config  # noqa: E402

GROUPS = [
    "allocated (heap, anonymous)",
    "libonnxruntime",
    "the program",
    "gst-libav's libraries",
    "wheels' bundled libraries",
    "other libraries",
]
PLUGINS = "/gstreamer-1.0/"


def resident(pid):
    """{mapping name: resident KiB} of a running process, or None once it is gone."""
    rss = collections.Counter()
    name = None
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    parts = line.split(None, 5)
                    name = parts[5].strip() if len(parts) > 5 else "[anon]"
                elif line.startswith("Rss:"):
                    rss[name] += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return rss


def libraries(path):
    """The shared libraries `path` links, by real path (ldd)."""
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    found = set()
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if m:
            found.add(os.path.realpath(m.group(1)))
    return found


def libav_only(mapped, program):
    """The mapped files that only GStreamer's libav plugin brings in."""
    plugins = [p for p in mapped if PLUGINS in p]
    libav = [p for p in plugins if p.endswith("libgstlibav.so")]
    if not libav:
        return set()
    others = libraries(program)
    for p in mapped:
        if "onnxruntime" in p or (PLUGINS in p and p not in libav):
            others |= libraries(p)
    return (libraries(libav[0]) | {os.path.realpath(libav[0])}) - others


def group(name, program, libav):
    if not name.startswith("/"):
        return GROUPS[0]
    real = os.path.realpath(name)
    if "onnxruntime" in os.path.basename(real):
        return GROUPS[1]
    base = os.path.basename(real)
    if real == os.path.realpath(program) or base.startswith("libpython") or (
        "site-packages" in real and ".libs/" not in real
    ):
        return GROUPS[2]
    if real in libav:
        return GROUPS[3]
    if ".libs/" in real:
        return GROUPS[4]
    return GROUPS[5]


def run(argv):
    """Runs argv; returns (peak MB, CPU s, {group: resident MB} at the fullest sample)."""
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    fullest = collections.Counter()
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        sample = resident(child.pid)
        if sample and sum(sample.values()) > sum(fullest.values()):
            fullest = sample
        time.sleep(0.2)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed")
    program = argv[0]
    libav = libav_only({os.path.realpath(n) for n in fullest if n.startswith("/")}, program)
    groups = collections.Counter()
    for name, kib in fullest.items():
        groups[group(name, program, libav)] += kib / 1024
    groups["resident at the fullest sample"] = sum(fullest.values()) / 1024
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, groups


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", choices=["fp32", "int8"], default="fp32")
    args = parser.parse_args()
    clip = os.path.join(ROOT, "media/vtest.avi")
    onnx = "ssd_mobilenet_v2_coco_int8.onnx" if args.model == "int8" else "ssd_mobilenet_v2_coco.onnx"
    python = os.path.join(ROOT, ".venv/bin/python")
    sides = {
        "watchpost replay": [os.path.join(ROOT, "target/release/watchpost"), "replay", "--config",
                             config(args.model), clip, "--start", "2026-11-30T21:00:00Z"],
        "loop (2 threads, no spin)": [python, os.path.join(ROOT, "benches/compare_opencv.py"), clip,
                                      os.path.join(ROOT, "models", onnx), "--threads", "2", "--spin", "off"],
    }
    runs = collections.defaultdict(list)
    for round_ in range(1, args.rounds + 1):
        for name, argv in sides.items():
            peak, cpu, groups = run(argv)
            runs[name].append((peak, groups))
            print(f"round {round_}: {name}: peak {peak:.1f} MB, {cpu:.1f} CPU-s, "
                  f"allocated {groups[GROUPS[0]]:.1f} MB", flush=True)

    names = list(sides)
    print(f"\n{args.model}, vtest.avi, {args.rounds} rounds, medians, MB resident")
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for key in GROUPS + ["resident at the fullest sample"]:
        cells = [statistics.median(g[key] for _, g in runs[n]) for n in names]
        print(f"| {key} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    peaks = [statistics.median(p for p, _ in runs[n]) for n in names]
    print("| **peak (ru_maxrss)** | " + " | ".join(f"**{p:.1f}**" for p in peaks) + " |")
    print(f"\npeak, watchpost vs the loop: {peaks[0] / peaks[1]:.2f}")


if __name__ == "__main__":
    main()
