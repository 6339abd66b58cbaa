"""Compare raw's events against the stored base trace as they arrive; keep only the metrics."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..capture.calltree import CallNode
from ..capture.sink import Origin
from ..frameworks.base import Adapter
from ..match.align import Aligner
from .metrics import compare_arrays
from .records import LayerDiff, Phase, Where
from .tolerance import Tolerances
from .trace import BaseTrace

__all__ = ["RawComparer", "IsolatedComparer", "merge_local", "pair_inputs"]


class RawComparer:
    """A `capture.Sink` for raw: pairs each call with base's (via `Aligner`) and compares its tensors."""

    def __init__(
        self,
        adapter: Adapter,
        base: BaseTrace,
        aligner: Aligner,
        tolerances: Tolerances,
        step: int = 0,
        keep_base: bool = False,
    ):
        self.adapter, self.base, self.aligner, self.tol, self.step = adapter, base, aligner, tolerances, step
        self.keep_base = keep_base  # keep base's arrays after comparing (a second raw run will need them)
        self.forward: list[LayerDiff] = []
        self.notes: list[str] = []
        self._outputs_seen: dict[int, int] = {}
        self._fused_pending: dict[int, CallNode] = {}  # fused raw calls whose output awaits its consumer
        self.backward: list[LayerDiff] = []
        self._last_grad: tuple[Any, np.ndarray] | None = None
        self._input_pairs: dict[int, dict[int, int]] = {}  # raw node id -> {raw input index: base's}

    def base_input(self, node: CallNode, index: int) -> tuple[int | None, int | None]:
        """(base node id, base input index) of raw input `index` of `node`, when it has a counterpart."""
        base_id = self.aligner.partner.get(node.id)
        if base_id is None:
            return None, None
        pairs = self._input_pairs.get(node.id)
        if pairs is None:
            pairs = self._input_pairs[node.id] = pair_inputs(self.base.nodes[base_id].inputs, node.inputs)
        return base_id, pairs.get(index)

    def on_call(self, node: CallNode) -> bool:
        return self.aligner.match(node) is not None

    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any:
        return None

    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any:
        return None

    def on_return(self, node: CallNode) -> None:
        base_id = self.aligner.partner.get(node.id)
        if base_id is None or node.transparent:
            return
        base_count = self.base.output_counts.get(base_id, 0)
        raw_count = self._outputs_seen.pop(node.id, 0)
        if base_count != raw_count:
            note = (
                f"'{node.path or '(root)'}' returns {base_count} tensors in base but {raw_count} in raw; "
                f"the first {min(base_count, raw_count)} were compared"
            )
            if note not in self.notes:
                self.notes.append(note)

    def _record(
        self,
        node: CallNode,
        where: str,
        index: int,
        key: str,
        base_array: np.ndarray,
        raw_array: np.ndarray,
        dtype: str,
        order: int,
    ) -> None:
        base_node = self.base.nodes[self.aligner.partner[node.id]]
        phase = Phase.FORWARD if where in ("input", "output") else Phase.BACKWARD
        floor = self.base.grad_floor(self.tol.rtol) if phase is Phase.BACKWARD else 0.0
        diff = compare_arrays(
            base_array, raw_array, self.tol.atol, self.tol.rtol, dtype, self.tol.mode, floor
        )
        record = LayerDiff(
            phase=phase,
            step=self.step,
            where=Where(where),
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
        )
        (self.forward if phase is Phase.FORWARD else self.backward).append(record)

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        base_id, base_index = self.base_input(node, index)
        stored = (
            None if base_id is None or base_index is None else self.base.inputs.get((base_id, base_index))
        )
        fused = self._fused_pending.pop(origin[0], None) if origin is not None else None
        if fused is not None and stored is not None and fused.id in self.aligner.partner:
            # the fused layer's output is what base's activation after it produced: compare it here
            base_array = self.base.array(stored.array)
            self._record(
                fused,
                "output",
                0,
                "out",
                base_array,
                self.adapter.to_numpy(tensor),
                stored.dtype,
                len(self.forward),
            )
            return
        if stored is not None and origin is not None and stored.shared and origin[0] in self.aligner.partner:
            return  # both sides pass on an earlier layer's output: that output was compared already
        if base_index is not None:
            self._compare_stored(node, "input", base_index, key, tensor, self.base.inputs, base_id)

    def _fused(self, node: CallNode, base_id: int | None) -> bool:
        """A layer fusing an activation on one side only is compared at its input and input gradient."""
        base = None if base_id is None else self.base.nodes[base_id]
        fused = node.fused or (base.fused if base is not None else "")
        if not fused or (base is not None and base.fused == node.fused):
            return False
        note = (
            f"'{node.path or '(root)'}' applies a fused {fused} activation on one side only: compared at "
            "its input and input gradient, not its output"
        )
        if note not in self.notes:
            self.notes.append(note)
        return True

    def on_output(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        self._outputs_seen[node.id] = index + 1
        if self._fused(node, self.aligner.partner.get(node.id)):
            self._fused_pending[node.id] = node
            return
        self._compare_stored(
            node, "output", index, key, tensor, self.base.outputs, base_id=self.aligner.partner.get(node.id)
        )

    def _compare_stored(
        self, node: CallNode, where: str, index: int, key: str, tensor: Any, table: dict, base_id: int | None
    ) -> None:
        stored = None if base_id is None or node.transparent else table.get((base_id, index))
        if stored is None:
            return
        base_array = self.base.array(stored.array)
        raw_array = self.adapter.to_numpy(tensor)
        self._record(node, where, index, key, base_array, raw_array, stored.dtype, len(self.forward))
        if not self.keep_base:
            self.base.release(table, (base_id, index))

    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None:
        base_id = self.aligner.partner.get(node.id)
        if io == "grad_out" and self._fused(node, base_id):
            return
        base_index: int | None = index
        if io == "grad_in":
            base_id, base_index = self.base_input(node, index)
        if base_id is None or base_index is None or node.transparent:
            return
        key = (io, base_id, base_index)
        if key not in self.base.grads:
            return
        if self._last_grad is not None and self._last_grad[0] is grad:
            raw_array = self._last_grad[1]
        else:
            raw_array = self.adapter.to_numpy(grad)
            self._last_grad = (grad, raw_array)
        base_array = self.base.array(self.base.grads[key])
        self._record(
            node,
            io,
            base_index,
            f"{io}[{base_index}]",
            base_array,
            raw_array,
            str(base_array.dtype),
            self.base.grad_order[key],
        )
        if not self.keep_base:
            self.base.release(self.base.grads, key)

    def finish(self) -> None:
        self._last_grad = None
        self.backward.sort(key=lambda d: d.order)


class IsolatedComparer(RawComparer):
    """Single-step isolation: each raw layer gets base's inputs and base's incoming gradient, so what it
    is compared on is its own error. What the raw run computed is still compared before it is replaced:
    an input that differs then shows the parent's own code's error, alone."""

    def __init__(
        self, adapter: Adapter, base: BaseTrace, aligner: Aligner, tolerances: Tolerances, step: int = 0
    ):
        super().__init__(adapter, base, aligner, tolerances, step, keep_base=True)

    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any:
        """Base's input in place of raw's, still passing gradients on to what raw computed."""
        base_id, base_index = self.base_input(node, index)
        stored = (
            None if base_id is None or base_index is None else self.base.inputs.get((base_id, base_index))
        )
        if stored is None:
            return None
        array = self.base.array(stored.array)
        if tuple(array.shape) != tuple(self.adapter.shape(tensor)):
            return None
        return self.adapter.substitute(tensor, array)

    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any:
        base_id = self.aligner.partner.get(node.id)
        if self._fused(node, base_id):
            return None
        handle = None if base_id is None else self.base.grads.get(("grad_out", base_id, index))
        if handle is None:
            return None
        array = self.base.array(handle)
        if tuple(array.shape) != tuple(self.adapter.shape(grad)):
            return None
        return self.adapter.substitute(grad, array)


def pair_inputs(base_keys: tuple[str, ...], raw_keys: tuple[str, ...]) -> dict[int, int]:
    """{raw input index: base input index}: same name first; the rest by position among the unnamed rest.

    Two implementations of one layer pass the same inputs under the same names in any order, and may
    pass extra ones (Hugging Face's `cache_position`): those have no counterpart and are not compared.
    Inputs whose names differ (torch `input`, paddle `x`) pair in order.
    """
    shared = set(base_keys) & set(raw_keys)
    base_at = {key: i for i, key in enumerate(base_keys)}
    rest = iter([i for i, key in enumerate(base_keys) if key not in shared])
    pairs: dict[int, int] = {}
    for index, key in enumerate(raw_keys):
        partner = base_at[key] if key in shared else next(rest, None)
        if partner is not None:
            pairs[index] = partner
    return pairs


def merge_local(accumulated: list[LayerDiff], local: list[LayerDiff]) -> list[LayerDiff]:
    """Attach each pair's local error (from an isolated run) to its accumulated record."""

    def key(d: LayerDiff) -> tuple:  # parameters have no call ids (-1): their paths tell them apart
        return (d.where, d.base_id, d.raw_id, d.base_path, d.raw_path, d.leaf)

    by_key = {key(d): d.diff for d in local}
    return [replace(d, local=by_key.get(key(d), d.diff)) for d in accumulated]
