"""What comparing one large pair costs: `compare_arrays` on two float32 tensors of N elements.

In a fresh process (this script with `--worker`), base and raw are made (raw = base plus a difference
of one element, planted far into the array, so the comparison must fail and count the share within
tolerance: its slowest path), then `compare_arrays` runs with the kernel's peak-RSS mark reset just
before it. Reported: seconds, GB/s of base data, the peak resident memory during the call over the
resident memory before it, and that increment in chunks (`padiff.judge.chunks.CHUNK` float64
elements, the largest temporary a chunk makes). The target: the increment stays within a few chunks
whatever N is, where a whole-array comparison would add several copies of the tensor.

    python bench/chunked.py                          # 100M elements (400 MB per side)
    python bench/chunked.py --elements 10000000 --json chunked.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from procstat import reset_peak_rss, status_kib

REPO_ROOT = Path(__file__).resolve().parent.parent


def _worker(elements: int) -> dict:
    import numpy as np

    from padiff.judge.chunks import CHUNK
    from padiff.judge.metrics import compare_arrays

    base = np.random.default_rng(0).standard_normal(elements, dtype=np.float32)
    raw = base.copy()
    planted = elements - elements // 7
    raw[planted] += 1.0
    reset_peak_rss()  # the peak-RSS mark back to the current RSS
    before = status_kib("VmRSS")
    start = time.perf_counter()
    diff = compare_arrays(base, raw)
    seconds = time.perf_counter() - start
    increment_kib = status_kib("VmHWM") - before
    if diff.passed or diff.worst_index != (planted,):
        raise SystemExit(f"the planted element was not found: {diff}")
    return {
        "elements": elements,
        "seconds": seconds,
        "gb_per_s": base.nbytes / seconds / 1e9,
        "increment_mb": increment_kib / 1024,
        "tensor_mb": base.nbytes / 2**20,
        "chunk_mb": CHUNK * 8 / 2**20,
        "verdict": "FAIL at the planted element, as expected",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--elements", type=int, default=100_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.elements)))
        return 0
    runs = []
    for _ in range(args.repeats):
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            "--elements",
            str(args.elements),
        ]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit("the worker failed")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    runs.sort(key=lambda run: run["seconds"])
    median = runs[len(runs) // 2]
    worst = max(run["increment_mb"] for run in runs)
    print(
        f"compare_arrays on {args.elements:,} float32 elements per side, median of {args.repeats} processes"
    )
    print(
        f"{median['seconds']:.2f} s ({median['gb_per_s']:.2f} GB/s of base data); peak memory increment "
        f"{worst:.1f} MB (the tensor: {median['tensor_mb']:.0f} MB)"
    )
    if args.json:
        result = {**median, "increment_mb": worst, "runs": runs}
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
