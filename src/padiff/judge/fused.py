"""Comparing the calls of a layer one model fuses and the other keeps apart (`weights.fused.Fusion`).

Rule. When raw fuses (one qkv_proj for base's q_proj, k_proj, v_proj), raw's output and the gradient
arriving at it are compared against base's parts' outputs (gradients) joined in the fusion's layout,
the gradient it sends to its input against the sum of the parts' (each part sends its share), and its
input against the first part's. When base fuses, each raw part's output and output gradient are compared
against its cut of base's fused tensor, and the input gradients raw's parts send are summed over one call
of all of them and compared against base's fused layer's. Single-step isolation feeds raw's layers the
same joined or cut gradients. The pairs come from `match.fused_calls`; the layout is the fusion's, never
read from shapes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..capture.calltree import CallNode
from ..capture.sink import Origin
from ..match.fused_calls import FusedCall
from .records import Where

if TYPE_CHECKING:
    from .stream import RawComparer

__all__ = ["FusedComparer", "laid_out"]

_JOINED = (Where.OUTPUT, Where.GRAD_OUT)  # tensors laid out like the fused layer's features


class FusedComparer:
    """The fused pairs of one `RawComparer` (see the module docstring)."""

    def __init__(self, comparer: RawComparer):
        self.comparer = comparer
        self._grads_in: dict[tuple[int, int], list[np.ndarray]] = {}  # (base call, input) -> raw's shares

    def owns(self, node: CallNode) -> bool:
        return node.id in self.comparer.aligner.fused.calls

    def _call(self, node: CallNode) -> FusedCall:
        call = self.comparer.aligner.fused.calls[node.id]
        how = "joined from base's parts" if call.fuses else "cut from base's fused layer"
        self.comparer._note(f"{call.fusion.describe(short=True)}: outputs and gradients compared {how}")
        return call

    def _base(self, call: FusedCall, where: Where, index: int) -> tuple[np.ndarray, Any] | None:
        """Base's tensor for raw's call (joined, cut or summed) and the first stored record behind it."""
        base = self.comparer.base
        stored = [base.tensor(where, base_id, index) for base_id in call.base_ids]
        if any(s is None for s in stored):
            return None
        arrays = [base.array(s) for s in stored if s is not None]
        return laid_out(call, where, arrays), stored[0]

    def _input_index(self, node: CallNode, index: int) -> int | None:
        return self.comparer.base_input(node, index)[1]

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        call, base_index = self._call(node), self._input_index(node, index)
        found = None if base_index is None else self._base(call, Where.INPUT, base_index)
        if found is None:
            return
        array, stored = found
        if stored.shared and origin is not None and origin[0] in self.comparer.aligner.partner:
            return  # both sides pass on an earlier layer's output: compared there already
        self._record(node, Where.INPUT, key, array, tensor, stored.dtype, len(self.comparer.forward))

    def on_output(self, node: CallNode, index: int, key: str, tensor: Any) -> None:
        found = self._base(self._call(node), Where.OUTPUT, index)
        if found is not None:
            self._record(
                node, Where.OUTPUT, key, found[0], tensor, found[1].dtype, len(self.comparer.forward)
            )

    def on_grad(self, node: CallNode, where: Where, index: int, grad: Any) -> None:
        call = self._call(node)
        base_index = index if where is Where.GRAD_OUT else self._input_index(node, index)
        found = None if base_index is None else self._base(call, where, base_index)
        if found is None or base_index is None:
            return
        array, stored = found
        raw_array = self.comparer.adapter.to_numpy(grad)
        if where is Where.GRAD_IN and not call.fuses:
            shares = self._grads_in.setdefault((call.base_ids[0], base_index), [])
            shares.append(raw_array)
            if len(shares) < len(call.fusion.parts):
                return  # compared once every part has sent its share
            raw_array = np.sum(self._grads_in.pop((call.base_ids[0], base_index)), axis=0)
        self._record(node, where, stored.key, array, raw_array, stored.dtype, stored.order)

    def _record(
        self, node: CallNode, where: Where, key: str, base: np.ndarray, raw: Any, dtype: str, order: int
    ) -> None:
        comparer = self.comparer
        raw_dtype = comparer.adapter.dtype_name(raw) if not isinstance(raw, np.ndarray) else str(raw.dtype)
        comparer._record(node, where, key, base, raw, (dtype, raw_dtype), order)

    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any:
        """Base's gradient at raw's output (joined or cut), in raw's place, for single-step isolation."""
        from .isolated import substituted

        found = self._base(self._call(node), Where.GRAD_OUT, index)
        adapter = self.comparer.adapter
        if found is None or not substituted(found[1].dtype, adapter.dtype_name(grad)):
            return None
        if tuple(found[0].shape) != tuple(adapter.shape(grad)):
            return None
        return adapter.substitute(grad, found[0])


def laid_out(call: FusedCall, where: Where, arrays: list[np.ndarray]) -> np.ndarray:
    """Base's arrays (one per base call behind raw's `call`) as raw's call is compared with them: joined
    in the fusion's layout, or cut from base's fused layer, where laid out like its features (outputs and
    the gradients at them); the first part's input; the parts' input gradients summed."""
    if not call.fuses:
        return call.fusion.cut(arrays[0], call.part) if where in _JOINED else arrays[0]
    if where in _JOINED:
        return call.fusion.join(arrays)
    return arrays[0] if where is Where.INPUT else np.sum(arrays, axis=0)
