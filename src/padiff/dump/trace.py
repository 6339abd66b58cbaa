"""One step of a dump as a `Trace` (base's side), and as a run replayed into a sink (raw's side).

Rule: a dumped step answers exactly what the in-memory `BaseTrace` would have answered for the same run.
Its calls and events are first rewritten for the comparison's LayerMap (`PathPolicy`): calls of layers
the map leaves unhooked are dropped (their calls' children hang from the nearest call kept), ignored
layers become transparent, mapped ones opaque; ids are renumbered in call order. The trace is then built
from the events in their recorded order with `BaseTrace`'s own rules: inputs of transparent calls are
not kept, a tensor that is an earlier kept output is marked shared, gradients are numbered in arrival
order and their scales give the gradient floor. `replay` hands raw's events to a sink in the order raw's
run produced them, inputs and input gradients only for calls the sink wants, as the hooks would.
Tensors are read from the step's file on demand; in a summary comparison each tensor is its summary's
judging vector (`summary`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..capture.calltree import CallNode, CallTree
from ..capture.optim import OptimizerRecord
from ..capture.sink import Sink
from ..errors import DumpError
from ..frameworks.base import Adapter
from ..judge.records import Where
from ..judge.tolerance import group_floor
from ..judge.trace import CallArgs, Stored
from ..match.policy import LayerPolicy
from .arguments import call_args_from_json
from .reader import Dump
from .summary import judging_vector, summarize
from .tensorfile import TensorFile

__all__ = ["PathPolicy", "DumpStep", "DumpTrace", "replay"]


@dataclass(frozen=True)
class PathPolicy:
    """A `LayerPolicy` by layer path (the path a call of the layer carries)."""

    skipped: frozenset[str] = frozenset()
    transparent: frozenset[str] = frozenset()
    opaque: frozenset[str] = frozenset()

    @classmethod
    def of(cls, adapter: Adapter, model: Any, policy: LayerPolicy) -> PathPolicy:
        first: dict[int, str] = {}
        for path, layer in adapter.named_sublayers(model):
            first.setdefault(id(layer), path)
        paths = {key: frozenset(p for i, p in first.items() if i in ids) for key, ids in (
            ("skipped", policy.skipped), ("transparent", policy.transparent), ("opaque", policy.opaque))}  # fmt: skip
        return cls(paths["skipped"], paths["transparent"], paths["opaque"])


class DumpStep:
    """One step of one dump, rewritten for a comparison's policy (see the module docstring)."""

    def __init__(self, dump: Dump, index: int, policy: PathPolicy, summary: bool):
        self.dump, self.index, self.summary = dump, index, summary
        self.entry = dump.steps[index]
        self.file: TensorFile = dump.step_files[index]
        try:
            self.tree, self.events, self.old_id = _rewrite(self.entry["nodes"], self.entry["events"], policy)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            raise DumpError(
                f"{dump.role} dump {dump.folder}: step {index} is malformed ({error!r})", hint="dump it again"
            ) from error

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A recorded tensor (a read-only view of the file), or its judging vector in a summary comparison."""
        data = self.file.array(name)
        if not self.summary:
            return data
        count = int(np.prod(shape, dtype=np.int64))
        return judging_vector(data if self.dump.summary_only else summarize(data), count)

    def named(self, prefix: str) -> Mapping[str, np.ndarray]:
        return _Named(self.file, prefix)


def _rewrite(
    nodes: list[dict], events: list[list], policy: PathPolicy
) -> tuple[CallTree, list[tuple], dict[int, int]]:
    new_id: dict[int, int] = {}
    kept: list[CallNode] = []
    parents: dict[int, int | None] = {}
    for data in nodes:
        old = int(data["id"])
        parent = data.get("parent")
        while parent is not None and parent not in new_id:  # the nearest ancestor kept
            parent = parents.get(parent)
        parents[old] = parent
        if data["path"] in policy.skipped:
            continue
        node = CallNode.from_dict(
            {**data, "id": len(kept), "parent": None if parent is None else new_id[parent]}
        )
        node.transparent = node.parent is not None and (node.transparent or node.path in policy.transparent)
        node.opaque = node.path in policy.opaque
        new_id[old] = node.id
        kept.append(node)
    return CallTree.of(kept), _renumber(events, new_id), {new: old for old, new in new_id.items()}


def _renumber(events: list[list], new_id: dict[int, int]) -> list[tuple]:
    """The events of the calls kept, renumbered. A tensor whose origin is a dropped call gets the origin
    the run would have given it: none, until a kept call returns it (then that call's output)."""
    out: list[tuple] = []
    relabel: dict[tuple[int, int], tuple[int, int]] = {}
    for event in events:
        kind, old = event[0], int(event[1])
        if old not in new_id:
            continue
        node = new_id[old]
        if kind in ("in", "out"):
            origin = None if event[7] is None else (int(event[7][0]), int(event[7][1]))
            if origin is not None and origin[0] in new_id:
                origin = (new_id[origin[0]], origin[1])
            elif origin is not None and origin in relabel:
                origin = relabel[origin]
            elif origin is not None:
                if kind == "out":
                    relabel[origin] = (node, int(event[2]))
                origin = None
            shape = tuple(event[6])
            out.append((kind, node, int(event[2]), str(event[3]), event[4], str(event[5]), shape, origin))
        elif kind == "grad":
            shape = tuple(event[6])
            out.append(
                (kind, node, str(event[2]), int(event[3]), str(event[4]), str(event[5]), shape, event[7])
            )
        else:
            out.append((kind, node))
    return out


class _Named(Mapping[str, np.ndarray]):
    """The tensors of a step file whose names start with a prefix, by the rest of their name."""

    def __init__(self, file: TensorFile, prefix: str):
        self.file, self.prefix = file, prefix
        self.keys_ = [n[len(prefix) :] for n in file.names() if n.startswith(prefix)]

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.keys_:
            raise KeyError(key)
        return self.file.array(self.prefix + key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return len(self.keys_)


class DumpTrace:
    """The `Trace` of one dumped step (base's side of an offline comparison)."""

    def __init__(self, step: DumpStep):
        self.step = step
        self.tree = step.tree
        self.loss_grad_scale = 0.0
        self.last: Stored | None = None  # the entry looked up last (summary comparisons read its shape)
        self._tensors: dict[tuple[Where, int, int], Stored] = {}
        self._output_counts: dict[int, int] = {}
        self._grad_scales: list[float] = []
        scales: dict[str, float] = {}
        grads, previous = 0, None  # previous: the last gradient's tensor name (a repeat is the same tensor)
        for event in step.events:
            if event[0] in ("in", "out"):
                self._keep(event)
            elif event[0] == "grad":
                _, node_id, io, index, name, dtype, shape, scale = event
                if scale is not None:
                    scales[name] = float(scale)
                if self.tree[node_id].transparent:
                    continue
                if scale is not None:
                    self._grad_scales.append(float(scale))
                where = Where(io)
                self._tensors[(where, node_id, index)] = Stored(
                    f"{io}[{index}]", (name, shape), dtype, shared=name == previous, order=grads
                )
                grads, previous = grads + 1, name
                if self.tree[node_id].parent is None and where is Where.GRAD_OUT and name in scales:
                    self.loss_grad_scale = max(self.loss_grad_scale, scales[name])

    def _keep(self, event: tuple) -> None:
        kind, node_id, index, key, name, dtype, shape, origin = event
        if kind == "out":
            self._output_counts[node_id] = index + 1
        if self.tree[node_id].transparent or name is None:
            return
        where = Where.INPUT if kind == "in" else Where.OUTPUT
        earlier = None if origin is None else self._tensors.get((Where.OUTPUT, *origin))
        self._tensors[(where, node_id, index)] = Stored(
            key, (name, shape), dtype, shared=earlier is not None, shape=tuple(shape)
        )

    def tensor(self, where: Where, node_id: int, index: int) -> Stored | None:
        self.last = self._tensors.get((where, node_id, index))
        return self.last

    def array(self, stored: Stored) -> np.ndarray:
        name, shape = stored.handle
        return self.step.array(name, shape)

    def release(self, where: Where, node_id: int, index: int) -> None:
        self._tensors.pop((where, node_id, index), None)

    def output_count(self, node_id: int) -> int:
        return self._output_counts.get(node_id, 0)

    def arguments(self, node_id: int) -> CallArgs | None:
        old = self.step.old_id.get(node_id)
        value = None if old is None else self.step.entry.get("arguments", {}).get(str(old))
        return None if value is None else call_args_from_json(value)

    def grad_floor(self, rtol: float | None) -> float:
        return group_floor(self._grad_scales, self.loss_grad_scale, rtol)

    def param_grads(self) -> Mapping[str, np.ndarray]:
        return self.step.named("grad/")

    def buffers(self, when: str) -> Mapping[str, np.ndarray]:
        return self.step.named(f"buffer.{when}/")

    def weights_before_update(self) -> Mapping[str, np.ndarray]:
        return self.step.named("before/")

    def updates(self) -> Mapping[str, np.ndarray]:
        return self.step.named("update/")

    def optimizer(self) -> OptimizerRecord | None:
        record = self.step.entry.get("optimizer")
        if not record:
            return None
        state = {
            name: {key: self.step.file.array(f"optim/{name}/{key}") for key in keys}
            for name, keys in record.get("state", {}).items()
        }
        return OptimizerRecord(str(record.get("kind", "")), dict(record.get("settings", {})), state)


def replay(step: DumpStep, sink: Sink, done: Any = None, observe: Any = None) -> None:
    """Hand raw's recorded events to `sink` as raw's hooks would have (see the module docstring);
    `done(nbytes)` is told how much tensor data each event carried, `observe(event)` sees each event
    before the sink does."""
    tree = step.tree
    sink.on_start(tree)
    wanted: dict[int, bool] = {}
    seen: set[str] = set()
    counted = None if done is None else _once(done, seen, step.file)
    for event in step.events:
        kind, node = event[0], tree[event[1]]
        if observe is not None:
            observe(event)
        if kind == "call":
            wanted[node.id] = sink.on_call(node)
        elif kind == "ret":
            sink.on_return(node)
        elif kind == "in" and wanted.get(node.id):
            sink.on_input(node, event[2], event[3], _tensor(step, event[4], event[6], counted), event[7])
        elif kind == "out":
            sink.on_output(node, event[2], event[3], _tensor(step, event[4], event[6], counted), event[7])
        elif kind == "grad" and (event[2] != "grad_in" or wanted.get(node.id)):
            sink.on_grad(node, event[2], event[3], _tensor(step, event[4], event[6], counted))


def _once(done: Any, seen: set[str], file: TensorFile) -> Any:
    """`done`, told each tensor's bytes the first time it is read."""

    def count(name: str) -> None:
        if name not in seen:
            seen.add(name)
            done(file.nbytes(name))

    return count


def _tensor(step: DumpStep, name: str | None, shape: tuple, counted: Any) -> np.ndarray | None:
    if name is None:
        return None
    array = step.array(name, shape)
    if counted is not None:
        counted(name)
    return array
