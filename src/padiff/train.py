"""Parameter-level comparisons and optimizer steps: gradients, updates, and putting models back.

A weight update is compared as the change each parameter made in the step (after - before), not as the
weight itself: two optimizers that differ only slightly (an Adam epsilon, a weight decay) move a weight
by a tiny fraction of its size, but by a large fraction of its update.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import DEFAULT_RTOL, SHARED_FLOOR, Phase, compare_arrays, noise_floor
from .errors import InputError
from .records import LayerDiff
from .stream import Tolerances
from .weights import StatePair

__all__ = [
    "optimizer_pair",
    "base_param_arrays",
    "compare_param_arrays",
    "ModelState",
    "TrainingState",
    "StepFunction",
    "step_optimizer",
]


def optimizer_pair(optimizers: Any, base: tuple[Any, Any], raw: tuple[Any, Any]) -> tuple | None:
    """(base_opt, raw_opt, base_made, raw_made) from optimizer objects or factories
    `lambda params: Optimizer(params, ...)`; *_made says padiff built it (nothing to put back)."""
    if optimizers is None:
        return None
    if not isinstance(optimizers, (tuple, list)) or len(optimizers) != 2:
        raise InputError(
            f"optimizers must be a pair (base_opt, raw_opt), got {type(optimizers).__name__}",
            hint="pass optimizers=(torch.optim.SGD(base.parameters(), lr=0.1), paddle.optimizer.SGD(...))",
        )
    made, owned = [], []
    for role, (adapter, model), item in (("base", base, optimizers[0]), ("raw", raw, optimizers[1])):
        if adapter.is_optimizer(item):
            made.append(item)
            owned.append(False)
        elif callable(item) and _takes_no_arguments(item):
            made.append(StepFunction(item))  # padiff 0.2.0: a function that performs the step itself
            owned.append(True)
        elif callable(item):
            optimizer = item(adapter.parameters(model))
            if not adapter.is_optimizer(optimizer):
                raise InputError(
                    f"the {role} optimizer factory returned {type(optimizer).__name__}, not a {adapter.name} optimizer",
                    hint="a factory takes the model's parameters and returns an optimizer",
                )
            made.append(optimizer)
            owned.append(True)
        else:
            raise InputError(
                f"{role} optimizer is a {type(item).__name__}, not a {adapter.name} optimizer or a factory",
                hint="give (base_opt, raw_opt) in the same order as (base, raw)",
            )
    return made[0], made[1], owned[0], owned[1]


class StepFunction:
    """A zero-argument callable that updates the parameters itself (padiff 0.2.0's "lambda" optimizer)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


def _takes_no_arguments(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params
    )


def step_optimizer(adapter: Any, model: Any, optimizer: Any) -> None:
    if isinstance(optimizer, StepFunction):
        optimizer.fn()
        adapter.take_grads(adapter.parameters(model))  # start the next step from no gradients
    else:
        adapter.optimizer_step(optimizer)


def base_param_arrays(adapter: Any, state_pairs: list[StatePair], grads: bool) -> dict[int, np.ndarray]:
    """Base's parameter gradients (or values) as arrays, by id of the parameter."""
    out: dict[int, np.ndarray] = {}
    for pair in state_pairs:
        for tensor in pair.base_tensors:
            if id(tensor) in out:
                continue
            value = adapter.grad_of(tensor) if grads else tensor
            if value is not None:
                out[id(tensor)] = adapter.to_numpy(value)
    return out


def compare_param_arrays(
    state_pairs: list[StatePair],
    base_arrays: dict[int, np.ndarray],
    raw_arrays: dict[int, np.ndarray],
    tolerances: Tolerances,
    phase: Phase,
    step: int,
    weights: dict[int, np.ndarray] | None = None,
    loss_grad_scale: float = 0.0,
) -> list[LayerDiff]:
    """One LayerDiff per paired parameter, in backward order (last defined first).

    A parameter with an array on one side only is compared against zeros: a gradient that exists on
    one side only is a difference. For updates, `weights` (base's values before the step) set a floor:
    an update is only known to within the float rounding of the weight it changed.
    """
    scales = [float(np.abs(a).mean()) for a in base_arrays.values() if a.size]
    shared_floor = SHARED_FLOOR * float(np.mean(scales)) if scales else 0.0
    shared_floor = max(shared_floor, noise_floor(loss_grad_scale, "float32", tolerances.rtol))
    diffs = []
    for order, pair in enumerate(reversed(state_pairs)):
        values = [base_arrays.get(id(t)) for t in pair.base_tensors]
        raw_array = raw_arrays.get(id(pair.raw_tensor))
        if all(v is None for v in values) and raw_array is None:
            continue
        base_array = pair.convert(values) if all(v is not None for v in values) else None
        if base_array is None or raw_array is None:
            shape = (base_array if base_array is not None else raw_array).shape
            zeros = np.zeros(shape, dtype=np.float32)
            base_array = zeros if base_array is None else base_array
            raw_array = zeros if raw_array is None else raw_array
        floor = max(shared_floor, _rounding_floor(weights, pair, tolerances))
        diff = compare_arrays(
            base_array, raw_array, tolerances.atol, tolerances.rtol, None, tolerances.mode, floor
        )
        where = "param" if phase is Phase.GRAD else "update"
        diffs.append(
            LayerDiff(
                phase,
                step,
                where,
                order,
                pair.base_path,
                pair.raw_path,
                "",
                "",
                0,
                f"{pair.base_name} <-> {pair.raw_name}",
                diff,
            )  # fmt: skip
        )
    return diffs


# an updated weight may differ by this many units in the last place between two correct optimizers
ROUNDING_ULPS = 4


def _rounding_floor(weights: dict[int, np.ndarray] | None, pair: StatePair, tolerances: Tolerances) -> float:
    """The scale below which an update difference is float rounding of the weight (see compare's floor)."""
    if not weights:
        return 0.0
    values = [weights.get(id(t)) for t in pair.base_tensors]
    if any(v is None or not v.size for v in values):
        return 0.0
    largest = max(float(np.abs(v).max()) for v in values)
    dtype = values[0].dtype if np.issubdtype(values[0].dtype, np.floating) else np.dtype(np.float32)
    rtol = tolerances.rtol if tolerances.rtol else DEFAULT_RTOL.get(str(dtype), 1e-4)
    return ROUNDING_ULPS * float(np.finfo(dtype).eps) * largest / rtol


def raw_param_arrays(adapter: Any, state_pairs: list[StatePair], grads: bool) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for pair in state_pairs:
        value = adapter.grad_of(pair.raw_tensor) if grads else pair.raw_tensor
        if value is not None:
            out[id(pair.raw_tensor)] = adapter.to_numpy(value)
    return out


def updates(before: dict[int, np.ndarray], after: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    return {key: after[key] - value for key, value in before.items() if key in after}


class ModelState:
    """Buffers (BatchNorm statistics move in train mode) and the user's gradients, put back after."""

    def __init__(self, adapter: Any, model: Any):
        self.adapter = adapter
        states = adapter.all_state(model)
        self.buffers = [(t, adapter.to_numpy(t)) for _, t in states if not adapter.requires_grad(t)]
        self.params = [t for _, t in states if adapter.requires_grad(t)]
        self.grads = adapter.take_grads(self.params)

    def restore(self) -> None:
        for tensor, value in self.buffers:
            self.adapter.assign(tensor, value)
        self.adapter.put_grads(self.params, self.grads)


class TrainingState:
    """Parameters, and the user's optimizer state, before training steps; put back after them."""

    def __init__(self, adapter: Any, model: Any, optimizer: Any | None):
        self.adapter, self.optimizer = adapter, optimizer
        self.params = [(t, adapter.to_numpy(t)) for t in adapter.parameters(model)]
        self.optimizer_state = None if optimizer is None else adapter.optimizer_state(optimizer)

    def restore(self) -> None:
        for tensor, value in self.params:
            self.adapter.assign(tensor, value)
        if self.optimizer is not None:
            self.adapter.restore_optimizer_state(self.optimizer, self.optimizer_state)
