"""What padiff costs on real CNNs: torchvision against paddle.vision at 224×224, against a bare run.

Runs in the models venv (`make bench` uses $(MODELS_PY): torchvision needs a newer torch). Each model
and mode (eval; train for resnet50 and wide_resnet50_2) runs three fresh processes (`--worker NAME`), each
building the pair as tests/real/zoo.py does (random weights, batch 2: train-mode BatchNorm then
normalizes over 2×7×7 values per channel in the last stage) and warming up with one bare
forward+backward of both:

  bare    a forward+backward of both models (tests/real/zoo.py's bare_seconds)
  padiff  padiff.compare of the pair, which must pass (a clean run the tolerance needed to confirm by a
          second, single-step run included)

Time: one process runs bare and padiff in turn, `--repeats` times each (wall and CPU seconds of the
process, medians), so a neighbour's load on a shared machine falls on both alike. Memory: one process
per probe, one call, its peak resident memory over its resident memory before the warm-up (issue 14's
definition: the frameworks' and the weights' fixed cost left out, the warm-up's counted alike).

    .venv-models/bin/python bench/cnn.py                       # eval: resnet50, vgg11, wide_resnet50_2; train
    .venv-models/bin/python bench/cnn.py --models resnet50 --modes train --json cnn.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from procstat import medians, reset_peak_rss, status_kib

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS = ("resnet50", "vgg11", "wide_resnet50_2")
TRAIN_MODELS = ("resnet50", "wide_resnet50_2")  # issue 14's train-mode targets
MODES = ("eval", "train")
PROBES = ("bare", "padiff")
SIDE = 224
MEMORY = "peak RSS over the RSS before the warm-up, in a fresh process per probe (one call); times alternate bare and padiff in one process"
CONFIRMED_NOTE = "accumulated rounding crossed"  # padiff's note on a clean run it confirmed


def _timed(call) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}


def _worker(name: str, mode: str, probe: str, repeats: int) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    from tests.real.zoo import ARCHS, bare_seconds, build_pair, images

    import padiff

    base, raw = build_pair(ARCHS[name], mode)
    x = images(ARCHS[name], size=SIDE)
    reports: list = []
    calls = {
        "bare": lambda: bare_seconds(base, raw, x),
        "padiff": lambda: reports.append(padiff.compare(base, raw, x)),
    }
    reset_peak_rss()  # the peak-RSS mark back to the current RSS
    before = status_kib("VmRSS")
    bare_seconds(base, raw, x)  # warm-up
    if probe == "time":
        runs = [{which: _timed(call) for which, call in calls.items()} for _ in range(repeats)]
        result: dict = {which: medians([run[which] for run in runs]) for which in calls}
        result["padiff"]["confirmed"] = [any(CONFIRMED_NOTE in note for note in r.notes) for r in reports]
    else:
        result = {**_timed(calls[probe]), "increment_mb": (status_kib("VmHWM") - before) / 1024}
    if not all(report.passed for report in reports):
        raise SystemExit(f"{name} ({mode}): padiff did not pass the same network")
    return result


def _run(name: str, mode: str, probe: str, repeats: int) -> dict:
    print(f"running {name} ({mode}, {probe}) ...", file=sys.stderr, flush=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--modes", mode]
    command += ["--probe", probe, "--repeats", str(repeats)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"the {name} ({mode}, {probe}) worker failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(name: str, mode: str, repeats: int) -> dict:
    timed = _run(name, mode, "time", repeats)
    row: dict = {"model": name, "input": f"2x3x{SIDE}x{SIDE}", "mode": mode}
    for probe in PROBES:
        row[probe] = {**timed[probe], "increment_mb": _run(name, mode, probe, 1)["increment_mb"]}
    bare, padiff = row["bare"], row["padiff"]
    row["ratio"] = padiff["seconds"] / bare["seconds"]
    row["cpu_ratio"] = padiff["cpu_seconds"] / bare["cpu_seconds"]
    row["memory_ratio"] = padiff["increment_mb"] / max(bare["increment_mb"], 1e-9)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="train: resnets only")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--probe", choices=(*PROBES, "time"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.modes[0], args.probe, args.repeats)))
        return 0
    rows = []
    for mode in args.modes:
        for name in args.models:
            if mode == "train" and name not in TRAIN_MODELS:
                continue
            row = _row(name, mode, args.repeats)
            bare, padiff = row["bare"], row["padiff"]
            rows.append(row)
            print(
                f"{name} ({mode}): bare {bare['seconds']:.2f} s, padiff {padiff['seconds']:.2f} s "
                f"({row['ratio']:.2f}x, CPU {row['cpu_ratio']:.2f}x); memory +{bare['increment_mb']:.0f} / "
                f"+{padiff['increment_mb']:.0f} MB ({row['memory_ratio']:.2f}x); confirmed {padiff['confirmed']}"
            )
    if args.json:
        payload = {"repeats": args.repeats, "memory": MEMORY, "rows": rows}
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
