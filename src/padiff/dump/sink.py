"""The capture sink that writes one step of a run to disk, and the step's file around it.

Rule: the sink keeps exactly what the in-memory base trace (`judge.base_trace.BaseTrace`) keeps, in the
order the run produced it, so a dump answers the same `Trace` questions and raw's recorded events can be
replayed into the comparer as if raw were running: every call as it starts and returns, the inputs of
every call that needs a counterpart (containers need none), every output, and every gradient. A tensor
already written (an input that is an earlier layer's output, a gradient equal to the one before it) is
referenced, not written again. A step records one call of the model: when `record` sees the model called
again in the same step (an evaluation pass in the loop), that call is left out and the step says so. Each event carries its dtype and shape; tensors go to the step's
safetensors file as they arrive, or only their summary with `summary_only`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..capture.calltree import CallNode, CallTree
from ..capture.hooks import RunState
from ..capture.leaves import skeleton
from ..capture.sink import NullSink, Origin
from ..frameworks.base import Adapter, plain
from ..judge.chunks import mean_abs, same
from ..judge.trace import AFTER, BEFORE
from .arguments import skeleton_to_json
from .manifest import step_file
from .summary import summarize
from .tensorfile import TensorWriter

__all__ = ["StepRecorder", "StepWriter"]


class StepRecorder(NullSink):
    """A `capture.Sink` writing every event of one run (see the module docstring)."""

    def __init__(self, adapter: Adapter, writer: TensorWriter, summary_only: bool):
        self.adapter, self.writer, self.summary_only = adapter, writer, summary_only
        self.tree = CallTree()
        self.events: list[list[Any]] = []
        self.arguments: dict[str, Any] = {}
        self._outputs: dict[tuple[int, int], str] = {}  # (node id, output index) -> tensor name
        self._last_grad: tuple[Any, np.ndarray, str] | None = None  # (grad tensor, its array, its name)
        self._count = 0
        self.cut: int | None = None  # id of a second top-level call of the model: not recorded from there
        self.extra_calls = 0

    def _skipped(self, node: CallNode) -> bool:
        return self.cut is not None and node.id >= self.cut

    def write(self, array: np.ndarray, dtype: str, summary: bool | None = None) -> str:
        name = f"t/{self._count}"
        self._count += 1
        summarised = self.summary_only if summary is None else summary
        self.writer.add(name, summarize(array) if summarised else array, None if summarised else dtype)
        return name

    def on_start(self, tree: CallTree) -> None:
        self.tree = tree

    def on_call(self, node: CallNode) -> bool:
        if node.parent is None and node.id > 0:  # the model called again in the same step (`record`)
            self.cut = node.id if self.cut is None else self.cut
            self.extra_calls += 1
        if self._skipped(node):
            return False
        self.events.append(["call", node.id])
        return not node.transparent

    def on_arguments(self, node: CallNode, args: tuple, kwargs: dict) -> None:
        self.arguments[str(node.id)] = skeleton_to_json(skeleton((args, kwargs), self.adapter.is_tensor))

    def _tensor(self, tensor: Any, origin: Origin | None) -> tuple[str, str, list[int]]:
        dtype = self.adapter.dtype_name(tensor)
        shape = list(self.adapter.shape(tensor))
        name = None if origin is None else self._outputs.get(origin)
        if name is None:
            name = self.write(self.adapter.to_numpy(tensor), dtype)
        return name, dtype, shape

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        name, dtype, shape = self._tensor(tensor, origin)
        self.events.append(
            ["in", node.id, index, key, name, dtype, shape, None if origin is None else list(origin)]
        )

    def on_output(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        if self._skipped(node):
            return
        if node.transparent:  # a container's output is its last layer's: nothing to keep
            dtype, shape = self.adapter.dtype_name(tensor), list(self.adapter.shape(tensor))
            name = None
        else:
            name, dtype, shape = self._tensor(tensor, origin)
            self._outputs[(node.id, index)] = name
        self.events.append(
            ["out", node.id, index, key, name, dtype, shape, None if origin is None else list(origin)]
        )

    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None:
        if node.transparent or self._skipped(node):
            return
        last, scale = self._last_grad, None
        if last is not None and last[0] is grad:
            array, name = last[1], last[2]
        else:
            array = self.adapter.to_numpy(grad)
            if last is not None and same(last[1], array):
                name = last[2]  # a layer's input gradient is usually its predecessor's output gradient
            else:
                name = self.write(array, self.adapter.dtype_name(grad))
                scale = mean_abs(array) if array.size else None
            self._last_grad = (grad, array, name)
        self.events.append(["grad", node.id, io, index, name, str(array.dtype), list(array.shape), scale])

    def on_return(self, node: CallNode) -> None:
        if not self._skipped(node):
            self.events.append(["ret", node.id])

    def finish(self) -> None:
        self._last_grad = None


class StepWriter:
    """One step's tensor file: the run's events (through `sink`), and the whole model around the run."""

    def __init__(self, folder: Path, step: int, adapter: Adapter, summary_only: bool, reserve: int):
        self.step, self.adapter = step, adapter
        self.writer = TensorWriter(folder / step_file(step), reserve)
        self.sink = StepRecorder(adapter, self.writer, summary_only)
        self.optimizer: dict[str, Any] | None = None
        self.updated = False

    def _add(self, name: str, tensor: Any) -> None:
        self.writer.add(name, self.adapter.to_numpy(tensor), self.adapter.dtype_name(tensor))

    def buffers(self, when: str, model: Any) -> None:
        """Every buffer, BEFORE the forward or AFTER the backward."""
        assert when in (BEFORE, AFTER)
        adapter = self.adapter
        for name, tensor in adapter.all_state(model):
            if not adapter.requires_grad(tensor) and f"buffer.{when}/{name}" not in self.writer.entries:
                self._add(f"buffer.{when}/{name}", tensor)

    def param_grads(self, model: Any) -> None:
        """Each parameter's gradient as it is now, by state name."""
        adapter = self.adapter
        for name, tensor in adapter.all_state(model):
            grad = adapter.grad_of(tensor) if adapter.requires_grad(tensor) else None
            if grad is not None and f"grad/{name}" not in self.writer.entries:
                self._add(f"grad/{name}", grad)

    def state_arrays(self, model: Any) -> dict[str, np.ndarray]:
        """Every state's value now (before an optimizer step), by state name."""
        out: dict[str, np.ndarray] = {}
        for name, tensor in self.adapter.all_state(model):
            out.setdefault(name, self.adapter.to_numpy(tensor))
        return out

    def update(self, model: Any, before: Mapping[str, np.ndarray], optimizer: Any) -> None:
        """After an optimizer step: each state's value before it and its change (after - before), and the
        optimizer's settings and per-parameter state."""
        adapter = self.adapter
        dtypes = {name: adapter.dtype_name(t) for name, t in adapter.all_state(model)}
        after = self.state_arrays(model)
        for name, value in before.items():
            if name in after:
                self.writer.add(f"before/{name}", value, dtypes.get(name))
                self.writer.add(f"update/{name}", after[name] - value)
        self.updated = True
        if optimizer is None or not adapter.is_optimizer(optimizer):
            return
        settings = {key: plain(value) for key, value in adapter.optimizer_settings(optimizer).items()}
        self.optimizer = {"kind": type(optimizer).__name__, "settings": settings, "state": {}}
        seen: set[int] = set()
        for name, tensor in adapter.all_state(model):
            if id(tensor) in seen or not adapter.requires_grad(tensor):
                continue
            seen.add(id(tensor))
            state = adapter.optimizer_param_state(optimizer, tensor)
            for key, value in state.items():
                self.writer.add(f"optim/{name}/{key}", value)
            self.optimizer["state"][name] = sorted(state)

    def close(self, state: RunState, notes: list[str]) -> dict[str, Any]:
        """Write the file; the step's manifest entry."""
        self.sink.finish()
        self.writer.close({"format": "padiff-dump", "step": str(self.step)})
        nodes = []
        if self.sink.extra_calls:
            notes = [*notes, f"step {self.step}: the model was called {self.sink.extra_calls + 1} times; only the first "
                     "call (and its backward) was recorded"]  # fmt: skip
        for node in self.sink.tree.nodes[: self.sink.cut]:
            data = node.to_dict()
            data.pop("children", None)
            nodes.append(data)
        return {
            "file": self.writer.path.name,
            "bytes": self.writer.path.stat().st_size,
            "tensor_bytes": self.writer.bytes,
            "nodes": nodes,
            "events": self.sink.events,
            "arguments": self.sink.arguments,
            "dropout_neutralised": state.dropout_neutralised,
            "functional_dropout": state.functional_dropout,
            "skipped_outputs": state.skipped_outputs,
            "optimizer": self.optimizer,
            "updated": self.updated,
            "notes": list(notes),
        }

    def abort(self) -> None:
        self.writer.abort()
