"""Compare raw's events against base's recorded `Trace` as they arrive; keep only the metrics.

Each raw call is paired with a base call (`match.align`), each of its inputs with one of base's
(`match.arguments`), and every tensor is compared with the one base recorded at the same place, under the
tolerance of the base layer's path (`tolerance.Tolerances.at`). A tensor both sides pass on from an
earlier layer's output was compared there already and is not compared again. Base is read only
through the `Trace` protocol, so a trace read back from disk serves as well as one in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..capture.calltree import CallNode, CallTree
from ..capture.sink import NullSink, Origin
from ..frameworks.base import Adapter
from ..match.align import Aligner
from ..match.arguments import pair_inputs
from .chunks import same
from .fused import FusedComparer
from .metrics import compare_arrays
from .records import LayerDiff, Phase, Where
from .tolerance import Tolerances, judged_dtype, less_precise
from .trace import Trace

__all__ = ["RawComparer"]

_FORWARD = (Where.INPUT, Where.OUTPUT)
_JUDGED = (
    Where.OUTPUT,
    Where.GRAD_IN,
    Where.GRAD_OUT,
)  # the float64 judge's pairs (an input: its parent's output)
KEEP_FAILING = 64  # raw values of failing pairs an isolated run keeps for the float64 judge, per phase


class RawComparer(NullSink):
    """A `capture.Sink` for raw: pairs each call with base's (via `Aligner`) and compares its tensors."""

    def __init__(
        self,
        adapter: Adapter,
        base: Trace,
        aligner: Aligner,
        tolerances: Tolerances,
        step: int = 0,
        keep_base: bool = False,
        autocast: tuple[str | None, str | None] = (None, None),
        only: tuple[Where, int] | None = None,
    ):
        self.adapter, self.base, self.aligner, self.tol, self.step = adapter, base, aligner, tolerances, step
        self.autocast = autocast  # each side's autocast dtype, if it ran under one: its tensors judged at it
        self.keep_base = keep_base  # keep base's arrays after comparing (a second raw run will need them)
        self.only = only  # (where, base id): the one place compared, when a run is to check one pair
        self.forward: list[LayerDiff] = []
        self.backward: list[LayerDiff] = []
        self.notes: list[str] = []
        self._outputs_seen: dict[int, int] = {}
        self._fused_pending: dict[int, CallNode] = {}  # fused raw calls whose output awaits its consumer
        self._last_grad: tuple[Any, np.ndarray] | None = None
        self._input_pairs: dict[int, dict[int, int]] = {}  # raw node id -> {raw input index: base's}
        self.fusions = FusedComparer(self)  # calls of layers one side fuses (q/k/v, gate/up): `fused`
        self.failing: dict[tuple, np.ndarray] | None = None  # raw's values of failing pairs, when kept
        self._kept = [0, 0]  # failing values kept in forward, in backward
        # base id of a layer raw fuses an activation into -> (activation, base id and input index of the
        # layer taking base's activation's output): the float64 judge's unit spans both of base's layers
        self.spans: dict[int, tuple[str, int, int]] = {}
        self._fused_paths: dict[str, list[str]] = {}  # activation -> layers applying it on one side only

    def base_input(self, node: CallNode, index: int) -> tuple[int | None, int | None]:
        """(base node id, base input index) of raw input `index` of `node`, when it has a counterpart."""
        base_id = self.aligner.partner.get(node.id)
        if base_id is None:
            return None, None
        pairs = self._input_pairs.get(node.id)
        if pairs is None:
            pairs = self._input_pairs[node.id] = pair_inputs(self.base.tree[base_id].inputs, node.inputs)
        return base_id, pairs.get(index)

    def _judged_at(self, dtypes: tuple[str, str]) -> str:
        """The dtype a pair is judged at: the less precise of the two, each side's autocast counted."""
        return less_precise(
            judged_dtype(dtypes[0], self.autocast[0]), judged_dtype(dtypes[1], self.autocast[1])
        )

    def _note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def on_start(self, tree: CallTree) -> None:
        self.aligner.on_start(tree)

    def on_call(self, node: CallNode) -> bool:
        return self.aligner.match(node) is not None

    def on_return(self, node: CallNode) -> None:
        base_id = self.aligner.partner.get(node.id)
        if base_id is None or node.transparent:
            return
        base_count = self.base.output_count(base_id)
        raw_count = self._outputs_seen.pop(node.id, 0)
        if base_count != raw_count:
            self._note(
                f"'{node.path or '(root)'}' returns {base_count} tensors in base but {raw_count} in raw; "
                f"the first {min(base_count, raw_count)} were compared"
            )

    def _record(
        self,
        node: CallNode,
        where: Where,
        key: str,
        base_array: np.ndarray,
        raw: Any,
        dtypes: tuple[str, str],
        order: int,
    ) -> None:
        """Compare one pair; `dtypes` (base's, raw's): the tolerance follows the less precise one. The
        model's own final output (and the gradient arriving at it) is never compared under a permutation."""
        base_node = self.base.tree[self.aligner.partner[node.id]]
        phase = Phase.FORWARD if where in _FORWARD else Phase.BACKWARD
        atol, rtol = self.tol.at(base_node.path)
        floor = self.base.grad_floor(rtol) if phase is Phase.BACKWARD else 0.0
        raw_array = raw if isinstance(raw, np.ndarray) else self.adapter.peek(raw)  # compared now
        permute = node.parent is not None or where in (Where.INPUT, Where.GRAD_IN)
        diff = compare_arrays(
            base_array, raw_array, atol, rtol, self._judged_at(dtypes), self.tol.mode, floor, permute=permute
        )
        self._note_form(node, diff.note)
        if self.failing is not None and not diff.passed and where in _JUDGED:
            kept = self._kept[phase is Phase.BACKWARD]
            if kept < KEEP_FAILING:  # for the float64 judge, which judges forward before backward
                self.failing[(where, base_node.id, node.id, key)] = np.array(raw_array)  # kept: a copy
                self._kept[phase is Phase.BACKWARD] = kept + 1
        record = LayerDiff(
            phase=phase,
            step=self.step,
            where=where,
            order=order,
            base_path=base_node.path,
            raw_path=node.path,
            base_type=base_node.cls,
            raw_type=node.cls,
            call=node.call,
            leaf=key,
            diff=diff,
            base_id=base_node.id,
            raw_id=node.id,
            paired_by=self.aligner.paired_by[node.id].value,
        )
        (self.forward if phase is Phase.FORWARD else self.backward).append(record)

    def _note_form(self, node: CallNode, note: str) -> None:
        """Say once per layer when its tensors were compared under a permutation or without padding."""
        where = f"'{node.path or '(root)'}'"
        if note.startswith("permuted"):
            order = note.split("]")[0] + "]"
            self._note(f"{where}: tensors laid out differently, compared under the axis order {order[9:]}")
        if "padding ignored" in note:
            self._note(f"{where}: packed sequences compared on their valid positions only (padding ignored)")

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        if self.fusions.owns(node):
            return self.fusions.on_input(node, index, key, tensor, origin)
        base_id, base_index = self.base_input(node, index)
        stored = (
            None
            if base_id is None or base_index is None
            else self.base.tensor(Where.INPUT, base_id, base_index)
        )
        fused = self._fused_pending.pop(origin[0], None) if origin is not None else None
        if fused is not None and stored is not None and fused.id in self.aligner.partner:
            # the fused layer's output is what base's activation after it produced: compare it here
            if fused.fused and base_id is not None and base_index is not None:
                self.spans[self.aligner.partner[fused.id]] = (fused.fused, base_id, base_index)
            dtypes = (stored.dtype, self.adapter.dtype_name(tensor))
            self._record(
                fused, Where.OUTPUT, "out", self.base.array(stored), tensor, dtypes, len(self.forward)
            )
            return
        if stored is not None and origin is not None and stored.shared and origin[0] in self.aligner.partner:
            return  # both sides pass on an earlier layer's output: that output was compared already
        if base_id is not None and base_index is not None:
            self._compare_stored(node, Where.INPUT, base_id, base_index, key, tensor)

    def _fused(self, node: CallNode, base_id: int | None) -> bool:
        """A layer fusing an activation on one side only is compared at its input and input gradient."""
        base = None if base_id is None else self.base.tree[base_id]
        fused = node.fused or (base.fused if base is not None else "")
        if not fused or (base is not None and base.fused == node.fused):
            return False
        paths = self._fused_paths.setdefault(fused, [])
        if node.path not in paths:
            paths.append(node.path)
        return True

    def on_output(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        self._outputs_seen[node.id] = index + 1
        if self.fusions.owns(node):
            return self.fusions.on_output(node, index, key, tensor)
        base_id = self.aligner.partner.get(node.id)
        if self._fused(node, base_id):
            self._fused_pending[node.id] = node
            return
        if base_id is not None:
            self._compare_stored(node, Where.OUTPUT, base_id, index, key, tensor)

    def _compare_stored(
        self, node: CallNode, where: Where, base_id: int, index: int, key: str, tensor: Any
    ) -> None:
        stored = None if node.transparent else self.base.tensor(where, base_id, index)
        if stored is None:
            return
        if self._passed_over(where, base_id, index):
            return
        dtypes = (stored.dtype, self.adapter.dtype_name(tensor))
        self._record(node, where, key, self.base.array(stored), tensor, dtypes, len(self.forward))
        self._done(where, base_id, index)

    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None:
        where = Where(io)
        if self.fusions.owns(node):
            return self.fusions.on_grad(node, where, index, grad)
        base_id = self.aligner.partner.get(node.id)
        if where is Where.GRAD_OUT and self._fused(node, base_id):
            return
        base_index: int | None = index
        if where is Where.GRAD_IN:
            base_id, base_index = self.base_input(node, index)
        if base_id is None or base_index is None or node.transparent:
            return
        stored = self.base.tensor(where, base_id, base_index)
        if stored is None:
            return
        if self._passed_over(where, base_id, base_index):
            return
        previous = self._last_grad
        if previous is not None and previous[0] is grad:
            raw_array = previous[1]
        else:
            raw_array = self.adapter.peek(grad)  # read in place; held, with the grad, until the next one
            self._last_grad = (grad, raw_array)
        if stored.shared and previous is not None and _same(previous[1], raw_array):
            # on both sides the gradient just compared, seen again (a layer's output gradient that is its
            # consumer's input gradient): compared already, as the forward skips an input it passed on
            self._done(where, base_id, base_index)
            return
        dtypes = (stored.dtype, self.adapter.dtype_name(grad))
        self._record(node, where, stored.key, self.base.array(stored), raw_array, dtypes, stored.order)
        self._done(where, base_id, base_index)

    def _passed_over(self, where: Where, base_id: int, index: int) -> bool:
        """Whether this place is outside `only`: then base's entry is let go uncompared."""
        if self.only is None or self.only == (where, base_id):
            return False
        self._done(where, base_id, index)
        return True

    def _done(self, where: Where, base_id: int, index: int) -> None:
        """Base's entry has served: forgotten, unless a later raw run needs it (`keep_base`)."""
        if not self.keep_base:
            self.base.release(where, base_id, index)

    def finish(self) -> None:
        self._last_grad = None
        self.backward.sort(key=lambda d: d.order)
        for activation, paths in self._fused_paths.items():
            named = ", ".join(f"'{p or '(root)'}'" for p in paths[:3]) + (
                f" and {len(paths) - 3} more" if len(paths) > 3 else ""
            )
            verb = "applies" if len(paths) == 1 else "apply"
            self._note(
                f"{named} {verb} a fused {activation} activation on one side only: compared at its input and "
                "input gradient, and at its output where the other side's activation after it is taken in"
            )


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or same(a, b)
