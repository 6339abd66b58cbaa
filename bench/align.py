"""How call alignment scales: one layer called n times in a loop, paired call by call as a run does.

Synthetic call trees (no framework runs, so only padiff's own matching is timed): a root calling a
`Cell` n times, each call holding a Linear and a Tanh. Reports, per n, the seconds and the operations
the aligner counted (candidates looked at); both should grow about linearly in n.

    python bench/align.py                 # n = 250, 1000, 2000, 10000
    python bench/align.py --sizes 1000 100000
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.trees import TreeBuilder  # noqa: E402

from padiff.capture.calltree import CallTree  # noqa: E402
from padiff.match.align import Aligner  # noqa: E402


def loop_tree(n: int) -> CallTree:
    t = TreeBuilder()
    with t.call("", "Loop"):
        for _ in range(n):
            with t.call("cell", "Cell"):
                t.leaf("cell.fc", "Linear")
                t.leaf("cell.act", "Tanh")
    return t.tree


def measure(n: int) -> tuple[float, int, int]:
    base, raw = loop_tree(n), loop_tree(n)
    copies = [dataclasses.replace(node, children=[]) for node in raw]
    start = time.perf_counter()
    aligner = Aligner(base)
    live = CallTree()
    aligner.on_start(live)
    for node in copies:
        aligner.match(live.add(node))
    return time.perf_counter() - start, aligner.operations[0], len(aligner.partner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 2000, 10000])
    args = parser.parse_args()
    print(f"{'calls of the cell':>18} {'seconds':>9} {'operations':>11} {'paired':>8}")
    for n in args.sizes:
        seconds, operations, paired = measure(n)
        print(f"{n:18d} {seconds:9.3f} {operations:11d} {paired:8d}")


if __name__ == "__main__":
    main()
