"""Narrow a culprit that is a layer's own code down to one API call: the op, and its line.

When the culprit is a user layer whose children agree but whose own code does not, padiff runs the
culprit's call once more on each side (forward only) and records every op the layer's *own* code calls
(not the ops inside its sublayers). Ops are paired by value, not by name, because frameworks spell the
same computation differently (`q @ k.transpose(-2, -1)` vs `paddle.matmul(q, k, transpose_y=True)`): the
first raw op whose output matches no base op's output (same shape, within tolerance) is the culprit call.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from .capture import CallNode, capture_run, internal_frame
from .compare import compare_arrays
from .nested import tensor_leaves

__all__ = ["OpCall", "record_ops", "first_divergent_op", "MOVEMENT_OPS"]

# ops that only move or view data: one framework often folds them into the next op (paddle's
# matmul(transpose_y=True)), so they are never named as the culprit op; a wrong permutation shows up in
# the first computing op that uses it
MOVEMENT_OPS = frozenset(
    "permute transpose reshape view view_as flatten unsqueeze squeeze expand expand_as contiguous "
    "__getitem__ split chunk t __get__ clone detach to cast astype type_as repeat tile movedim swapaxes".split()
)

_PADIFF_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class OpCall:
    name: str
    site: str  # file:line in the layer's code
    output: np.ndarray


class _OpRecorder:
    """A capture sink that records the ops of one layer call's own code (depth 0 inside it)."""

    def __init__(self, adapter: Any, path: str, call: int):
        self.adapter, self.path, self.call = adapter, path, call
        dirs = (_PADIFF_DIR, adapter.package_dir, os.path.dirname(os.__file__))
        self.skip = tuple(os.path.join(d, "") for d in dirs)  # not .../paddleformers for .../paddle
        self.ops: list[OpCall] = []
        self.inside: int | None = None  # node id of the target call while it runs
        self.depth = 0
        self.busy = False  # copying an output may call ops itself

    def on_call(self, node: CallNode) -> bool:
        if self.inside is not None:
            self.depth += 1
        elif node.path == self.path and node.call == self.call:
            self.inside = node.id
        return False

    def on_return(self, node: CallNode) -> None:
        if node.id == self.inside:
            self.inside = None
        elif self.inside is not None:
            self.depth -= 1

    def record(self, name: str, output: Any) -> None:
        if self.inside is None or self.depth != 0 or self.busy:
            return
        self.busy = True
        try:
            leaves, _ = tensor_leaves(output, self.adapter.is_tensor)
            floats = [t for _, t in leaves if self.adapter.is_float(t)]
            if floats:
                self.ops.append(OpCall(name, self._site(), self.adapter.to_numpy(floats[0])))
        finally:
            self.busy = False

    def _site(self) -> str:
        frame = sys._getframe(1)
        while frame is not None and internal_frame(
            frame.f_code.co_filename, self.skip, self.adapter.user_dirs
        ):
            frame = frame.f_back
        return "" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"

    def on_input(self, *args: Any) -> None:
        return None

    def on_output(self, *args: Any) -> None:
        return None

    def on_grad(self, *args: Any) -> None:
        return None

    def substitute(self, *args: Any) -> None:
        return None

    def replace_grad(self, *args: Any) -> None:
        return None


def record_ops(side: Any, call: tuple[tuple, dict], path: str, call_index: int) -> list[OpCall]:
    """The ops of the own code of layer `path` (its `call_index`-th call), in call order."""
    recorder = _OpRecorder(side.adapter, path, call_index)
    args, kwargs = call
    with side.adapter.intercept_ops(recorder.record):
        capture_run(
            side.adapter, side.model, args, kwargs, recorder, side.policy, None, side.role, backward=False
        )
    return recorder.ops


def first_divergent_op(
    base_ops: list[OpCall], raw_ops: list[OpCall], atol, rtol
) -> tuple[OpCall, OpCall | None] | None:
    """(first raw op matching no base op, the most similar base op of the same shape) or None."""
    for raw_op in raw_ops:
        if raw_op.name in MOVEMENT_OPS:
            continue
        same_shape = [b for b in base_ops if b.output.shape == raw_op.output.shape]
        diffs = [(compare_arrays(b.output, raw_op.output, atol, rtol), b) for b in same_shape]
        if any(d.passed for d, _ in diffs):
            continue
        closest = max(
            diffs, key=lambda item: item[0].cosine if np.isfinite(item[0].cosine) else -2.0, default=None
        )
        return raw_op, None if closest is None else closest[1]
    return None
