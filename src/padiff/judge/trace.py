"""The questions a recorded run answers: the `Trace` protocol, and the records it answers with.

A trace is one step of one model: its call tree, and for every call its arguments (tensors and the
rest, enough to call the layer again alone), the tensors it took and returned, the gradient arriving at
its outputs and the one it sent to its inputs; for the whole model its parameter gradients, its buffers
before and after the step, and, when an optimizer stepped, each parameter's value before the step, its
update, and the optimizer's settings and state. `base_trace.BaseTrace` answers from memory (and a
temporary file); a dump on disk answers the same questions, so the comparer reads base through this
protocol only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..capture.calltree import CallTree
from ..capture.optim import OptimizerRecord
from .records import Where

__all__ = ["Trace", "Stored", "CallArgs", "OptimizerRecord", "BEFORE", "AFTER"]

BEFORE, AFTER = "before", "after"  # when buffers were read: before the forward, after the backward


@dataclass
class Stored:
    """One recorded tensor of one call: read its values with `Trace.array`."""

    key: str  # the leaf's name: "out", "hidden_states", "x[2]", "grad_in[0]"
    handle: Any  # opaque to everyone but the trace that made it
    dtype: str
    shared: bool = False  # the same tensor as an earlier layer's output (stored once)
    order: int = -1  # gradients: the order in which they arrived
    shape: tuple[int, ...] | None = None  # None: not recorded (read the array)


@dataclass(frozen=True)
class CallArgs:
    """A call's positional and keyword arguments with each tensor replaced by a `leaves.Slot`; slot i is
    the call's input i (as `Trace.tensor(Where.INPUT, node_id, i)` has it)."""

    args: tuple
    kwargs: dict


class Trace(Protocol):
    tree: CallTree
    loss_grad_scale: float  # mean |gradient| arriving at the model's output

    def tensor(self, where: Where, node_id: int, index: int) -> Stored | None:
        """Input, output, grad_out or grad_in number `index` of call `node_id`, if recorded."""
        ...

    def array(self, stored: Stored) -> np.ndarray: ...

    def release(self, where: Where, node_id: int, index: int) -> None:
        """The reader is done with this tensor (an in-memory trace may free it)."""
        ...

    def output_count(self, node_id: int) -> int: ...

    def arguments(self, node_id: int) -> CallArgs | None: ...

    def grad_floor(self, rtol: float | None) -> float:
        """The scale floor for judging this run's layer gradients (see `tolerance.group_floor`)."""
        ...

    def param_grads(self) -> Mapping[str, np.ndarray]:
        """Each parameter's gradient after the backward pass, by state name (`blocks.0.fc.weight`)."""
        ...

    def buffers(self, when: str) -> Mapping[str, np.ndarray]:
        """Every buffer (running statistics ...) by state name, BEFORE the forward or AFTER the backward."""
        ...

    def weights_before_update(self) -> Mapping[str, np.ndarray]: ...

    def updates(self) -> Mapping[str, np.ndarray]:
        """Each parameter's change in the optimizer step (after - before), by state name."""
        ...

    def optimizer(self) -> OptimizerRecord | None: ...
