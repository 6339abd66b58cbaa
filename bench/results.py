"""Write bench/RESULTS.md from the JSON files `make bench` leaves in a folder, against issue 14's targets.

Reads overhead.json (bench/overhead.py: the transformer twin at padiff's default memory_budget),
overhead_spill.json (the same with a 64 MB budget, so most of base's trace spills),
overhead_depth6.json and overhead_depth24.json (the doubling check: 6 and 24 blocks), loops.json
(bench/loops.py: a cell called in a loop), failing.json (bench/failing.py: a failing run against its
passing run), cnn.json (bench/cnn.py: torchvision against paddle.vision at 224) and chunked.json
(bench/chunked.py: one large pair), whichever are there, and prints the
table it writes. Each row says the target and whether this run holds it.

    python bench/results.py build/bench            # writes bench/RESULTS.md
    python bench/results.py build/bench --out -    # prints only
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load(folder: Path, name: str) -> dict | None:
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _holds(value: float, limit: float) -> str:
    return "holds" if value <= limit else "**does not hold**"


def _overhead_rows(data: dict) -> list[str]:
    config, results, ratios = data["config"], data["results"], data["ratios"]
    bare, padiff = results["bare"], results["padiff"]
    budget = config.get("memory_budget")
    name = (
        f"{config['depth']}-block transformer twin (d={config['d_model']}, seq {config['seq']}, "
        f"batch {config['batch']}), memory_budget="
        + ("default" if budget is None else f"{budget / 2**20:.0f} MB")
    )
    rows = [
        f"| {name}: time | {bare['seconds']:.2f} s | {padiff['seconds']:.2f} s | {ratios['time']:.2f}× "
        f"| ≤ 1.2× | {_holds(ratios['time'], 1.2)} |",
        f"| {name}: peak memory increment | {bare['increment_mb']:.0f} MB | {padiff['increment_mb']:.0f} MB "
        f"| {ratios['increment']:.2f}× | ≤ 1.5× | {_holds(ratios['increment'], 1.5)} |",
    ]
    if "cpu_time" in ratios:
        rows.insert(
            1,
            f"| {name}: CPU time | {bare['cpu_seconds']:.2f} s | {padiff['cpu_seconds']:.2f} s "
            f"| {ratios['cpu_time']:.2f}× | ≤ 1.2× | {_holds(ratios['cpu_time'], 1.2)} |",
        )
    return rows


def _loop_rows(data: dict) -> list[str]:
    rows = []
    for row in data["rows"]:
        calls, ratio = row["calls"], row["ratio"]
        target = "≤ 8×" if calls == 1000 else "—"
        verdict = _holds(ratio, 8.0) if calls == 1000 else ""
        rows.append(
            f"| Linear+tanh cell, {calls:,} calls (CPU s) | {row['bare']['seconds']:.2f} s "
            f"| {row['padiff']['seconds']:.2f} s | {ratio:.1f}× | {target} | {verdict} |"
        )
    by_calls = {row["calls"]: row for row in data["rows"]}
    if 1000 in by_calls and 4000 in by_calls:
        growth = by_calls[4000]["padiff"]["seconds"] / by_calls[1000]["padiff"]["seconds"]
        rows.append(
            f"| cell loop, 1,000 → 4,000 calls: padiff's time grows | | | {growth:.2f}× | ≤ 4.4× "
            f"| {_holds(growth, 4.4)} |"
        )
    return rows


def _failing_rows(data: dict) -> list[str]:
    size = data["size"]
    name = f"transformer twin (depth {size['depth']}, d={size['d_model']}), planted softmax axis vs clean"
    return [
        f"| {name} (CPU s) | clean {data['clean']:.2f} s | planted {data['planted']:.2f} s "
        f"| {data['ratio']:.2f}× | ≤ 3× | {_holds(data['ratio'], 3.0)} |"
    ]


def _doubling_rows(folder: Path) -> list[str]:
    """padiff over bare at 6, 12 and 24 blocks: constant ratios mean padiff grows as the models do."""
    runs = [_load(folder, name) for name in ("overhead_depth6", "overhead", "overhead_depth24")]
    if any(run is None or run["config"].get("memory_budget") is not None for run in runs):
        return []
    depths = "/".join(str(run["config"]["depth"]) for run in runs if run)
    times = " / ".join(f"{run['ratios']['time']:.2f}×" for run in runs if run)
    memory = " / ".join(f"{run['ratios']['increment']:.2f}×" for run in runs if run)
    return [
        f"| doubling check, transformer twin at {depths} blocks: time over bare | | | {times} | linear | |",
        f"| doubling check, transformer twin at {depths} blocks: memory over bare | | | {memory} | linear | |",
    ]


def _cnn_rows(data: dict) -> list[str]:
    rows = []
    for row in data["rows"]:
        name, bare, padiff = row["model"], row["bare"], row["padiff"]
        limit = 2.0 if name.startswith("vgg") else 1.5
        label = f"torchvision {name} vs paddle.vision, {row['mode']}, {row['input']}"
        rows += [
            f"| {label}: time | {bare['seconds']:.2f} s | {padiff['seconds']:.2f} s | {row['ratio']:.2f}× "
            f"| ≤ {limit:g}× | {_holds(row['ratio'], limit)} |",
            f"| {label}: CPU time | {bare['cpu_seconds']:.2f} s | {padiff['cpu_seconds']:.2f} s "
            f"| {row['cpu_ratio']:.2f}× | ≤ {limit:g}× | {_holds(row['cpu_ratio'], limit)} |",
            f"| {label}: peak memory increment | {bare['increment_mb']:.0f} MB | {padiff['increment_mb']:.0f} MB "
            f"| {row['memory_ratio']:.2f}× | ≤ 1.5× | {_holds(row['memory_ratio'], 1.5)} |",
        ]
    return rows


def _chunk_rows(data: dict) -> list[str]:
    limit = 8 * data["chunk_mb"]  # a few chunks of float64 temporaries
    return [
        f"| compare_arrays, {data['elements']:,} float32 elements ({data['tensor_mb']:.0f} MB a side), "
        f"failing | | {data['seconds']:.2f} s ({data['gb_per_s']:.2f} GB/s) | +{data['increment_mb']:.1f} MB "
        f"| ≤ {limit:.0f} MB (8 chunks), not a copy of the tensor | {_holds(data['increment_mb'], limit)} |"
    ]


def render(folder: Path) -> str:
    lines = [
        "# Benchmarks (issue 14)",
        "",
        f"Written by `make bench` (bench/results.py) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, Python {platform.python_version()}, {_cpus()} CPUs. Times are medians of "
        "fresh processes, ratios against a bare forward+backward of both models in the same kind of process; "
        "on a shared machine they move by tens of percent from one run to the next. Every padiff run "
        "asserts its expected verdict (clean twins pass, the planted element fails).",
        "",
        "| workload | bare | padiff | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    sections = (
        ("overhead", _overhead_rows),
        ("overhead_spill", _overhead_rows),
        ("overhead_depth6", _overhead_rows),
        ("overhead_depth24", _overhead_rows),
        ("loops", _loop_rows),
        ("failing", _failing_rows),
        ("cnn", _cnn_rows),
        ("chunked", _chunk_rows),
    )
    for name, rows in sections:
        data = _load(folder, name)
        if data is not None:
            lines += rows(data)
    lines += _doubling_rows(folder)
    lines += ["", *NOT_MEASURED]
    return "\n".join(lines) + "\n"


NOT_MEASURED = [
    "The memory rows: beyond a bare run, padiff holds base's trace (each compared tensor of base's run,",
    "activations and gradients, released as raw's counterpart is compared). At the default memory_budget",
    "(a quarter of the available RAM) all of it stays in memory, which is the gap to the 1.5× target; with",
    "a 64 MB budget most of it goes to the temporary file (charged as time) and about twice bare remains.",
    "The CNN rows: each clean run whose first pass crosses the tolerance is confirmed by a second,",
    "single-step run of the whole model (resnet50's backward: accumulated rounding, cleared there), which",
    "doubles its cost; their memory increments are read in the timing process after a warm-up (the",
    "allocator as users have it), so bare's figure is what a second bare run adds, low where the",
    "allocator reuses the first run's blocks.",
    "The loop and failing rows are CPU seconds of single-threaded processes (wall medians are in the JSON",
    "files): on a shared machine, wall time also measures the neighbours.",
    "",
    "Not measured here (see issue 14): padiff 0.2.0 side by side (`.venv-upstream`), the",
    "train-mode rows and the GPU rows (no GPU on the machine these were taken on).",
]


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="'-': print only")
    args = parser.parse_args(argv)
    text = render(args.folder)
    sys.stdout.write(text)
    if args.out != "-":
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
