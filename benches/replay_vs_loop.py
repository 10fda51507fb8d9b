"""`watchpost replay` against the OpenCV + onnxruntime loop, side by side.

Each run is a fresh process, timed as a whole (start-up, model load,
decoding, every frame, exit) with its CPU time and peak RSS (the child's own
ru_maxrss from wait4; this script imports nothing large, so no parent's
memory is carried over). One round runs, one after the other:

- `watchpost replay` of vtest.avi with tests/replay/vtest.toml (every frame,
  the camera's rules; its defaults otherwise: one single-threaded session per
  core, frames in flight on all of them), events to /dev/null;
- with `--live BENCH`, the live path: BENCH is the capacity bench's binary
  (target/release/deps/capacity-*), run as `BENCH compare-child PORT`
  against a Mosquitto this script starts (its fps is over the camera's run,
  as the loop's "in-loop" fps);
- benches/compare_opencv.py with ONNX Runtime's defaults, then tuned: 1 and 2
  intra-op threads, idle threads spinning on and off (`--loops` picks some).

Rounds interleave the sides (A B C ... A B C ...), so a machine whose load
or clock drifts slows them alike; the table gives every run and the
medians, and the ratios are taken against the best loop setting (by median).

    .venv/bin/python benches/replay_vs_loop.py --rounds 5 \\
        [--model int8] [--live target/release/deps/capacity-<hash>]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOOPS = {
    "defaults": ("loop, ORT defaults", []),
    "1on": ("loop, 1 thread, spin on", ["--threads", "1", "--spin", "on"]),
    "1off": ("loop, 1 thread, spin off", ["--threads", "1", "--spin", "off"]),
    "2on": ("loop, 2 threads, spin on", ["--threads", "2", "--spin", "on"]),
    "2off": ("loop, 2 threads, spin off", ["--threads", "2", "--spin", "off"]),
}


def run(argv, env=None):
    """Runs argv to its end; returns (wall s, cpu s, peak RSS MB, stdout)."""
    out = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    child = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{argv} exited {child.returncode}")
    out.seek(0)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read().decode()


def config(model):
    """tests/replay/vtest.toml, its paths absolute, on the chosen model."""
    text = open(os.path.join(ROOT, "tests/replay/vtest.toml")).read().replace('"../../', f'"{ROOT}/')
    if model == "int8":
        text = text.replace("ssd_mobilenet_v2_coco.toml", "ssd_mobilenet_v2_coco_int8.toml")
    path = os.path.join(tempfile.mkdtemp(), "vtest.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def broker():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = os.path.join(tempfile.mkdtemp(), "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    child = subprocess.Popen(["mosquitto", "-c", conf], stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return port, child


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", choices=["fp32", "int8"], default="fp32")
    parser.add_argument("--live", help="the capacity bench's binary, to time the live path too")
    parser.add_argument(
        "--loops",
        default="defaults,1on,1off,2on,2off",
        help="the loop's settings to run, of " + ",".join(LOOPS) + " (default: all)",
    )
    args = parser.parse_args()

    clip = os.path.join(ROOT, "media/vtest.avi")
    onnx = "ssd_mobilenet_v2_coco_int8.onnx" if args.model == "int8" else "ssd_mobilenet_v2_coco.onnx"
    model = os.path.join(ROOT, "models", onnx)
    python = os.path.join(ROOT, ".venv/bin/python")
    watchpost = os.path.join(ROOT, "target/release/watchpost")
    replay_argv = [watchpost, "replay", "--config", config(args.model), clip, "--start", "2026-11-30T21:00:00Z"]
    loops = [LOOPS[key] for key in args.loops.split(",")]
    port, mosquitto = broker() if args.live else (None, None)
    live_env = dict(os.environ, WATCHPOST_BENCH_MODEL=args.model)

    rows = {}  # name -> list of (wall, cpu, rss, in-loop fps)
    frames = 795
    try:
        for round_ in range(1, args.rounds + 1):
            load = os.getloadavg()[0]
            wall, cpu, rss, _ = run(replay_argv)
            rows.setdefault("watchpost replay", []).append((wall, cpu, rss, None))
            print(f"round {round_} (load {load:.1f}): replay {wall:.1f} s, {cpu:.1f} CPU-s, {rss:.0f} MB", flush=True)
            if args.live:
                wall, cpu, rss, out = run([args.live, "compare-child", str(port)], env=live_env)
                fps = json.loads(out.strip().splitlines()[-1])["fps"]
                rows.setdefault("watchpost live (compare-child)", []).append((wall, cpu, rss, fps))
                print(f"  live {fps:.1f} fps, {rss:.0f} MB", flush=True)
            for name, extra in loops:
                wall, cpu, rss, out = run([python, "benches/compare_opencv.py", clip, model] + extra)
                result = json.loads(out.strip().splitlines()[-1])
                frames = result["frames"]
                rows.setdefault(name, []).append((wall, cpu, rss, result["fps"]))
                print(f"  {name}: {wall:.1f} s, {result['fps']:.1f} fps in loop, {rss:.0f} MB", flush=True)
    finally:
        if mosquitto:
            mosquitto.kill()

    med = {name: {
        "wall": statistics.median(r[0] for r in runs),
        "cpu": statistics.median(r[1] for r in runs),
        "rss": statistics.median(r[2] for r in runs),
        "fps": statistics.median(r[3] for r in runs) if runs[0][3] is not None else None,
    } for name, runs in rows.items()}
    loop_names = [n for n, _ in loops]
    best_whole = min(loop_names, key=lambda n: med[n]["wall"])
    best_fps = max(loop_names, key=lambda n: med[n]["fps"])
    least_rss = min(loop_names, key=lambda n: med[n]["rss"])
    print(f"\n{args.model}, vtest.avi ({frames} frames), {args.rounds} rounds, medians")
    print("| side | whole process s | frames/s, whole process | in-loop fps | CPU s | peak RSS |")
    print("|---|---|---|---|---|---|")
    for name, m in med.items():
        fps = f"{m['fps']:.1f}" if m["fps"] is not None else "—"
        print(f"| {name} | {m['wall']:.2f} | {frames / m['wall']:.1f} | {fps} | {m['cpu']:.1f} | {m['rss']:.0f} MB |")
    replay = med["watchpost replay"]
    print(f"\nreplay vs the best loop by whole-process time ({best_whole}): "
          f"{med[best_whole]['wall'] / replay['wall']:.2f}x")
    print(f"replay vs {loop_names[0]}: {med[loop_names[0]]['wall'] / replay['wall']:.2f}x")
    # per-round ratios, each against the best loop setting of the same round
    ratios = [min(rows[n][i][0] for n in loop_names) / rows["watchpost replay"][i][0] for i in range(args.rounds)]
    print("replay vs the round's best loop, per round: " + ", ".join(f"{r:.2f}" for r in ratios))
    print(f"peak RSS, replay vs the loop ({least_rss}, its least): {replay['rss'] / med[least_rss]['rss']:.2f}; "
          f"vs {loop_names[0]}: {replay['rss'] / med[loop_names[0]]['rss']:.2f}")
    if args.live:
        live = med["watchpost live (compare-child)"]
        print(f"live vs the best loop by in-loop fps ({best_fps}): {live['fps'] / med[best_fps]['fps']:.2f}x; "
              f"peak RSS {live['rss'] / med[least_rss]['rss']:.2f} of the loop's least")


if __name__ == "__main__":
    main()
