"""Tolerance policy in one place: defaults by dtype, and the floors under which differences are rounding.

Elementwise rule (see `metrics.compare_arrays`): |raw - base| <= atol + rtol * |base|, with
  rtol = DEFAULT_RTOL[dtype] unless given, and atol = rtol * max(scale, floor) unless given, where
  scale is the mean |base| over its non-zero elements and floor is one of:
  - `group_floor`: for gradients (and updates), SHARED_FLOOR times the mean scale of every gradient of
    the same kind in the run, and at least NOISE_EPS float epsilons of the gradient of the loss at the
    model's output: a mathematically-zero gradient holds only rounding noise;
  - `rounding_floor`: for an update, ROUNDING_ULPS units in the last place of the weight it changed.
An explicit atol is absolute. Either bound may be given per layer (see `Tolerances`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Optional, Union

import numpy as np

from ..errors import InputError

__all__ = [
    "DEFAULT_RTOL",
    "SHARED_FLOOR",
    "NOISE_EPS",
    "ROUNDING_ULPS",
    "CompareMode",
    "Tolerances",
    "Bound",
    "default_rtol",
    "less_precise",
    "judged_dtype",
    "noise_floor",
    "group_floor",
    "rounding_floor",
]

DEFAULT_RTOL = {"float64": 1e-7, "float32": 1e-4, "float16": 5e-3, "bfloat16": 3e-2}

# a gradient (or update) is judged at least against this share of the mean scale of all gradients of
# the same kind in the run: a mathematically-zero gradient holds only rounding noise
SHARED_FLOOR = 0.1
# ...and at least against this many float epsilons of the gradient of the loss at the model's output,
# for runs where every gradient is mathematically zero (the mean of a normalised output)
NOISE_EPS = 32
# an updated weight may differ by this many units in the last place between two correct optimizers
ROUNDING_ULPS = 4


class CompareMode(str, Enum):
    STRICT = "strict"  # every element
    MEAN = "mean"  # only the means (padiff 0.2.0's default)


Bound = Union[float, None, Mapping[str, Optional[float]]]


@dataclass(frozen=True)
class Tolerances:
    """The user's atol / rtol and the comparison mode.

    Each bound is None (the dtype-aware default), a number, or a mapping from base layer paths to
    numbers: `atol={"": 1e-6, "blocks.3.attn": 1e-4}`. The longest dotted prefix of a pair's base path
    wins ("" covers everything; "blocks.3.attn" covers "blocks.3.attn.q" but not "blocks.3.attn2"), and
    it covers that layer's sublayers, its parameters and every phase; a path no key covers gets None.
    """

    atol: Bound = None
    rtol: Bound = None
    mode: CompareMode = CompareMode.STRICT

    def __post_init__(self) -> None:
        for name in ("atol", "rtol"):
            bound = getattr(self, name)
            values = bound.items() if isinstance(bound, Mapping) else [("", bound)]
            for key, value in values:
                _check_bound(name, key, value)

    def at(self, path: str) -> tuple[float | None, float | None]:
        """(atol, rtol) for pairs whose base path is `path` (a layer, or the layer owning a parameter)."""
        return _lookup(self.atol, path), _lookup(self.rtol, path)


def _check_bound(name: str, key: object, value: object) -> None:
    if not isinstance(key, str):
        raise InputError(
            f"{name} keys must be base layer paths (str), got {key!r}",
            hint=f'e.g. {name}={{"": 1e-6, "blocks.3": 1e-4}}',
        )
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        where = f" for {key!r}" if key else ""
        raise InputError(
            f"{name}{where} must be a number >= 0 or None, got {value!r}", hint=f"e.g. {name}=1e-5"
        )


def _lookup(bound: Bound, path: str) -> float | None:
    if not isinstance(bound, Mapping):
        return None if bound is None else float(bound)
    key = path
    while True:
        if key in bound:
            value = bound[key]
            return None if value is None else float(value)
        if not key:
            return None
        key = key.rpartition(".")[0]


def default_rtol(dtype: str) -> float:
    return DEFAULT_RTOL.get(dtype, 1e-4)


def less_precise(base_dtype: str, raw_dtype: str) -> str:
    """The dtype a pair is judged at: the less precise of two floating dtypes; where one side is not
    floating point (a bool mask, integer ids), that side's dtype (base's when neither is)."""
    if base_dtype in DEFAULT_RTOL and raw_dtype in DEFAULT_RTOL:
        return max(base_dtype, raw_dtype, key=DEFAULT_RTOL.__getitem__)
    return raw_dtype if base_dtype in DEFAULT_RTOL else base_dtype


def judged_dtype(dtype: str, autocast: str | None) -> str:
    """The dtype a side's floating tensor is judged at: its own, or, where the side ran under autocast,
    the autocast dtype when that is less precise (its ops computed in it, whatever dtype they return)."""
    if autocast is None or dtype not in DEFAULT_RTOL:
        return dtype
    return less_precise(dtype, autocast)


def noise_floor(loss_grad_scale: float, dtype: str = "float32", rtol: float | None = None) -> float:
    """The `floor` (a scale, as compare_arrays takes it) under which gradients are rounding noise."""
    try:
        eps = float(np.finfo(np.dtype(dtype)).eps)
    except TypeError:
        eps = float(np.finfo(np.float32).eps)
    rtol = default_rtol(dtype) if rtol is None else rtol
    return NOISE_EPS * eps * loss_grad_scale / rtol if rtol > 0 else 0.0


def group_floor(scales: Sequence[float], loss_grad_scale: float, rtol: float | None) -> float:
    """The floor for a group of gradients whose mean |value| are `scales` (see the module docstring)."""
    shared = SHARED_FLOOR * float(np.mean(scales)) if len(scales) else 0.0
    return max(shared, noise_floor(loss_grad_scale, "float32", rtol))


def rounding_floor(weights: Sequence[np.ndarray], rtol: float | None) -> float:
    """The scale below which an update difference is float rounding of the weight(s) it changed."""
    if not weights or any(not w.size for w in weights):
        return 0.0
    largest = max(float(np.abs(w).max()) for w in weights)
    dtype = weights[0].dtype if np.issubdtype(weights[0].dtype, np.floating) else np.dtype(np.float32)
    rtol = rtol if rtol else default_rtol(str(dtype))
    return ROUNDING_ULPS * float(np.finfo(dtype).eps) * largest / rtol
