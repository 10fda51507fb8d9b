"""How long `watchpost eval` takes over every labelled clip CI guards.

The clips, configs, label files and rates of tests/suite/quality.rs, each
`eval --json` a fresh process timed as a whole. Given two binaries (e.g. a
build from before a change and one from after), it alternates them clip by
clip and round by round (A B A B ...), so both see the same background
load, and prints each binary's total per round, the medians and their ratio;
the reports of the two must agree, or it says which differ.

    .venv/bin/python benches/eval_time.py --rounds 3 BEFORE_BINARY target/release/watchpost
"""

import argparse
import os
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUARDS = [
    ("tests/truth/vtest_lines_eval.toml", "vtest_lines.toml", "vtest.avi", 10),
    ("tests/truth/vtest_zones_eval.toml", "vtest_zones.toml", "vtest.avi", 10),
    ("tests/truth/bikes_objects_eval.toml", "bikes_objects.toml", "bikes.mp4", 25),
    ("tests/replay/facade_throw.toml", "facade_throws.toml", "throw_parabola_640x360_25fps.mp4", 5),
    ("tests/replay/facade_throw.toml", "facade_sideways.toml", "throw_sideways_640x360_25fps.mp4", 5),
]


def eval_once(binary, config, labels, clip, fps):
    argv = [binary, "eval", "--json", "--fps", str(fps), "--config", os.path.join(ROOT, config),
            "--labels", os.path.join(ROOT, "tests/truth", labels), os.path.join(ROOT, "media", clip)]
    t0 = time.perf_counter()
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{argv}: {out.stderr}")
    return time.perf_counter() - t0, out.stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()
    totals = {b: [] for b in args.binaries}
    reports = {}
    for round_ in range(1, args.rounds + 1):
        sums = dict.fromkeys(args.binaries, 0.0)
        for guard in GUARDS:
            for binary in args.binaries:
                secs, report = eval_once(binary, *guard)
                sums[binary] += secs
                # the reports without the recording's path
                reports.setdefault(guard, {})[binary] = report.split('"rules"', 1)[-1]
        for binary, total in sums.items():
            totals[binary].append(total)
        load = os.getloadavg()[0]
        print(f"round {round_} (load {load:.1f}): " + ", ".join(f"{b}: {s:.1f} s" for b, s in sums.items()), flush=True)
    for binary, runs in totals.items():
        print(f"{binary}: median {statistics.median(runs):.1f} s over {len(GUARDS)} evals ({', '.join(f'{r:.1f}' for r in runs)})")
    if len(args.binaries) == 2:
        a, b = args.binaries
        print(f"ratio {a} / {b}: {statistics.median(totals[a]) / statistics.median(totals[b]):.2f}")
        per_round = [x / y for x, y in zip(totals[a], totals[b])]
        print("per round: " + ", ".join(f"{r:.2f}" for r in per_round))
    for guard, by_binary in reports.items():
        if len(set(by_binary.values())) > 1:
            print(f"reports differ on {guard[2]} with {guard[1]}")


if __name__ == "__main__":
    main()
