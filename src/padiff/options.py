"""The user's options, checked once: each side of the comparison, and what to run and how to judge it.

Strings are accepted at the boundary (`compare_mode="mean"`, `diff_phase="forward"`) and become enums
here; a bad value is an `InputError` with the values that would work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .capture.optim import optimizer_pair
from .errors import InputError
from .frameworks.base import Adapter
from .judge.tolerance import Bound, CompareMode, Tolerances, judged_dtype
from .match.layermap import LayerMap, ResolvedMap
from .match.policy import LayerPolicy

__all__ = [
    "Side",
    "Options",
    "DiffPhase",
    "loss_pair",
    "autocast_pair",
    "device_pair",
    "AUTOCAST_DTYPES",
    "make_sides",
    "check_steps",
    "step_inputs",
    "layer_map_of",
]


class DiffPhase(str, Enum):
    """Which passes decide the verdict (padiff 0.2.0's `diff_phase`)."""

    BOTH = "both"
    FORWARD = "forward"
    BACKWARD = "backward"

    @property
    def forward(self) -> bool:
        return self is not DiffPhase.BACKWARD

    @property
    def backward(self) -> bool:
        return self is not DiffPhase.FORWARD


@dataclass
class Side:
    """One model and everything padiff needs to run it."""

    role: str  # "base" or "raw"
    adapter: Adapter
    model: Any
    loss: Callable | None
    policy: LayerPolicy
    optimizer: Any = None
    autocast: str | None = None  # the dtype its forward runs in under the framework's autocast, if any

    def inputs(self) -> tuple[Adapter, Any]:
        """(adapter, model): how the input and weight helpers take one side."""
        return self.adapter, self.model

    def judged_dtype(self, tensor: Any) -> str:
        """The dtype this side's tensor is judged at (its autocast dtype, where less precise)."""
        return judged_dtype(self.adapter.dtype_name(tensor), self.autocast)


@dataclass(frozen=True)
class Options:
    """How to run and judge, as checked from `compare`'s keyword arguments."""

    tolerances: Tolerances
    single_step: bool = False
    api_level: bool = True
    confirm: bool = True
    diff_phase: DiffPhase = DiffPhase.BOTH
    memory_budget: int | None = None  # bytes of base trace kept in memory (None: `spill`'s default)

    @classmethod
    def parse(
        cls,
        *,
        atol: Bound,
        rtol: Bound,
        compare_mode: str,
        diff_phase: str,
        single_step: bool,
        api_level: bool,
        confirm: bool,
        memory_budget: int | None = None,
    ) -> Options:
        if compare_mode not in {m.value for m in CompareMode}:
            raise InputError(f"unknown compare_mode {compare_mode!r}", hint="use 'strict' or 'mean'")
        if diff_phase not in {p.value for p in DiffPhase}:
            raise InputError(f"unknown diff_phase {diff_phase!r}", hint="use 'both', 'forward' or 'backward'")
        _check_budget(memory_budget)
        return cls(
            tolerances=Tolerances(atol, rtol, CompareMode(compare_mode)),
            single_step=single_step,
            api_level=api_level,
            confirm=confirm,
            diff_phase=DiffPhase(diff_phase),
            memory_budget=memory_budget,
        )


def _check_budget(memory_budget: object) -> None:
    if memory_budget is None:
        return
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget < 0:
        raise InputError(
            f"memory_budget must be a number of bytes >= 0 or None, got {memory_budget!r}",
            hint="e.g. memory_budget=2 * 2**30 keeps up to 2 GiB of base's tensors in memory; 0 spills all",
        )


def loss_pair(loss_fn: Any) -> tuple[Callable | None, Callable | None]:
    if loss_fn is None:
        return None, None
    if isinstance(loss_fn, (tuple, list)) and len(loss_fn) == 2 and all(callable(f) for f in loss_fn):
        return loss_fn[0], loss_fn[1]
    raise InputError(
        f"loss_fn must be None or a pair (base_fn, raw_fn) of callables, got {type(loss_fn).__name__}",
        hint="each function takes its model's output and returns a scalar tensor",
    )


AUTOCAST_DTYPES = ("bfloat16", "float16")


def autocast_pair(autocast: Any) -> tuple[str | None, str | None]:
    """(base's, raw's) autocast dtype: None, one dtype name for both sides, or a pair of them."""
    pair = tuple(autocast) if isinstance(autocast, (tuple, list)) else (autocast, autocast)
    if len(pair) != 2 or any(a is not None and a not in AUTOCAST_DTYPES for a in pair):
        raise InputError(
            f"autocast must be None, one of {AUTOCAST_DTYPES} or a pair (base's, raw's) of them, got {autocast!r}",
            hint="e.g. autocast=(None, 'bfloat16') runs raw's forward under autocast to bfloat16, base's as it is",
        )
    return pair[0], pair[1]


def device_pair(device: Any) -> tuple[str | None, str | None]:
    """(base's, raw's) device: None (where the model is), one device for both sides, or a pair of them.
    Whether a framework can run there is its adapter's to say (`Adapter.check_device`)."""
    pair = tuple(device) if isinstance(device, (tuple, list)) else (device, device)
    if len(pair) != 2 or any(d is not None and not isinstance(d, str) for d in pair):
        raise InputError(
            f"device must be None, a device name or a pair (base's, raw's) of them, got {device!r}",
            hint="e.g. device=('cuda', 'cpu') runs base on the GPU and raw on the CPU",
        )
    return pair[0], pair[1]


def check_steps(steps: int | None, batches: Any) -> None:
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise InputError(f"steps must be a positive int, got {steps!r}", hint="steps=1 compares one step")
    if batches is not None and not isinstance(batches, (list, tuple)):
        raise InputError("batches must be a list with one input per step", hint="batches=[x0, x1, ...]")


def step_inputs(inputs: Any, steps: int | None, batches: Any) -> list[Any]:
    """One input per step: `batches` as given, else `inputs` repeated `steps` times (default 1)."""
    if batches:
        if steps is not None and steps != len(batches):
            raise InputError(
                f"steps={steps} but batches holds {len(batches)} inputs",
                hint="give one input per step in batches and leave steps out (or make them agree)",
            )
        return list(batches)
    if inputs is None:
        raise InputError("no inputs given", hint="pass inputs, or batches=[...] with one input per step")
    return [inputs] * (1 if steps is None else steps)


def layer_map_of(layer_map: Any) -> LayerMap:
    """A LayerMap, or a plain dict {layer: layer} taken as its `map` (padiff 0.2.0's documented form)."""
    if layer_map is None:
        return LayerMap()
    if isinstance(layer_map, dict):
        made = LayerMap()
        made.map = layer_map
        return made
    if not isinstance(layer_map, LayerMap):
        raise InputError(
            f"layer_map must be a padiff.LayerMap or a dict {{layer: layer}}, got {type(layer_map).__name__}",
            hint="layer_map = padiff.LayerMap(); layer_map.map = {base_layer: raw_layer}",
        )
    return layer_map


def make_sides(
    base: tuple[Adapter, Any],
    raw: tuple[Adapter, Any],
    loss_fn: Any,
    optimizers: Any,
    resolved: ResolvedMap,
    autocast: tuple[str | None, str | None] = (None, None),
) -> tuple[Side, Side]:
    """Both sides, with their loss functions, LayerMap policies, optimizers (built from factories) and
    autocast dtypes."""
    base_loss, raw_loss = loss_pair(loss_fn)
    base_side = Side("base", base[0], base[1], base_loss, resolved.base_policy, autocast=autocast[0])
    raw_side = Side("raw", raw[0], raw[1], raw_loss, resolved.raw_policy, autocast=autocast[1])
    pair = optimizer_pair(optimizers, base, raw)
    if pair is not None:
        base_side.optimizer, raw_side.optimizer = pair
    return base_side, raw_side
