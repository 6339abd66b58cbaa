"""padiff 0.2.0 from PyPI on the workloads of overhead.py and loops.py, against a bare run, for RESULTS.md.

0.2.0 runs in its own venv (`make upstream`: padiff==0.2.0 beside the same pinned torch and paddle as
.venv), through its public `auto_diff(paddle_model, torch_model, [paddle_inputs, torch_inputs], options=)`
with its weight copy on. Every measured call is one fresh process of that venv's Python (`--worker`),
`--repeats` of them per workload and mode:

  bare      forward + backward (loss = output.mean()) of the torch model, then of the paddle model
  upstream  padiff 0.2.0's auto_diff of the pair

  transformer  the twin of overhead.py (tests/models, depth 12, d_model 256, seq 128, batch 8), measured
               as overhead.py measures it: one call after a bare warm-up, wall and CPU seconds in one
               process with the allocator as users have it, the peak-RSS increment over the RSS just
               before the call in another with MALLOC_MMAP_THRESHOLD_ set. Both models in eval mode:
               0.2.0 does not switch dropout off, so in train mode the twins could not agree.
  loop         the Linear+tanh cell of loops.py called 250, 1,000 and 4,000 times, measured as loops.py
               measures it: CPU seconds of the process, torch on one thread.

0.2.0 gets OPTIONS below (its own defaults, rtol 1e-7 and atol 0, fail float32 twins on rounding). Each
call's verdict is recorded: passed, failed, crashed (the exception's type and first line: a result, not
an error of this script) or timed out (the remaining repeats of that row are then skipped).

    python bench/upstream.py                                  # both workloads, 3 processes each
    python bench/upstream.py --workloads loop --calls 250 --json upstream.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from procstat import reset_peak_rss, status_kib

REPO_ROOT = Path(__file__).resolve().parent.parent
UPSTREAM_PYTHON = REPO_ROOT / ".venv-upstream" / "bin" / "python"
VERSION = "0.2.0"
OPTIONS = {"atol": 1e-4, "rtol": 1e-4}  # float32 rtol of padiff's default tolerance
TRANSFORMER = {"depth": 12, "d_model": 256, "seq": 128, "batch": 8, "heads": 4}
WIDTH, BATCH = 32, 4  # loops.py's cell and input
KIB_PER_MB = 1024


# ----------------------------------------------------------------------------- worker side


def _transformer_pair() -> tuple:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.models import build, example_input

    torch_model, paddle_model = (
        build("transformer", "torch", **TRANSFORMER),
        build("transformer", "paddle", **TRANSFORMER),
    )
    torch_model.eval()
    paddle_model.eval()
    return torch_model, paddle_model, example_input("transformer", **TRANSFORMER)


def _loop_pair(calls: int) -> tuple:
    import numpy as np
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from loops import _models

    torch.set_num_threads(1)
    torch_model, paddle_model = _models(calls)
    x = (np.random.default_rng(0).standard_normal((BATCH, WIDTH)) * 0.1).astype(np.float32)
    return torch_model, paddle_model, x


def _upstream_call(torch_model, paddle_model, x, log_dir: str):
    """0.2.0's auto_diff of the pair; its verdict as a string. 0.2.0 writes diff_log/ beside sys.path[0]
    (read when it is imported), so that is pointed at a scratch folder first."""
    import paddle
    import torch

    sys.path.insert(0, log_dir)
    import padiff

    inputs = [{"x": paddle.to_tensor(x)}, {"x": torch.from_numpy(x)}]

    def call() -> str:
        torch_model.zero_grad(set_to_none=True)  # the warm-up's gradients, as overhead.py clears them
        paddle_model.clear_gradients(set_to_zero=False)
        try:
            passed = padiff.auto_diff(paddle_model, torch_model, inputs, options=dict(OPTIONS))
        except Exception as error:  # 0.2.0 crashing is a result
            first_line = (str(error).strip().splitlines() or [""])[0]
            return f"crashed: {type(error).__name__}: {first_line}"[:300]
        return "passed" if passed else "failed"

    return call


def _worker(args: argparse.Namespace) -> dict:
    import paddle
    import torch

    if args.workload == "transformer":
        torch_model, paddle_model, x = _transformer_pair()
    else:
        torch_model, paddle_model, x = _loop_pair(args.calls)

    def bare() -> None:
        torch_model.zero_grad(set_to_none=True)
        torch_model(torch.from_numpy(x)).mean().backward()
        paddle_model.clear_gradients(set_to_zero=False)
        paddle_model(paddle.to_tensor(x)).mean().backward()

    bare()  # warm-up, as overhead.py and loops.py do
    call = _upstream_call(torch_model, paddle_model, x, args.log_dir) if args.worker == "upstream" else bare
    gc.collect()
    reset_peak_rss()  # the peak-RSS mark back to the current RSS
    rss_before = status_kib("VmRSS")
    start, cpu_start = time.perf_counter(), time.process_time()
    verdict = call()
    run = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu_start,
        "increment_mb": (status_kib("VmHWM") - rss_before) / KIB_PER_MB,
    }
    return {**run, "verdict": verdict} if verdict is not None else run


# ----------------------------------------------------------------------------- parent side


def _process(args: argparse.Namespace, mode: str, workload: str, calls: int, probe: str) -> dict:
    """One fresh worker; a crash of the whole process or a timeout is recorded as upstream's verdict."""
    with tempfile.TemporaryDirectory(prefix="padiff-upstream-") as scratch:
        result = Path(scratch) / "result.json"
        command = [str(args.python), str(Path(__file__).resolve()), "--worker", mode, "--workload", workload]
        command += ["--calls", str(calls), "--result", str(result), "--log-dir", scratch]
        env = dict(os.environ, PYTHONWARNINGS="ignore:No ccache found")
        if probe == "memory":
            env["MALLOC_MMAP_THRESHOLD_"] = "65536"  # freed blocks go back to the OS: honest "before"
        try:
            done = subprocess.run(
                command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=args.timeout
            )
        except subprocess.TimeoutExpired:
            return {"verdict": f"timed out after {args.timeout:.0f} s"}
        if done.returncode == 0 and result.is_file():
            return json.loads(result.read_text())
        if mode == "upstream":
            return {"verdict": f"crashed: the process exited with status {done.returncode}"}
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"the bare {workload} worker failed (exit status {done.returncode})")


def _row(args: argparse.Namespace, mode: str, workload: str, calls: int, probe: str) -> dict:
    """`--repeats` fresh processes: medians of what they measured, and every verdict."""
    runs: list[dict] = []
    for _ in range(args.repeats):
        print(f"  {mode} {workload} {calls or ''} ({probe}) ...", file=sys.stderr, flush=True)
        runs.append(_process(args, mode, workload, calls, probe))
        if runs[-1].get("verdict", "").startswith("timed out"):
            break
    measured = [run for run in runs if "seconds" in run]
    row: dict = {"runs": runs}
    if mode == "upstream":
        row["verdicts"] = [run["verdict"] for run in runs]
    if measured:
        row["seconds"] = statistics.median(run["seconds"] for run in measured)
        row["cpu_seconds"] = statistics.median(run["cpu_seconds"] for run in measured)
        row["increment_mb"] = max(run["increment_mb"] for run in measured)
    return row


def _ratio(upstream: dict, bare: dict, key: str) -> float | None:
    return upstream[key] / max(bare[key], 1e-9) if key in upstream and key in bare else None


def _transformer(args: argparse.Namespace) -> dict:
    results = {}
    for mode in ("bare", "upstream"):
        timed, sized = (
            _row(args, mode, "transformer", 0, "time"),
            _row(args, mode, "transformer", 0, "memory"),
        )
        results[mode] = {
            "seconds": timed.get("seconds"),
            "cpu_seconds": timed.get("cpu_seconds"),
            "increment_mb": sized.get("increment_mb"),
            "time_runs": timed["runs"],
            "memory_runs": sized["runs"],
        }
        if mode == "upstream":
            results[mode]["verdicts"] = timed["verdicts"] + sized["verdicts"]
    bare, upstream = results["bare"], {k: v for k, v in results["upstream"].items() if v is not None}
    ratios = {name: _ratio(upstream, bare, key) for name, key in _RATIOS.items()}
    return {
        "config": {"model": "transformer", **TRANSFORMER, "mode": "eval"},
        "results": results,
        "ratios": ratios,
    }


_RATIOS = {"time": "seconds", "cpu_time": "cpu_seconds", "increment": "increment_mb"}


def _loops(args: argparse.Namespace) -> dict:
    rows = []
    for calls in args.calls:
        bare, upstream = (
            _row(args, "bare", "loop", calls, "time"),
            _row(args, "upstream", "loop", calls, "time"),
        )
        ratio = _ratio(upstream, bare, "cpu_seconds")
        rows.append({"calls": calls, "bare": bare, "upstream": upstream, "ratio": ratio})
    return {"rows": rows}


def _print(payload: dict) -> None:
    print(f"padiff {VERSION} (options {OPTIONS}) against bare, median of fresh processes")
    if "transformer" in payload:
        results, ratios = payload["transformer"]["results"], payload["transformer"]["ratios"]
        print(
            f"transformer twin: bare {results['bare']['seconds']:.2f} s, +{results['bare']['increment_mb']:.0f} MB; "
            f"{VERSION}: {ratios}; verdicts {results['upstream']['verdicts']}"
        )
    for row in payload.get("loop", {}).get("rows", []):
        print(
            f"cell x{row['calls']}: bare {row['bare']['cpu_seconds']:.3f} s CPU, {VERSION} "
            f"{row['upstream'].get('cpu_seconds', float('nan')):.3f} s ({row['ratio']}x); "
            f"verdicts {row['upstream']['verdicts']}"
        )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", type=Path, default=UPSTREAM_PYTHON, help="the venv with padiff 0.2.0")
    parser.add_argument(
        "--workloads", nargs="+", choices=("transformer", "loop"), default=["transformer", "loop"]
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per workload and mode")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one process may take")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", choices=("bare", "upstream"), help=argparse.SUPPRESS)
    parser.add_argument("--workload", choices=("transformer", "loop"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--log-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.worker:
        args.calls = args.calls[0]
        Path(args.result).write_text(json.dumps(_worker(args)))
        return 0
    if not args.python.exists():
        raise SystemExit(f"{args.python} is missing: `make upstream` builds it")
    payload: dict = {"version": VERSION, "options": OPTIONS, "repeats": args.repeats}
    if "transformer" in args.workloads:
        payload["transformer"] = _transformer(args)
    if "loop" in args.workloads:
        payload["loop"] = _loops(args)
    _print(payload)
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
