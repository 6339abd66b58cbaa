"""Narrow a culprit that is a layer's own code down to one API call: the op, and its line.

When the culprit is a user layer whose children agree but whose own code does not, padiff runs the
culprit's call once more on each side (forward only) and records every op the layer's *own* code calls
(not the ops inside its sublayers). Ops are paired by value, not by name, because frameworks spell the
same computation differently (`q @ k.transpose(-2, -1)` vs `paddle.matmul(q, k, transpose_y=True)`): the
first raw op whose output matches no base op's output (same shape, within tolerance) is the culprit call.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
from ..capture.sink import NullSink, Origin
from ..errors import PadiffError
from ..frameworks.base import Adapter
from ..judge.metrics import compare_arrays
from ..judge.records import Phase
from ..judge.tolerance import Tolerances, default_rtol
from ..match.arguments import pair_inputs
from .culprit import Culprit, Kind

if TYPE_CHECKING:
    from ..options import Side
    from ..steps import StepResult

__all__ = ["OpCall", "CallInputs", "record_ops", "first_divergent_op", "narrow_to_op", "MOVEMENT_OPS"]

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


class _OpRecorder(NullSink):
    """A capture sink that records the ops of one layer call's own code (depth 0 inside it).

    It also keeps the call's float inputs (`inputs`), and, given `feed` (another side's inputs of the
    same call, with their keys), runs the call on those instead of its own: single-step isolation."""

    def __init__(self, adapter: Adapter, path: str, call: int, feed: CallInputs | None = None):
        self.adapter, self.path, self.call, self.feed = adapter, path, call, feed
        self.skip = internal_dirs(adapter)
        self.ops: list[OpCall] = []
        self.inputs: dict[int, np.ndarray] = {}
        self.keys: tuple[str, ...] = ()
        self.inside: int | None = None  # node id of the target call while it runs
        self.depth = 0
        self.busy = False  # copying an output may call ops itself
        self._pairs: dict[int, int] = {}

    def on_call(self, node: CallNode) -> bool:
        if self.inside is not None:
            self.depth += 1
            return False
        if node.path != self.path or node.call != self.call:
            return False
        self.inside, self.keys = node.id, node.inputs
        if self.feed is not None:
            self._pairs = pair_inputs(self.feed.keys, node.inputs)
        return True

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        if node.id == self.inside and self.adapter.is_float(tensor):
            with self._quiet():  # copying calls framework ops that are not the layer's
                self.inputs[index] = self.adapter.to_numpy(tensor)

    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any:
        if self.feed is None or node.id != self.inside or index not in self._pairs:
            return None
        array = self.feed.arrays.get(self._pairs[index])
        if array is None or tuple(array.shape) != tuple(self.adapter.shape(tensor)):
            return None
        with self._quiet():
            return self.adapter.substitute(tensor, array)

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        busy, self.busy = self.busy, True
        try:
            yield
        finally:
            self.busy = busy

    def on_return(self, node: CallNode) -> None:
        if node.id == self.inside:
            self.inside = None
        elif self.inside is not None:
            self.depth -= 1

    def record(self, name: str, output: Any) -> None:
        if self.inside is None or self.depth != 0 or self.busy:
            return
        with self._quiet():
            leaves, _ = tensor_leaves(output, self.adapter.is_tensor)
            floats = [t for _, t in leaves if self.adapter.is_float(t)]
            if floats:
                self.ops.append(OpCall(name, self._site(), self.adapter.to_numpy(floats[0])))

    def _site(self) -> str:
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and internal_frame(
            frame.f_code.co_filename, self.skip, self.adapter.user_dirs
        ):
            frame = frame.f_back
        return "" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


@dataclass(frozen=True)
class CallInputs:
    """The float inputs one side's call received, by input index, and the keys of all its inputs."""

    keys: tuple[str, ...]
    arrays: dict[int, np.ndarray]


def record_ops(
    side: Side, call: tuple[tuple, dict], path: str, call_index: int, feed: CallInputs | None = None
) -> tuple[list[OpCall], CallInputs]:
    """The ops of the own code of layer `path` (its `call_index`-th call), in call order, and the inputs
    that call received (`feed`'s, where given)."""
    recorder = _OpRecorder(side.adapter, path, call_index, feed)
    args, kwargs = call
    with side.adapter.intercept_ops(recorder.record):
        capture_run(
            side.adapter,
            side.model,
            args,
            kwargs,
            recorder,
            side.policy,
            None,
            side.role,
            backward=False,
            autocast=side.autocast,
        )
    return recorder.ops, CallInputs(recorder.keys, recorder.inputs)


def first_divergent_op(
    base_ops: list[OpCall],
    raw_ops: list[OpCall],
    atol: float | None,
    rtol: float | None,
    dtype: str | None = None,
) -> tuple[OpCall, OpCall | None] | None:
    """(first raw op matching no base op, the most similar base op of the same shape) or None. `dtype`:
    the precision ops are judged at, where a side ran under autocast (else each base op's own)."""
    for raw_op in raw_ops:
        if raw_op.name in MOVEMENT_OPS:
            continue
        same_shape = [b for b in base_ops if b.output.shape == raw_op.output.shape]
        diffs = [(compare_arrays(b.output, raw_op.output, atol, rtol, dtype), b) for b in same_shape]
        if any(d.passed for d, _ in diffs):
            continue
        closest = max(
            diffs, key=lambda item: item[0].cosine if np.isfinite(item[0].cosine) else -2.0, default=None
        )
        return raw_op, None if closest is None else closest[1]
    return None


def narrow_to_op(
    culprit: Culprit, base: Side, raw: Side, result: StepResult, tolerances: Tolerances, isolate: bool
) -> tuple[Culprit, str | None]:
    """A forward culprit in a user layer's own code, narrowed to the op; else unchanged. Also a note when
    narrowing could not run. With `isolate` (a culprit found with single-step isolation) raw's call runs
    on base's inputs, so its ops are judged on the same inputs as base's."""
    if culprit.phase is not Phase.FORWARD or culprit.step != 0:
        return culprit, None
    base_node = next((n for n in result.base_tree if n.path == culprit.base_path), None)
    if base_node is None or base_node.builtin:
        return culprit, None
    saved = ModelState(*base.inputs()), ModelState(*raw.inputs())
    try:
        base_call, raw_call, _ = prepare_inputs(result.calls, base.inputs(), raw.inputs())
        base_ops, base_inputs = record_ops(base, base_call, culprit.base_path, culprit.base_call)
        feed = base_inputs if isolate else None
        raw_ops, _ = record_ops(raw, raw_call, culprit.raw_path, culprit.raw_call, feed)
    except PadiffError as error:
        return culprit, f"could not narrow the culprit to an op: {str(error).splitlines()[0]}"
    finally:
        for state in saved:
            state.restore()
    autocast = [side.autocast for side in (base, raw) if side.autocast]
    judged_at = max(autocast, key=default_rtol) if autocast else None  # the less precise autocast
    found = first_divergent_op(base_ops, raw_ops, *tolerances.at(culprit.base_path), judged_at)
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
        op=raw_op.name,
        op_site=raw_op.site,
        base_op=base_op.name if base_op else "",
        base_op_site=base_op.site if base_op else "",
    )
    return narrowed, None
