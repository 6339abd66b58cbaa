"""Narrow a culprit that is a layer's own code down to one API call: the op, and its line.

When the culprit is a user layer whose children agree but whose own code does not, padiff runs the
culprit's call once more on each side (forward only) and records every op the layer's *own* code calls
(not the ops inside its sublayers). Ops are paired by value, not by name, because frameworks spell the
same computation differently (`q @ k.transpose(-2, -1)` vs `paddle.matmul(q, k, transpose_y=True)`): the
first raw op whose output matches no base op's output (same shape, within tolerance) is the culprit call.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from types import FrameType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..capture.calltree import CallNode
from ..capture.frames import internal_dirs, internal_frame
from ..capture.inputs import prepare_inputs
from ..capture.leaves import tensor_leaves
from ..capture.restore import ModelState
from ..capture.run import capture_run
from ..errors import PadiffError
from ..frameworks.base import Adapter
from ..judge.metrics import compare_arrays
from ..judge.records import Phase
from ..judge.tolerance import Tolerances
from .culprit import Culprit, Kind

if TYPE_CHECKING:
    from ..options import Side
    from ..steps import StepResult

__all__ = ["OpCall", "record_ops", "first_divergent_op", "narrow_to_op", "MOVEMENT_OPS"]

# ops that only move or view data: one framework often folds them into the next op (paddle's
# matmul(transpose_y=True)), so they are never named as the culprit op; a wrong permutation shows up in
# the first computing op that uses it
MOVEMENT_OPS = frozenset(
    "permute transpose reshape view view_as flatten unsqueeze squeeze expand expand_as contiguous "
    "__getitem__ split chunk t __get__ clone detach to cast astype type_as repeat tile movedim swapaxes".split()
)


@dataclass(frozen=True)
class OpCall:
    name: str
    site: str  # file:line in the layer's code
    output: np.ndarray


class _OpRecorder:
    """A capture sink that records the ops of one layer call's own code (depth 0 inside it)."""

    def __init__(self, adapter: Adapter, path: str, call: int):
        self.adapter, self.path, self.call = adapter, path, call
        self.skip = internal_dirs(adapter)
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
        frame: FrameType | None = sys._getframe(1)
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


def record_ops(side: Side, call: tuple[tuple, dict], path: str, call_index: int) -> list[OpCall]:
    """The ops of the own code of layer `path` (its `call_index`-th call), in call order."""
    recorder = _OpRecorder(side.adapter, path, call_index)
    args, kwargs = call
    with side.adapter.intercept_ops(recorder.record):
        capture_run(
            side.adapter, side.model, args, kwargs, recorder, side.policy, None, side.role, backward=False
        )
    return recorder.ops


def first_divergent_op(
    base_ops: list[OpCall], raw_ops: list[OpCall], atol: float | None, rtol: float | None
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


def narrow_to_op(
    culprit: Culprit, base: Side, raw: Side, result: StepResult, tolerances: Tolerances
) -> tuple[Culprit, str | None]:
    """A forward culprit in a user layer's own code, narrowed to the op; else unchanged. Also a note when
    narrowing could not run."""
    if culprit.phase is not Phase.FORWARD or culprit.step != 0:
        return culprit, None
    base_node = next((n for n in result.base_nodes if n.path == culprit.base_path), None)
    if base_node is None or base_node.builtin:
        return culprit, None
    saved = ModelState(*base.inputs()), ModelState(*raw.inputs())
    try:
        base_call, raw_call, _ = prepare_inputs(result.calls, base.inputs(), raw.inputs())
        base_ops = record_ops(base, base_call, culprit.base_path, culprit.base_call)
        raw_ops = record_ops(raw, raw_call, culprit.raw_path, culprit.raw_call)
    except PadiffError as error:
        return culprit, f"could not narrow the culprit to an op: {str(error).splitlines()[0]}"
    finally:
        for state in saved:
            state.restore()
    found = first_divergent_op(base_ops, raw_ops, tolerances.atol, tolerances.rtol)
    if found is None:
        return culprit, None
    raw_op, base_op = found
    where = f"'{raw_op.name}' at {raw_op.site}"
    if base_op is not None:
        where += f" (closest base op: '{base_op.name}' at {base_op.site})"
    narrowed = replace(
        culprit,
        kind=Kind.API,
        reason=f"{culprit.reason}; the first op of its own code that differs is {where}",
        base_site=base_op.site if base_op else culprit.base_site,
        raw_site=raw_op.site,
    )
    return narrowed, None
