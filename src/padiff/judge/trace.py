"""The base run's trace: every layer call and the tensors it produced, held as numpy arrays.

Only base is stored whole; raw is compared against it as its events arrive (see `stream`), so memory
holds one trace, not two. A tensor seen twice (a Sequential's output is its last child's) is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..capture.calltree import CallNode
from ..capture.sink import Origin
from ..frameworks.base import Adapter
from . import spill
from .spill import ArrayStore, Handle
from .tolerance import group_floor

__all__ = ["BaseTrace", "Stored"]


@dataclass
class Stored:
    key: str
    array: Handle  # read it with BaseTrace.array
    dtype: str
    shared: bool = False  # the same tensor as an earlier layer's output (array shared with that entry)


class BaseTrace:
    """A `capture.Sink` that keeps everything base computes."""

    def __init__(self, adapter: Adapter, memory_budget: int | None = None):
        self.adapter = adapter
        self.store = ArrayStore(spill.DEFAULT_MEMORY_BUDGET if memory_budget is None else memory_budget)
        self.nodes: list[CallNode] = []
        self.inputs: dict[tuple[int, int], Stored] = {}
        self.outputs: dict[tuple[int, int], Stored] = {}
        self.grads: dict[tuple[str, int, int], Handle] = {}
        self.grad_order: dict[tuple[str, int, int], int] = {}
        self.param_grads: dict[tuple[str, str], np.ndarray] = {}
        self._last_grad: tuple[Any, np.ndarray, Handle] | None = None
        self.output_counts: dict[int, int] = {}  # node id -> number of tensors it returned
        self._grad_scales: list[float] = []
        self.loss_grad_scale = (
            0.0  # mean |gradient| arriving at the model's output  # (grad tensor, its array, handle)
        )

    def array(self, handle: Handle) -> np.ndarray:
        return self.store.get(handle)

    def release(self, table: dict, key: Any) -> None:
        """Forget an entry once raw has been compared with it; its array is freed with its last holder."""
        table.pop(key, None)

    def on_call(self, node: CallNode) -> bool:
        self.nodes.append(node)
        return not node.transparent

    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any:
        return None

    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any:
        return None

    def on_return(self, node: CallNode) -> None:
        return None

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        self._keep(self.inputs, node, index, key, tensor, origin)

    def on_output(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        self.output_counts[node.id] = index + 1
        self._keep(self.outputs, node, index, key, tensor, origin)

    def grad_floor(self, rtol: float | None) -> float:
        """The scale floor for judging this run's layer gradients (see `tolerance.group_floor`)."""
        return group_floor(self._grad_scales, self.loss_grad_scale, rtol)

    def _keep(
        self, table: dict, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None
    ) -> None:
        if node.transparent:
            return
        dtype = self.adapter.dtype_name(tensor)
        if origin is not None and origin in self.outputs:
            table[(node.id, index)] = Stored(key, self.outputs[origin].array, dtype, shared=True)
        else:
            table[(node.id, index)] = Stored(key, self.store.put(self.adapter.to_numpy(tensor)), dtype)

    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None:
        if node.transparent:
            return
        if self._last_grad is not None and self._last_grad[0] is grad:
            handle = self._last_grad[2]
        else:
            array = self.adapter.to_numpy(grad)
            last = self._last_grad
            if last is not None and last[1].shape == array.shape and np.array_equal(last[1], array):
                handle = last[2]  # a layer's input gradient is usually its predecessor's output gradient
            else:
                handle = self.store.put(array)
                if array.size:
                    self._grad_scales.append(float(np.abs(array).mean()))
            self._last_grad = (grad, array, handle)
        key = (io, node.id, index)
        self.grads[key] = handle
        if node.parent is None and io == "grad_out":
            value = self.store.get(handle)
            if value.size:
                self.loss_grad_scale = max(self.loss_grad_scale, float(np.abs(value).mean()))
        self.grad_order[key] = len(self.grad_order)

    def finish(self) -> None:
        self._last_grad = None

    def close(self) -> None:
        self.store.close()
