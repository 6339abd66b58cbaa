"""Tolerance policy in one place: defaults by dtype, and the floors under which differences are rounding.

Elementwise rule (see `metrics.compare_arrays`): |raw - base| <= atol + rtol * |base|, with
  rtol = DEFAULT_RTOL[dtype] unless given, and atol = rtol * max(scale, floor) unless given, where
  scale is the mean |base| over its non-zero elements and floor is one of:
  - `group_floor`: for gradients (and updates), SHARED_FLOOR times the mean scale of every gradient of
    the same kind in the run, and at least NOISE_EPS float epsilons of the gradient of the loss at the
    model's output: a mathematically-zero gradient holds only rounding noise;
  - `rounding_floor`: for an update, ROUNDING_ULPS units in the last place of the weight it changed.
An explicit atol is absolute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

__all__ = [
    "DEFAULT_RTOL",
    "SHARED_FLOOR",
    "NOISE_EPS",
    "ROUNDING_ULPS",
    "CompareMode",
    "Tolerances",
    "default_rtol",
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


@dataclass(frozen=True)
class Tolerances:
    """The user's atol / rtol (None: the defaults above) and the comparison mode."""

    atol: float | None = None
    rtol: float | None = None
    mode: CompareMode = CompareMode.STRICT


def default_rtol(dtype: str) -> float:
    return DEFAULT_RTOL.get(dtype, 1e-4)


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
