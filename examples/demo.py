"""padiff demo: compare a PyTorch model with its PaddlePaddle port, then with a port that has one bug.

Run it with `make demo` (or `python examples/demo.py` inside the project's venv). It prints both
reports and then one verdict line per twin. The exit status is 0 only when the clean port passes and
the buggy port is caught at the very layer where the bug was planted. The twin models live beside
this script (`torch_net.py`, `paddle_net.py`); Python puts a script's folder on `sys.path`.
"""

from __future__ import annotations

import sys

import numpy as np
import paddle
import torch
from paddle_net import BUGGY_LAYER, PaddleNet
from torch_net import IN_FEATURES, TorchNet

import padiff

BATCH = 8


def _text(value: object) -> str:
    """A report field as plain text (enum members by value)."""
    return str(getattr(value, "value", value))


def _run(title: str, torch_model: torch.nn.Module, paddle_model: paddle.nn.Layer, x: np.ndarray):
    print(f"===== {title} " + "=" * max(0, 60 - len(title)))
    report = padiff.compare(torch_model, paddle_model, x)
    print(report)
    print()
    return report


def _verdict_clean(report) -> tuple[str, bool]:
    if report.passed:
        return "clean twin: PASSED", True
    return f"clean twin: FAILED at {_where(report.first_diff)} (expected to pass)", False


def _verdict_buggy(report) -> tuple[str, bool]:
    culprit = report.first_diff
    if report.passed or culprit is None:
        return f"buggy twin: PASSED (expected a failure at {BUGGY_LAYER})", False
    line = f"buggy twin: FAILED at {_where(culprit)}"
    if culprit.base_path == BUGGY_LAYER and culprit.raw_path == BUGGY_LAYER:
        return line, True
    return f"{line}; expected {BUGGY_LAYER}", False


def _where(culprit) -> str:
    if culprit is None:
        return "<no culprit named>"
    path = culprit.base_path
    if culprit.raw_path != culprit.base_path:
        path = f"{culprit.base_path} / {culprit.raw_path}"
    return f"{path or '<root>'} ({culprit.base_type} vs {culprit.raw_type}), {_text(culprit.phase)}"


def main() -> int:
    torch.manual_seed(0)
    paddle.seed(0)
    x = np.random.default_rng(0).standard_normal((BATCH, IN_FEATURES)).astype(np.float32)
    torch_model = TorchNet()

    clean = _run("clean twin: TorchNet vs PaddleNet", torch_model, PaddleNet(), x)
    buggy = _run("buggy twin: TorchNet vs PaddleNet(buggy=True)", torch_model, PaddleNet(buggy=True), x)

    verdicts = [_verdict_clean(clean), _verdict_buggy(buggy)]
    for line, _ in verdicts:
        print(line)
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
