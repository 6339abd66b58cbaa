"""What padiff costs on real CNNs: torchvision against paddle.vision at 224×224, against a bare run.

Runs in the models venv (`make bench` uses $(MODELS_PY): torchvision needs a newer torch). One fresh
process per model (`--worker NAME`) builds the pair as tests/real/zoo.py does (random weights, eval
mode), warms up with one bare forward+backward of both, then times `--repeats` bare runs and
`--repeats` `padiff.compare` runs (wall and CPU seconds of the process), the first compare with the
kernel's peak-RSS mark reset before it: its peak resident memory over the resident memory before it is
the memory figure (the bare figure the same way, for the first bare run). Every compare must pass.

    .venv-models/bin/python bench/cnn.py                       # resnet50, vgg11, wide_resnet50_2
    .venv-models/bin/python bench/cnn.py --models resnet50 --json cnn.json
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
MODELS = ("resnet50", "vgg11", "wide_resnet50_2")
SIDE = 224


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _timed(call, probe_memory: bool) -> dict:
    if probe_memory:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # the peak-RSS mark back to the current RSS
    before = _status_kib("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    run = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
    if probe_memory:
        run["increment_mb"] = (_status_kib("VmHWM") - before) / 1024
    return run


def _worker(name: str, repeats: int) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.real.zoo import ARCHS, bare_seconds, build_pair, images

    import padiff

    base, raw = build_pair(ARCHS[name], "eval")
    x = images(ARCHS[name], size=SIDE)
    bare_seconds(base, raw, x)  # warm-up
    bare = [_timed(lambda: bare_seconds(base, raw, x), i == 0) for i in range(repeats)]
    passed: list[bool] = []
    runs = [
        _timed(lambda: passed.append(padiff.compare(base, raw, x).passed), i == 0) for i in range(repeats)
    ]
    if not all(passed):
        raise SystemExit(f"{name}: padiff did not pass the same network ({passed})")
    result = {"model": name, "input": f"2x3x{SIDE}x{SIDE}", "mode": "eval"}
    for mode, timed in (("bare", bare), ("padiff", runs)):
        result[mode] = {
            "seconds": statistics.median(run["seconds"] for run in timed),
            "cpu_seconds": statistics.median(run["cpu_seconds"] for run in timed),
            "increment_mb": timed[0]["increment_mb"],
        }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.repeats)))
        return 0
    rows = []
    for name in args.models:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", name]
        done = subprocess.run(
            command + ["--repeats", str(args.repeats)], cwd=REPO_ROOT, capture_output=True, text=True
        )
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"the {name} worker failed")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        bare, padiff = row["bare"], row["padiff"]
        row["ratio"] = padiff["seconds"] / bare["seconds"]
        row["cpu_ratio"] = padiff["cpu_seconds"] / bare["cpu_seconds"]
        row["memory_ratio"] = padiff["increment_mb"] / max(bare["increment_mb"], 1e-9)
        rows.append(row)
        print(
            f"{name}: bare {bare['seconds']:.2f} s, padiff {padiff['seconds']:.2f} s ({row['ratio']:.2f}x, "
            f"CPU {row['cpu_ratio']:.2f}x); memory +{bare['increment_mb']:.0f} / +{padiff['increment_mb']:.0f} MB "
            f"({row['memory_ratio']:.2f}x)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
