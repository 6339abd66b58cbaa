"""Parameter-level comparisons: each paired parameter's gradient, and its update in an optimizer step.

A weight update is compared as the change each parameter made in the step (after - before), not as the
weight itself: two optimizers that differ only slightly (an Adam epsilon, a weight decay) move a weight
by a tiny fraction of its size, but by a large fraction of its update. Pairs come from the weight plan
(`weights.pairs.StatePair`), so gradients and updates go through the same conversion as the weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..frameworks.base import Adapter
from ..weights.pairs import StatePair
from .metrics import compare_arrays
from .records import LayerDiff, Phase, Where
from .tolerance import Tolerances, group_floor, less_precise, rounding_floor

__all__ = ["base_param_arrays", "raw_param_arrays", "updates", "compare_param_arrays"]


def base_param_arrays(adapter: Adapter, state_pairs: list[StatePair]) -> dict[str, np.ndarray]:
    """Base's parameter values as arrays, by state name."""
    out: dict[str, np.ndarray] = {}
    for pair in state_pairs:
        for key, tensor in zip(pair.base_keys, pair.base_tensors):
            if key not in out:
                out[key] = adapter.to_numpy(tensor)
    return out


def raw_param_arrays(adapter: Adapter, state_pairs: list[StatePair], grads: bool) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for pair in state_pairs:
        value = adapter.grad_of(pair.raw_tensor) if grads else pair.raw_tensor
        if value is not None:
            out[id(pair.raw_tensor)] = adapter.to_numpy(value)
    return out


def updates(before: dict[int, np.ndarray], after: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """What a step changed (after - before), by the same keys."""
    return {key: after[key] - value for key, value in before.items() if key in after}


def compare_param_arrays(
    state_pairs: list[StatePair],
    base_arrays: Mapping[str, np.ndarray],
    raw_arrays: dict[int, np.ndarray],
    tolerances: Tolerances,
    phase: Phase,
    step: int,
    weights: Mapping[str, np.ndarray] | None = None,
    loss_grad_scale: float = 0.0,
    dtypes: tuple[Callable[[Any], str], Callable[[Any], str]] | None = None,
) -> list[LayerDiff]:
    """One LayerDiff per paired parameter, in backward order (last defined first).

    A parameter with an array on one side only is compared against zeros: a gradient that exists on
    one side only is a difference. For updates, `weights` (base's values before the step) set a floor:
    an update is only known to within the float rounding of the weight it changed. `dtypes` (base's and
    raw's dtype_name) judge each pair at the less precise of the two parameters' dtypes.
    """
    scales = [float(np.abs(a).mean()) for a in base_arrays.values() if a.size]
    floors: dict[float | None, float] = {}  # the group floor per rtol (one, unless rtol is per layer)
    where = Where.PARAM if phase is Phase.GRAD else Where.UPDATE
    diffs = []
    for order, pair in enumerate(reversed(state_pairs)):
        values = [base_arrays[key] for key in pair.base_keys if key in base_arrays]
        base_array = pair.convert(values) if len(values) == len(pair.base_keys) else None
        raw_array = raw_arrays.get(id(pair.raw_tensor))
        if raw_array is None:  # a gradient on one side only is compared against zeros
            if base_array is None:
                continue
            raw_array = np.zeros(base_array.shape, dtype=np.float32)
        elif base_array is None:
            base_array = np.zeros(raw_array.shape, dtype=np.float32)
        atol, rtol = tolerances.at(pair.base_path)
        if rtol not in floors:
            floors[rtol] = group_floor(scales, loss_grad_scale, rtol)
        floor = max(floors[rtol], _weight_floor(weights, pair, rtol))
        dtype = (
            None
            if dtypes is None
            else less_precise(dtypes[0](pair.base_tensors[0]), dtypes[1](pair.raw_tensor))
        )
        diff = compare_arrays(base_array, raw_array, atol, rtol, dtype, tolerances.mode, floor)
        diffs.append(
            LayerDiff(
                phase=phase,
                step=step,
                where=where,
                order=order,
                base_path=pair.base_path,
                raw_path=pair.raw_path,
                base_type="",
                raw_type="",
                call=0,
                leaf=f"{pair.base_name} <-> {pair.raw_name}",
                diff=diff,
                paired_by="weights",
            )
        )
    return diffs


def _weight_floor(weights: Mapping[str, np.ndarray] | None, pair: StatePair, rtol: float | None) -> float:
    if not weights or any(key not in weights for key in pair.base_keys):
        return 0.0
    return rounding_floor([weights[key] for key in pair.base_keys], rtol)
