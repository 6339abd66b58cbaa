"""What padiff costs: time and memory of `padiff.compare` against a bare forward+backward of both models.

  bare    forward + backward (loss = output.mean()) of the torch model, then of the paddle model, with
          dropout off as padiff runs them (the twin has no BatchNorm: eval mode only stops dropout)
  padiff  padiff.compare(torch_model, paddle_model, x)

Time: one fresh Python process (this script with `--worker time`) builds the transformer twin from
tests/models, warms both models up with one bare forward+backward, then runs bare and padiff in turn,
`--repeats` times each, so that a neighbour's load on a shared machine falls on both alike; reported
are the medians of wall and CPU time (on a shared machine wall time also measures the neighbours).
Memory: one fresh process per mode (`--worker bare|padiff`), each call's peak resident memory as an
increment over the resident memory just before it (the kernel's high-water mark is reset first), with
MALLOC_MMAP_THRESHOLD_ set so that glibc hands large freed blocks back to the OS, which keeps the
"before" level honest from one repeat to the next; reported are the largest increment and the largest
peak RSS seen during a call.

    python bench/overhead.py                          # default size: depth 12, d_model 256, seq 128, batch 8
    python bench/overhead.py --depth 2 --seq 32 --json bench.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from procstat import medians, reset_peak_rss, status_kib

REPO_ROOT = Path(__file__).resolve().parent.parent
MODES = ("bare", "padiff")
MODEL = "transformer"
HEADS = 4
KIB_PER_MB = 1024


# ----------------------------------------------------------------------------- memory probes (Linux)


def _measure(call: Callable[[], object]) -> dict[str, float]:
    gc.collect()
    reset_peak_rss()
    rss_before = status_kib("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    call()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    peak = status_kib("VmHWM")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "increment_mb": (peak - rss_before) / KIB_PER_MB,
        "peak_mb": peak / KIB_PER_MB,
    }


# ----------------------------------------------------------------------------- worker side


def _first_tensor(output):
    """The loss input: the output itself, or the first element of a tuple/list output."""
    while isinstance(output, (tuple, list)):
        output = output[0]
    return output


def _bare_torch(model, x) -> None:
    import torch

    model.zero_grad(set_to_none=True)
    _first_tensor(model(torch.from_numpy(x))).mean().backward()


def _bare_paddle(model, x) -> None:
    import paddle

    model.clear_gradients(set_to_zero=False)
    _first_tensor(model(paddle.to_tensor(x))).mean().backward()


def _size(args: argparse.Namespace) -> dict[str, int]:
    """Keyword arguments of tests.models.build / example_input."""
    return {
        "depth": args.depth,
        "d_model": args.d_model,
        "seq": args.seq,
        "batch": args.batch,
        "heads": HEADS,
    }


def _worker(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.models import build, example_input

    size = _size(args)
    torch_model = build(MODEL, "torch", **size)
    paddle_model = build(MODEL, "paddle", **size)
    x = example_input(MODEL, **size)

    def bare() -> None:
        for model in (torch_model, paddle_model):
            model.eval()  # dropout off, as padiff runs the models
        try:
            _bare_torch(torch_model, x)
            _bare_paddle(paddle_model, x)
        finally:
            for model in (torch_model, paddle_model):
                model.train()

    outcome: dict[str, object] = {}

    def compare() -> None:
        import padiff

        torch_model.zero_grad(set_to_none=True)
        paddle_model.clear_gradients(set_to_zero=False)
        report = padiff.compare(torch_model, paddle_model, x, memory_budget=args.memory_budget)
        outcome["passed"] = report.passed

    calls = {"bare": bare, "padiff": compare}
    bare()  # warm-up: first-call allocations and kernel selection stay out of the measurement
    if args.worker == "time":  # bare and padiff in turn, in this one process
        runs = [{mode: _measure(call) for mode, call in calls.items()} for _ in range(args.repeats)]
        result: dict[str, object] = {mode: medians([run[mode] for run in runs]) for mode in calls}
    else:
        runs_of = [_measure(calls[args.worker]) for _ in range(args.repeats)]
        result = {
            "mode": args.worker,
            **medians(runs_of),
            "increment_mb": max(run["increment_mb"] for run in runs_of),
            "total_peak_mb": max(run["peak_mb"] for run in runs_of),
        }
    Path(args.result).write_text(json.dumps({**result, **outcome}))


# ----------------------------------------------------------------------------- parent side


def _run_worker(mode: str, args: argparse.Namespace, result_path: Path, probe: str) -> dict[str, Any]:
    """One fresh worker. probe "memory" sets MALLOC_MMAP_THRESHOLD_ so freed blocks return to the OS and
    increments are honest; probe "time" leaves the allocator as users have it (the setting makes every
    large allocation a fresh, page-faulting mapping, which would charge padiff's numpy copies unfairly)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--result", str(result_path)]
    command += ["--repeats", str(args.repeats), "--depth", str(args.depth), "--d-model", str(args.d_model)]
    command += ["--seq", str(args.seq), "--batch", str(args.batch)]
    if args.memory_budget is not None:
        command += ["--memory-budget", str(args.memory_budget)]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536") if probe == "memory" else dict(os.environ)
    print(f"running {mode} ({probe}) ...", file=sys.stderr, flush=True)
    completed = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(
            f"the {mode} worker failed (exit status {completed.returncode}); its output is above"
        )
    return json.loads(result_path.read_text())


def _ratios(results: dict[str, dict]) -> dict[str, float]:
    if not all(mode in results for mode in MODES):
        return {}
    bare, padiff = results["bare"], results["padiff"]
    return {
        "time": padiff["seconds"] / bare["seconds"],
        "cpu_time": padiff["cpu_seconds"] / bare["cpu_seconds"],
        "increment": padiff["increment_mb"] / max(bare["increment_mb"], 1e-9),
        "total_peak": padiff["total_peak_mb"] / bare["total_peak_mb"],
    }


def _print_table(results: dict[str, dict], ratios: dict[str, float], args: argparse.Namespace) -> None:
    print(
        f"{MODEL}: depth={args.depth} d_model={args.d_model} seq={args.seq} batch={args.batch} heads={HEADS}, "
        f"median of {args.repeats} repeats"
    )
    print(f"{'mode':<8} {'time s':>9} {'peak incr MB':>13} {'total peak MB':>14}")
    for mode, row in results.items():
        cells = f"{row['seconds']:>9.3f} {row['increment_mb']:>13.1f} {row['total_peak_mb']:>14.1f}"
        note = "" if "passed" not in row else f"  (report.passed={row['passed']})"
        print(f"{mode:<8} {cells}{note}")
    if ratios:
        print(
            f"padiff/bare: time {ratios['time']:.2f}x (CPU time {ratios['cpu_time']:.2f}x), peak increment {ratios['increment']:.2f}x, "
            f"total peak {ratios['total_peak']:.2f}x"
        )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="measured calls per mode (default 3)")
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--memory-budget", type=int, help="padiff.compare's memory_budget= in bytes (default: its own)"
    )
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="modes to run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    parser.add_argument("--worker", choices=(*MODES, "time"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.worker:
        _worker(args)
        return 0
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="padiff-bench-") as scratch:
        timed = _run_worker("time", args, Path(scratch) / "time.json", "time")
        for mode in args.modes:
            sized = _run_worker(mode, args, Path(scratch) / f"{mode}-memory.json", "memory")
            results[mode] = {
                **sized,
                "seconds": timed[mode]["seconds"],
                "cpu_seconds": timed[mode]["cpu_seconds"],
                "time_runs": timed[mode]["runs"],
            }
        if "padiff" in results:
            results["padiff"]["passed"] = bool(timed.get("passed")) and bool(results["padiff"].get("passed"))
    if results.get("padiff", {}).get("passed") is False:
        raise SystemExit("padiff did not pass the clean transformer twin")
    ratios = _ratios(results)
    _print_table(results, ratios, args)
    if args.json:
        config = {"model": MODEL, **_size(args), "repeats": args.repeats, "memory_budget": args.memory_budget}
        payload = {"config": config, "results": results, "ratios": ratios}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
