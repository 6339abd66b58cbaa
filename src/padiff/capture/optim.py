"""The user's optimizers: objects, factories `lambda params: Optimizer(params, ...)`, or padiff 0.2.0's
zero-argument functions that perform the step themselves; and one step of any of them."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError
from ..frameworks.base import Adapter

if TYPE_CHECKING:
    from ..options import Side
    from ..weights.pairs import StatePair

__all__ = [
    "optimizer_pair",
    "StepFunction",
    "step_optimizer",
    "takes_no_arguments",
    "OptimizerRecord",
    "optimizer_record",
]


@dataclass(frozen=True)
class OptimizerRecord:
    """An optimizer's settings (learning rate, betas, epsilon, weight decay ...) and its per-parameter
    state after a step (Adam's moments, a momentum buffer), by the parameter's state name."""

    kind: str  # the optimizer's class name
    settings: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, Mapping[str, np.ndarray]] = field(default_factory=dict)


def optimizer_pair(optimizers: Any, base: tuple[Adapter, Any], raw: tuple[Adapter, Any]) -> tuple | None:
    """(base_opt, raw_opt) from optimizer objects or factories `lambda params: Optimizer(params, ...)`
    (padiff 0.2.0's zero-argument step functions are wrapped in a `StepFunction`)."""
    if optimizers is None:
        return None
    if not isinstance(optimizers, (tuple, list)) or len(optimizers) != 2:
        raise InputError(
            f"optimizers must be a pair (base_opt, raw_opt), got {type(optimizers).__name__}",
            hint="pass optimizers=(torch.optim.SGD(base.parameters(), lr=0.1), paddle.optimizer.SGD(...))",
        )
    made = []
    for role, (adapter, model), item in (("base", base, optimizers[0]), ("raw", raw, optimizers[1])):
        if adapter.is_optimizer(item):
            made.append(item)
        elif callable(item) and takes_no_arguments(item):
            made.append(StepFunction(item))  # padiff 0.2.0: a function that performs the step itself
        elif callable(item):
            optimizer = item(adapter.parameters(model))
            if not adapter.is_optimizer(optimizer):
                raise InputError(
                    f"the {role} optimizer factory returned {type(optimizer).__name__}, not a {adapter.name} optimizer",
                    hint="a factory takes the model's parameters and returns an optimizer",
                )
            made.append(optimizer)
        else:
            raise InputError(
                f"{role} optimizer is a {type(item).__name__}, not a {adapter.name} optimizer or a factory",
                hint="give (base_opt, raw_opt) in the same order as (base, raw)",
            )
    return made[0], made[1]


class StepFunction:
    """A zero-argument callable that updates the parameters itself (padiff 0.2.0's "lambda" optimizer)."""

    def __init__(self, fn: Callable[[], Any]):
        self.fn = fn


def takes_no_arguments(fn: Callable) -> bool:
    """Whether `fn` can be called without arguments (padiff 0.2.0's step functions)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params
    )


def step_optimizer(adapter: Adapter, model: Any, optimizer: Any) -> None:
    if isinstance(optimizer, StepFunction):
        optimizer.fn()
        adapter.take_grads(adapter.parameters(model))  # start the next step from no gradients
    else:
        adapter.optimizer_step(optimizer)


def optimizer_record(side: Side, pairs: list[StatePair]) -> OptimizerRecord | None:
    """What `side`'s optimizer holds now, its state named by base's state names (None: a step function)."""
    optimizer = side.optimizer
    if optimizer is None or isinstance(optimizer, StepFunction):
        return None
    adapter = side.adapter
    state: dict[str, dict[str, np.ndarray]] = {}
    for pair in pairs:
        tensors = pair.base_tensors if side.role == "base" else (pair.raw_tensor,)
        names = pair.base_keys if side.role == "base" else (pair.raw_key,)
        for name, tensor in zip(names, tensors):
            if name not in state:
                state[name] = adapter.optimizer_param_state(optimizer, tensor)
    return OptimizerRecord(type(optimizer).__name__, adapter.optimizer_settings(optimizer), state)
