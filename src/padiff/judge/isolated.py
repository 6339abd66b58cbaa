"""Single-step isolation's comparer: each raw layer is fed base's inputs and base's incoming gradient, so
what it is compared on is its own error (`IsolatedComparer`); and the local errors attached to the
accumulated ones (`merge_local`).

A layer raw fuses an activation into (paddle's BatchNorm(act="relu")) is fed the gradient at base's
activation's output, taken where base's next layer received it, and keeps its failing values for the
float64 judge, whose unit then spans base's layer and the activation after it (`RawComparer.spans`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..capture.calltree import CallNode
from ..frameworks.base import Adapter
from ..match.align import Aligner
from .records import LayerDiff, Where
from .shapes import in_shape
from .stream import RawComparer
from .tolerance import DEFAULT_RTOL, Tolerances
from .trace import Trace

__all__ = ["IsolatedComparer", "merge_local", "substituted"]


class IsolatedComparer(RawComparer):
    """Single-step isolation: each raw layer gets base's inputs and base's incoming gradient, so what it
    is compared on is its own error. What the raw run computed is still compared before it is replaced:
    an input that differs then shows the parent's own code's error, alone."""

    def __init__(
        self,
        adapter: Adapter,
        base: Trace,
        aligner: Aligner,
        tolerances: Tolerances,
        step: int = 0,
        autocast: tuple[str | None, str | None] = (None, None),
    ):
        super().__init__(adapter, base, aligner, tolerances, step, keep_base=True, autocast=autocast)
        self.failing = {}
        # raw call id -> what it could not be fed (base's value recorded, but not placeable in raw's):
        # its pairs then hold no local value, which the float64 judge must not take for one
        self.unfed: dict[int, str] = {}

    def _base_value(self, stored: Any, like: Any, node: CallNode, what: str) -> Any:
        """Base's value in raw's place, when it can stand there: float on both sides (a bool mask does not
        replace an additive one; see `substituted`), laid out in raw's shape as the pair is compared
        (`shapes.in_shape`: reshaped, or permuted except at the model's own output). A floating value
        that no layout places in raw's leaves the call unfed (`what`: which value)."""
        if stored is None or not substituted(stored.dtype, self.adapter.dtype_name(like)):
            return None
        shape = tuple(self.adapter.shape(like))
        array = in_shape(np.ma.getdata(self.base.array(stored)), shape, permute=node.parent is not None)
        if array is None:
            self.unfed.setdefault(node.id, what)
            return None
        return self.adapter.substitute(like, array)

    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any:
        """Base's input in place of raw's, still passing gradients on to what raw computed."""
        base_id, base_index = self.base_input(node, index)
        if base_id is None or base_index is None:
            return None
        stored = self.base.tensor(Where.INPUT, base_id, base_index)
        return self._base_value(stored, tensor, node, f"base's input {base_index}")

    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any:
        if self.fusions.owns(node):
            return self.fusions.replace_grad(node, index, grad)
        base_id = self.aligner.partner.get(node.id)
        if base_id is None:
            return None
        if not self._fused(node, base_id):
            stored = self.base.tensor(Where.GRAD_OUT, base_id, index)
            return self._base_value(stored, grad, node, f"base's incoming gradient {index}")
        # raw's fused layer gets the gradient at base's activation's output
        span = self.spans.get(base_id)
        stored = None if span is None else self.base.tensor(Where.GRAD_IN, *span[1:])
        if stored is None:
            self.unfed.setdefault(node.id, "the gradient at the output of the activation it fuses")
        return self._base_value(stored, grad, node, f"base's incoming gradient {index}")


def substituted(base_dtype: str, raw_dtype: str) -> bool:
    """Whether single-step isolation puts base's value in place of raw's: both floating point (the
    shapes must agree too)."""
    return base_dtype in DEFAULT_RTOL and raw_dtype in DEFAULT_RTOL


def merge_local(accumulated: list[LayerDiff], local: list[LayerDiff]) -> list[LayerDiff]:
    """Attach each pair's local error (from an isolated run) to its accumulated record."""

    def key(d: LayerDiff) -> tuple:  # parameters have no call ids (-1): their paths tell them apart
        return (d.where, d.base_id, d.raw_id, d.base_path, d.raw_path, d.leaf)

    by_key = {key(d): d.diff for d in local}
    return [replace(d, local=by_key.get(key(d), d.diff)) for d in accumulated]
