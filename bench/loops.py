"""What a layer called in a loop costs: one Linear+tanh cell applied N times, padiff against bare.

The cell (Linear(32, 32) then tanh) is applied `calls` times to a 4x32 input, in torch
and in paddle. Each (mode, calls) runs in fresh processes (`--worker`), `--repeats` of them; a worker
warms both models up with one bare forward+backward, then times one call: `bare` (a forward+backward of
both models, loss = output.mean()) or `padiff` (padiff.compare of the pair, which must pass). torch runs
on one thread (paddle's CPU kernels do; 4x32 matrices gain nothing from more). Reported: the median CPU
seconds of the process over the repeats (wall seconds too: on a machine shared with other work, wall time
measures the neighbours as much as padiff, and CPU time of a single-threaded run does not), padiff over
bare for each number of calls, and the growth of padiff's time from one number of calls to the next
against the growth of the calls (linear: equal).

    python bench/loops.py                              # 250, 1000 and 4000 calls, 3 processes each
    python bench/loops.py --calls 1000 4000 --json loops.json
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
WIDTH, BATCH = 32, 4


def _models(calls: int) -> tuple:
    import paddle
    import torch

    class TorchLoop(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.cell = torch.nn.Linear(WIDTH, WIDTH)

        def forward(self, x):
            for _ in range(calls):
                x = torch.tanh(self.cell(x))
            return x

    class PaddleLoop(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.cell = paddle.nn.Linear(WIDTH, WIDTH)

        def forward(self, x):
            for _ in range(calls):
                x = paddle.tanh(self.cell(x))
            return x

    torch.manual_seed(0)
    return TorchLoop(), PaddleLoop()


def _worker(mode: str, calls: int) -> dict:
    import numpy as np
    import paddle
    import torch

    torch.set_num_threads(1)
    torch_model, paddle_model = _models(calls)
    x = (np.random.default_rng(0).standard_normal((BATCH, WIDTH)) * 0.1).astype(np.float32)

    def bare() -> None:
        torch_model.zero_grad(set_to_none=True)
        torch_model(torch.from_numpy(x)).mean().backward()
        paddle_model.clear_gradients(set_to_zero=False)
        paddle_model(paddle.to_tensor(x)).mean().backward()

    bare()  # warm-up
    outcome: dict = {}
    if mode == "padiff":
        import padiff

        def call() -> None:
            torch_model.zero_grad(set_to_none=True)
            paddle_model.clear_gradients(set_to_zero=False)
            outcome["passed"] = padiff.compare(torch_model, paddle_model, x).passed

    else:
        call = bare
    start, cpu_start = time.perf_counter(), time.process_time()
    call()
    cpu = time.process_time() - cpu_start
    return {"seconds": cpu, "wall_seconds": time.perf_counter() - start, **outcome}


def _run(mode: str, calls: int, repeats: int) -> dict:
    seconds, wall, passed = [], [], []
    for _ in range(repeats):
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--calls", str(calls)]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            sys.stderr.write(done.stdout + done.stderr)
            raise SystemExit(f"the {mode} worker ({calls} calls) failed")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        seconds.append(result["seconds"])
        wall.append(result["wall_seconds"])
        passed.append(result.get("passed"))
    if mode == "padiff" and not all(passed):
        raise SystemExit(f"padiff did not pass the clean loop of {calls} calls: {passed}")
    return {"seconds": statistics.median(seconds), "runs": seconds, "wall_seconds": statistics.median(wall)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[250, 1000, 4000])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per mode and size")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--worker", choices=("bare", "padiff"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.calls[0])))
        return 0
    rows = []
    for calls in args.calls:
        print(f"running {calls} calls ...", file=sys.stderr, flush=True)
        bare, padiff = _run("bare", calls, args.repeats), _run("padiff", calls, args.repeats)
        rows.append(
            {"calls": calls, "bare": bare, "padiff": padiff, "ratio": padiff["seconds"] / bare["seconds"]}
        )
    print(f"Linear+tanh cell in a loop, CPU seconds, median of {args.repeats} fresh processes")
    print(f"{'calls':>6} {'bare s':>8} {'padiff s':>9} {'padiff/bare':>12} {'growth':>14}")
    for previous, row in zip([None, *rows], rows):
        growth = ""
        if previous is not None:
            time_growth = row["padiff"]["seconds"] / previous["padiff"]["seconds"]
            growth = f"{time_growth:.2f}x / {row['calls'] / previous['calls']:.0f}x"
            row["growth"] = time_growth
        print(
            f"{row['calls']:>6} {row['bare']['seconds']:>8.3f} {row['padiff']['seconds']:>9.3f} "
            f"{row['ratio']:>11.1f}x {growth:>14}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"repeats": args.repeats, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
