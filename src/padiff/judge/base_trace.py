"""The base run's trace, kept in memory as numpy arrays (the overflow in a temporary file): a `Trace`.

Only base is stored whole; raw is compared against it as its events arrive (see `stream`), so memory
holds one trace, not two. A tensor seen twice (a Sequential's output is its last child's, a layer's input
gradient is usually its predecessor's output gradient) is stored once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..capture.calltree import CallNode, CallTree
from ..capture.leaves import Slot, skeleton
from ..capture.optim import OptimizerRecord
from ..capture.sink import NullSink, Origin
from ..frameworks.base import Adapter
from ..weights.pairs import StatePair
from .chunks import mean_abs, same
from .records import Where
from .spill import ArrayStore, Handle
from .tolerance import group_floor
from .trace import AFTER, BEFORE, CallArgs, Stored

__all__ = ["BaseTrace"]


class BaseTrace(NullSink):
    """A `capture.Sink` that keeps everything base computes, and answers the `Trace` questions."""

    def __init__(self, adapter: Adapter, memory_budget: int | None = None):
        self.adapter = adapter
        self.store = ArrayStore(memory_budget)  # None: spill's default share of the available RAM
        self.tree = CallTree()
        self.loss_grad_scale = 0.0
        self._tensors: dict[tuple[Where, int, int], Stored] = {}
        self._arguments: dict[int, CallArgs] = {}
        self._output_counts: dict[int, int] = {}  # node id -> number of tensors it returned
        self._grad_scales: list[float] = []
        self._floors: dict[tuple[float | None, int, float], float] = {}
        self._grad_count = 0
        self._last_grad: tuple[Any, np.ndarray, Any] | None = None  # (grad tensor, its array, handle)
        self._param_grads = _Named(self.store)
        self._buffers: dict[str, dict[str, np.ndarray]] = {BEFORE: {}, AFTER: {}}
        self._weights_before: dict[str, np.ndarray] = {}
        self._updates: Mapping[str, np.ndarray] = {}
        self._optimizer: OptimizerRecord | None = None

    # --- the Trace questions -------------------------------------------------------------------------

    def tensor(self, where: Where, node_id: int, index: int) -> Stored | None:
        return self._tensors.get((where, node_id, index))

    def array(self, stored: Stored) -> np.ndarray:
        return self.store.get(stored.handle)

    def release(self, where: Where, node_id: int, index: int) -> None:
        """Forget an entry once raw has been compared with it; its array is freed with its last holder."""
        self._tensors.pop((where, node_id, index), None)

    def output_count(self, node_id: int) -> int:
        return self._output_counts.get(node_id, 0)

    def arguments(self, node_id: int) -> CallArgs | None:
        return self._arguments.get(node_id)

    def grad_floor(self, rtol: float | None) -> float:
        """The gradients' group floor; asked once per compared gradient, computed once per rtol."""
        key = (rtol, len(self._grad_scales), self.loss_grad_scale)
        floor = self._floors.get(key)
        if floor is None:
            floor = self._floors[key] = group_floor(self._grad_scales, self.loss_grad_scale, rtol)
        return floor

    def param_grads(self) -> Mapping[str, np.ndarray]:
        return self._param_grads

    def buffers(self, when: str) -> Mapping[str, np.ndarray]:
        return self._buffers[when]

    def weights_before_update(self) -> Mapping[str, np.ndarray]:
        return self._weights_before

    def updates(self) -> Mapping[str, np.ndarray]:
        return self._updates

    def optimizer(self) -> OptimizerRecord | None:
        return self._optimizer

    # --- recording: the run (a capture sink) ---------------------------------------------------------

    def on_start(self, tree: CallTree) -> None:
        self.tree = tree

    def on_call(self, node: CallNode) -> bool:
        return not node.transparent

    def on_arguments(self, node: CallNode, args: tuple, kwargs: dict) -> None:
        adapter = self.adapter
        if not kwargs and all(adapter.is_tensor(adapter.unpack(a)) for a in args):  # tensors by position
            self._arguments[node.id] = CallArgs(tuple(Slot(i) for i in range(len(args))), {})
            return
        shape = skeleton((args, kwargs), adapter.is_tensor, adapter.unpack)
        self._arguments[node.id] = CallArgs(shape[0], shape[1])

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        self._keep(Where.INPUT, node, index, key, tensor, origin)

    def on_output(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        self._output_counts[node.id] = index + 1
        self._keep(Where.OUTPUT, node, index, key, tensor, origin)

    def _keep(
        self, where: Where, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None
    ) -> None:
        if node.transparent:
            return
        dtype, shape = self.adapter.dtype_name(tensor), tuple(self.adapter.shape(tensor))
        earlier = None if origin is None else self._tensors.get((Where.OUTPUT, *origin))
        if earlier is not None:
            self._tensors[(where, node.id, index)] = Stored(key, earlier.handle, dtype, True, shape=shape)
        else:
            handle = self.store.put(self.adapter.to_numpy(tensor))
            self._tensors[(where, node.id, index)] = Stored(key, handle, dtype, shape=shape)

    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None:
        if node.transparent:
            return
        shared = True  # the same values as the gradient just before (one tensor seen at two places)
        if self._last_grad is not None and self._last_grad[0] is grad:
            array, handle = self._last_grad[1], self._last_grad[2]
        else:
            array = self.adapter.to_numpy(grad)
            last = self._last_grad
            if last is not None and same(last[1], array):
                handle = last[2]  # a layer's input gradient is usually its predecessor's output gradient
            else:
                shared = False
                handle = self.store.put(array)
                if array.size:
                    self._grad_scales.append(mean_abs(array))
            self._last_grad = (grad, array, handle)
        where = Where(io)
        self._tensors[(where, node.id, index)] = Stored(
            f"{io}[{index}]", handle, str(array.dtype), shared=shared, order=self._grad_count
        )
        self._grad_count += 1
        if node.parent is None and where is Where.GRAD_OUT and array.size:
            self.loss_grad_scale = max(self.loss_grad_scale, mean_abs(array))

    def finish(self) -> None:
        self._last_grad = None

    # --- recording: the whole model around the run ---------------------------------------------------

    def record_param_grads(self, pairs: list[StatePair]) -> None:
        """Base's gradient of every paired parameter, by state name."""
        for pair in pairs:
            for key, tensor in zip(pair.base_keys, pair.base_tensors):
                grad = None if key in self._param_grads else self.adapter.grad_of(tensor)
                if grad is not None:
                    self._param_grads.put(key, self.adapter.to_numpy(grad))

    def record_buffers(self, when: str, model: Any) -> None:
        adapter = self.adapter
        self._buffers[when] = {
            name: adapter.to_numpy(t) for name, t in adapter.all_state(model) if not adapter.requires_grad(t)
        }

    def record_update(
        self, before: dict[str, np.ndarray], after: dict[str, np.ndarray], optimizer: OptimizerRecord | None
    ) -> None:
        """The parameters before an optimizer step, what the step changed, and the optimizer after it."""
        self._weights_before = before  # the optimizer's isolation holds these anyway
        updates = self._updates = _Named(self.store)
        for key, value in before.items():
            if key in after:
                updates.put(key, after[key] - value)
        self._optimizer = optimizer

    def close(self) -> None:
        self.store.close()


class _Named(Mapping[str, np.ndarray]):
    """Arrays by name, held in the trace's store: they count towards the memory budget and spill past
    it with the rest of the trace."""

    def __init__(self, store: ArrayStore) -> None:
        self._store = store
        self._handles: dict[str, Handle] = {}

    def put(self, key: str, array: np.ndarray) -> None:
        self._handles[key] = self._store.put(array)

    def __getitem__(self, key: str) -> np.ndarray:
        return self._store.get(self._handles[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._handles)

    def __len__(self) -> int:
        return len(self._handles)
