"""The float64 judge (padiff.judge.rounding): how much of its bound clean ports use, how far planted
changes sit above it, and what judging costs a failing run.

Headroom. Clean twins (the five planted twins without their plant, and generated twins from tests/gen.py)
are compared with `single_step=True` and a tolerance of rtol 1e-12, atol 0, so that nearly every pair
fails the tolerance and goes to the judge (the per-step cap lifted). For each pair the judge decides,
`worst_ratio` is the largest |raw - ref| / (K * base's error + ulp) over its elements: 1.0 is the bound.
The same for the culprit of each planted change (its real tolerance).

Low precision. The five twins with a torch float32 base against the torch model cast to bfloat16 and
to float16, the same way.

Cost. The cnn twin at batch 32: a bare forward+backward of both models, a passing compare (the judge
never runs), and a failing one (a BatchNorm epsilon planted); the judge's own time is timed around
`Referee.judge`, with the pairs it judged and the unit runs (each in float64, base's dtype, rounded).
torch runs on one thread here (paddle's CPU kernels are single-threaded too).

    python bench/judge.py                      # 30 generated seeds
    python bench/judge.py --seeds 200 --json judge.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests import gen  # noqa: E402
from tests.models import PLANTS, TWINS, build, example_input  # noqa: E402

import padiff  # noqa: E402
from padiff.judge import referee  # noqa: E402
from padiff.judge.rounding import K  # noqa: E402

TIGHT = {"rtol": 1e-12, "atol": 0.0}


def _undecided(report: padiff.Report) -> int:
    return sum(d.judged is not None and d.judged.excused is None for d in report.diffs)


def _ratios(report: padiff.Report) -> list[float]:
    return [
        d.judged.worst_ratio for d in report.diffs if d.judged is not None and d.judged.excused is not None
    ]


def _culprit_ratio(report: padiff.Report) -> float | None:
    culprit = report.first_diff
    judged = culprit.evidence.judged if culprit is not None else None
    return None if judged is None or judged.excused is None else judged.worst_ratio


def headroom(seeds: int) -> dict[str, Any]:
    """worst_ratio of every judged pair of clean runs, and of every planted culprit the judge looked at."""
    clean: list[float] = []
    planted: list[float] = []
    clean_undecided = 0
    referee.CAP = 10**6
    cases: list[tuple[Any, Any, Any, Any]] = []
    for twin in TWINS:
        base = build(twin, "torch")
        plant = next(p.name for p in PLANTS if p.twin == twin)
        cases.append((base, build(twin, "paddle"), build(twin, "paddle", plant=plant), example_input(twin)))
    for seed in range(seeds):
        spec = gen.make_spec(seed)
        base = gen.build(spec, spec["base"], seed=0)
        gen.randomize_norms(base, spec["base"], seed)
        planted_spec, _ = gen.plant(spec)
        cases.append((base, gen.build(spec, spec["raw"], seed=1), gen.build(planted_spec, spec["raw"], seed=1),
                      gen.make_input(spec)))  # fmt: skip
    for base, raw, planted_raw, x in cases:
        report = padiff.compare(base, raw, x, single_step=True, **TIGHT)
        clean += _ratios(report)
        clean_undecided += _undecided(report)
        ratio = _culprit_ratio(padiff.compare(base, planted_raw, x))
        if ratio is not None:
            planted.append(ratio)
    referee.CAP = 32
    return {
        "runs": len(cases),
        "clean_pairs_judged": len(clean),
        "clean_worst_ratio_max": max(clean, default=float("nan")),
        "clean_worst_ratio_p99": float(np.percentile(clean, 99)) if clean else float("nan"),
        "clean_pairs_not_judged": clean_undecided,
        "planted_judged": len(planted),
        "planted_worst_ratio_min": min(planted, default=float("nan")),
        "planted_worst_ratio_median": statistics.median(planted) if planted else float("nan"),
    }


def low_precision() -> dict[str, Any]:
    """The same for torch float32 base against torch bfloat16 / float16 raw (paddle's CPU build has neither)."""
    import torch

    referee.CAP = 10**6
    figures: dict[str, Any] = {}
    for dtype in ("bfloat16", "float16"):
        clean: list[float] = []
        planted: list[float] = []
        for twin in TWINS:
            plant = next(p.name for p in PLANTS if p.twin == twin)
            base = build(twin, "torch")
            raw = build(twin, "torch").to(getattr(torch, dtype))
            bad = build(twin, "torch", plant=plant).to(getattr(torch, dtype))
            x = example_input(twin)
            clean += _ratios(padiff.compare(base, raw, x, single_step=True, **TIGHT))
            ratio = _culprit_ratio(padiff.compare(base, bad, x))
            if ratio is not None:
                planted.append(ratio)
        figures[dtype] = {
            "clean_pairs_judged": len(clean),
            "clean_worst_ratio_max": max(clean, default=float("nan")),
            "planted_judged": len(planted),
            "planted_worst_ratio_min": min(planted, default=float("nan")),
        }
    referee.CAP = 32
    return figures


def _seconds(call: Any, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cost() -> dict[str, Any]:
    """Seconds of a bare forward+backward, a passing compare, a failing one, and the judge within each."""
    import paddle
    import torch

    torch.set_num_threads(1)  # on a small model, two threads' handoffs dwarf the work on a loaded machine
    size = {"batch": 32}
    base, raw = build("cnn", "torch", **size), build("cnn", "paddle", **size)
    planted = build("cnn", "paddle", plant="bn_eps", **size)
    x = example_input("cnn", **size)

    def bare() -> None:
        base(torch.from_numpy(x)).mean().backward()
        raw(paddle.to_tensor(x)).mean().backward()

    judged = {"seconds": 0.0, "units": 0, "pairs": 0}
    original = referee.Referee.judge

    def timed(self: referee.Referee, diffs: Any, *args: Any) -> Any:
        start = time.perf_counter()
        try:
            out, notes = original(self, diffs, *args)
            judged["pairs"] += sum(d.judged is not None for d in out)
            return out, notes
        finally:
            judged["seconds"] += time.perf_counter() - start
            judged["units"] += len(self._runs)

    def measured(call: Any, repeats: int) -> dict[str, float]:
        judged.update(seconds=0.0, units=0, pairs=0)
        seconds = _seconds(call, repeats)
        return {
            "x_bare": seconds / bare_s,
            "judge_x_bare": judged["seconds"] / repeats / bare_s,
            "pairs_judged": judged["pairs"] / repeats,
            "units_rerun": judged["units"] / repeats,
        }

    bare()
    bare_s = _seconds(bare, repeats=5)
    referee.Referee.judge = timed  # type: ignore[method-assign]
    try:
        passing = measured(lambda: padiff.compare(base, raw, x), 3)
        failing = measured(lambda: padiff.compare(base, planted, x), 3)
    finally:
        referee.Referee.judge = original  # type: ignore[method-assign]
    return {"bare_s": bare_s, "passing": passing, "failing": failing}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=30, help="generated twins in the headroom measurement")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = {"K": K, "headroom": headroom(args.seeds), "low_precision": low_precision(), "cost": cost()}
    h, c = figures["headroom"], figures["cost"]
    print(f"float64 judge, K = {K:g} (worst_ratio 1.0 = the bound)")
    print(f"  clean:   {h['clean_pairs_judged']} pairs judged over {h['runs']} runs; worst_ratio max "
          f"{h['clean_worst_ratio_max']:.3g}, p99 {h['clean_worst_ratio_p99']:.3g}; "
          f"{h['clean_pairs_not_judged']} pairs the judge could not decide")  # fmt: skip
    print(f"  planted: {h['planted_judged']} culprits judged; worst_ratio min {h['planted_worst_ratio_min']:.3g}, "
          f"median {h['planted_worst_ratio_median']:.3g}")  # fmt: skip
    for dtype, low in figures["low_precision"].items():
        print(f"  float32 vs torch {dtype}: clean {low['clean_pairs_judged']} pairs, worst_ratio max "
              f"{low['clean_worst_ratio_max']:.3g}; planted {low['planted_judged']} judged, min "
              f"{low['planted_worst_ratio_min']:.3g}")  # fmt: skip
    p, f = c["passing"], c["failing"]
    print(f"cost (cnn twin, batch 32; bare forward+backward of both {c['bare_s'] * 1000:.0f} ms):")
    print(
        f"  passing compare {p['x_bare']:.2f}x bare; judge {p['judge_x_bare']:.2f}x ({p['units_rerun']:.0f} units)"
    )
    print(f"  failing compare {f['x_bare']:.2f}x bare; judge {f['judge_x_bare']:.2f}x "
          f"({f['pairs_judged']:.0f} pairs judged, {f['units_rerun']:.0f} unit runs)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
