"""What a failing run costs against a passing run of the same models: confirmation and op narrowing.

The transformer twin (tests/models) is compared torch → paddle twice, each time in `--repeats` fresh
processes: `clean` (must pass) and `planted` (paddle's first attention block takes its softmax over the
wrong axis: must fail at blocks.0.attn, after the confirmation run and the search for the op). A worker
warms both models up with one bare forward+backward, then times one `padiff.compare` in CPU seconds of
the process (torch on one thread, as paddle's CPU kernels). Reported: the medians and planted over clean.

    python bench/failing.py                      # depth 6, d_model 128, seq 64, batch 4
    python bench/failing.py --depth 12 --json failing.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PLANT, CULPRIT = "softmax_axis", "blocks.0.attn"


def _worker(mode: str, size: dict) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    import torch
    from tests.models import build, example_input

    import padiff

    torch.set_num_threads(1)
    base = build("transformer", "torch", **size)
    raw = build("transformer", "paddle", plant=PLANT if mode == "planted" else None, **size)
    x = example_input("transformer", **size)
    padiff.compare(base, raw, x)  # warm-up: first calls of every kernel, on both sides
    start = time.process_time()
    report = padiff.compare(base, raw, x)
    seconds = time.process_time() - start
    culprit = report.first_diff.base_path if report.first_diff is not None else None
    return {"seconds": seconds, "passed": report.passed, "culprit": culprit}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--depth", type=int, default=6)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", choices=("clean", "planted"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = {"depth": args.depth, "d_model": args.d_model, "seq": args.seq, "batch": args.batch, "heads": 4}
    if args.worker:
        print(json.dumps(_worker(args.worker, size)))
        return 0
    medians = {}
    for mode in ("clean", "planted"):
        runs = []
        for _ in range(args.repeats):
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode]
            command += ["--depth", str(args.depth), "--d-model", str(args.d_model)]
            command += ["--seq", str(args.seq), "--batch", str(args.batch)]
            done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stdout + done.stderr)
                raise SystemExit(f"the {mode} worker failed")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        expected = (True, None) if mode == "clean" else (False, CULPRIT)
        if any((run["passed"], run["culprit"]) != expected for run in runs):
            raise SystemExit(f"{mode}: expected (passed, culprit) {expected}, got {runs}")
        medians[mode] = statistics.median(run["seconds"] for run in runs)
    ratio = medians["planted"] / medians["clean"]
    print(f"transformer twin {size}, CPU seconds, median of {args.repeats} fresh processes")
    print(f"clean {medians['clean']:.2f} s, planted {medians['planted']:.2f} s: failing/passing {ratio:.2f}x")
    if args.json:
        payload = {"size": size, "repeats": args.repeats, **medians, "ratio": ratio}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
