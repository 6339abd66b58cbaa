"""One rank of an n-rank data-parallel run against a single process that ran the whole (global) batch.

Rule: what such a rank computes is comparable with the single process as far as the ranks split one
batch and nothing couples the samples of a batch:
- its parameter gradients after the all-reduce, its updates and its weights: as they are (with a loss
  that is a mean over the batch, the all-reduce's mean of the ranks' gradients is the global batch's);
- its layers' inputs and outputs: against base's rows of this rank's shard. The rows are found from the
  model's inputs: of the two ways launchers split a batch, contiguous blocks (`tensor.chunk`, paddle's
  `DistributedBatchSampler`) and every n-th sample (torch's `DistributedSampler`), the one nearest to
  this rank's inputs (a rank whose data differs is still compared, at the rows it was meant to hold).
  A base tensor is cut when its first axis is the global batch (or a multiple of it, batch-major: `[b*h,
  ...]`) and raw's first axis is the shard's share of it; any other tensor is compared whole;
- the gradients its layers send back: against base's rows, raw's divided by n (the shard's mean loss
  weighs each sample n times as much as the global batch's mean does);
- its buffers (BatchNorm running statistics) are not compared: each rank's come from its own shard.
Layers that mix the samples of a batch (BatchNorm in train mode without SyncBatchNorm) make the rank's
activations differ from the single process's rows after them; that is a difference of the two runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import DumpError
from ..judge.records import Where
from ..judge.trace import Stored
from .trace import DumpStep, DumpTrace

__all__ = ["Shard", "find_shard", "ShardTrace", "ShardSink"]


@dataclass(frozen=True)
class Shard:
    """Base's batch rows one rank holds: `rows` of the `batch` global samples, split `layout`-wise."""

    rank: int
    world_size: int
    batch: int
    rows: tuple[int, ...]
    layout: str  # "contiguous" or "strided"

    @property
    def factor(self) -> int:
        return self.batch // len(self.rows)

    def cut_shape(self, shape: tuple[int, ...], raw_lead: int | None) -> tuple[int, ...]:
        share = self._share(shape, raw_lead)
        return shape if share is None else (raw_lead or 0, *shape[1:])

    def cut(self, array: np.ndarray, raw_lead: int | None) -> np.ndarray:
        """Base's `array` cut to this rank's rows, when its first axis is the batch (see the docstring)."""
        share = self._share(tuple(array.shape), raw_lead)
        if share is None:
            return array
        grouped = array.reshape(self.batch, share, *array.shape[1:])
        picked = grouped[np.asarray(self.rows)]
        return picked.reshape(len(self.rows) * share, *array.shape[1:])

    def _share(self, shape: tuple[int, ...], raw_lead: int | None) -> int | None:
        """The elements per sample along the first axis, when base's is the batch and raw's the shard's."""
        if raw_lead is None or not shape or shape[0] % self.batch:
            return None
        share = shape[0] // self.batch
        return share if raw_lead == share * len(self.rows) and raw_lead != shape[0] else None

    def describe(self) -> str:
        first, last = self.rows[0], self.rows[-1]
        rows = (
            f"{first}..{last}"
            if self.layout == "contiguous"
            else f"{first}, {first + self.world_size}, ..., {last}"
        )
        return (
            f"rank {self.rank} of {self.world_size} compared with base's batch rows {rows} of {self.batch} "
            f"({self.layout} shards, the nearer to its inputs)"
        )


def _root_inputs(step: DumpStep) -> dict[int, tuple[str, str]]:
    """The model's (root call's) recorded inputs: index -> (leaf name, tensor name)."""
    root = next((node.id for node in step.tree if node.parent is None), None)
    found: dict[int, tuple[str, str]] = {}
    for event in step.events:
        if event[0] == "in" and event[1] == root and event[4] is not None:
            found.setdefault(int(event[2]), (str(event[3]), str(event[4])))
    return found


def find_shard(base: DumpStep, raw: DumpStep, rank: int, world_size: int) -> Shard:
    """Which of base's rows this rank's model inputs are (see the module docstring)."""
    base_inputs, raw_inputs = _root_inputs(base), _root_inputs(raw)
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    seen: list[str] = []
    for index, (key, name) in raw_inputs.items():
        if index not in base_inputs:
            continue
        base_array = np.asarray(base.file.array(base_inputs[index][1]))
        raw_array = np.asarray(raw.file.array(name))
        seen.append(f"'{key}' {list(base_array.shape)} vs {list(raw_array.shape)}")
        if base_array.ndim and raw_array.shape[1:] == base_array.shape[1:]:
            if base_array.shape[0] == raw_array.shape[0] * world_size:
                pairs.append((base_array, raw_array))
    if not pairs:
        raise DumpError(
            f"raw rank {rank} of {world_size} does not hold 1/{world_size} of base's batch: its model inputs are "
            f"{'; '.join(seen) or 'not recorded'} (base vs raw)",
            hint=f"a single-process base must run the global batch: {world_size} times each rank's batch",
        )
    batch, share = pairs[0][0].shape[0], pairs[0][1].shape[0]
    layouts = {
        "contiguous": tuple(range(rank * share, (rank + 1) * share)),
        "strided": tuple(range(rank, batch, world_size)),
    }

    def distance(rows: tuple[int, ...]) -> float:
        index = np.asarray(rows)
        return sum(float(np.abs(b[index].astype(np.float64) - r.astype(np.float64)).sum()) for b, r in pairs)

    layout = min(layouts, key=lambda name: distance(layouts[name]))  # ties: contiguous, listed first
    return Shard(rank, world_size, batch, layouts[layout], layout)


class ShardTrace(DumpTrace):
    """Base's dumped step, its tensors cut to one rank's rows (`Shard.cut`) before they are compared."""

    def __init__(self, step: DumpStep, shard: Shard):
        super().__init__(step)
        self.shard = shard
        self.raw_lead: int | None = None  # the first axis of the raw tensor being compared

    def tensor(self, where: Where, node_id: int, index: int) -> Stored | None:
        stored = super().tensor(where, node_id, index)
        if stored is None or stored.shape is None:
            return stored
        return replace(stored, shape=self.shard.cut_shape(stored.shape, self.raw_lead))

    def array(self, stored: Stored) -> np.ndarray:
        return self.shard.cut(super().array(stored), self.raw_lead)


class ShardSink:
    """Raw's replayed events to the comparer: each tensor's first axis told to the trace, and the
    gradients layers send back divided by the world size (see the module docstring)."""

    def __init__(self, comparer: Any, trace: ShardTrace):
        self.comparer, self.trace = comparer, trace

    def _lead(self, tensor: Any) -> None:
        shape = getattr(tensor, "shape", None)
        self.trace.raw_lead = int(shape[0]) if shape else None

    def on_input(self, node: Any, index: int, key: str, tensor: Any, origin: Any) -> None:
        self._lead(tensor)
        self.comparer.on_input(node, index, key, tensor, origin)

    def on_output(self, node: Any, index: int, key: str, tensor: Any, origin: Any) -> None:
        self._lead(tensor)
        self.comparer.on_output(node, index, key, tensor, origin)

    def on_grad(self, node: Any, io: str, index: int, grad: Any) -> None:
        self._lead(grad)
        scaled = grad if grad is None else np.asarray(grad) / np.asarray(self.trace.shard.factor, grad.dtype)
        self.comparer.on_grad(node, io, index, scaled)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.comparer, name)
