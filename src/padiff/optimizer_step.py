"""An optimizer step of both models, and its updates compared: what `steps._run_step` does after the
backward when optimizers are given.

Base's parameters before the step, its update and its optimizer go into base's trace; raw's update is
compared with base's. An update that differs is checked by stepping raw's optimizer from base's start
(`judge.isolation`): when that agrees, the difference came from the gradients, and raw continues from
base's parameters and optimizer state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .capture.optim import optimizer_record, step_optimizer
from .errors import InputError
from .judge.base_trace import BaseTrace
from .judge.isolation import BaseStart, isolated_updates, judge_updates, read_states, start_from_base
from .judge.params import base_param_arrays, compare_param_arrays, raw_param_arrays, updates
from .judge.records import LayerDiff, Phase

if TYPE_CHECKING:
    from .comparison import Comparison

__all__ = ["step_optimizers"]


def step_optimizers(comparison: Comparison, trace: BaseTrace, step: int) -> tuple[list[LayerDiff], list[str]]:
    """Step both optimizers; base's update (and optimizer) goes into its trace, raw's is compared with it,
    and an update that differs is checked by stepping raw's optimizer from base's start (`isolation`)."""
    base_side, raw_side, state_pairs = comparison.base, comparison.raw, comparison.state_pairs
    base_before = base_param_arrays(base_side.adapter, state_pairs)
    raw_before = raw_param_arrays(raw_side.adapter, state_pairs, grads=False)
    base_states = read_states(base_side.adapter, base_side.optimizer, state_pairs, base=True)
    for side in (base_side, raw_side):
        try:
            step_optimizer(side.adapter, side.model, side.optimizer)
        except Exception as error:
            raise InputError(
                f"{side.role} optimizer ({side.adapter.name}) raised in step {step}: {type(error).__name__}: {error}",
                hint="the optimizer must hold the parameters of the model given as " + side.role,
            ) from error
    base_after = base_param_arrays(base_side.adapter, state_pairs)
    trace.record_update(base_before, base_after, optimizer_record(base_side, state_pairs))
    raw_update = updates(raw_before, raw_param_arrays(raw_side.adapter, state_pairs, grads=False))
    trainable = [p for p in state_pairs if raw_side.adapter.requires_grad(p.raw_tensor)]

    def judged(raw_updates: dict[int, np.ndarray]) -> list[LayerDiff]:
        return compare_param_arrays(
            trainable,
            trace.updates(),
            raw_updates,
            comparison.options.tolerances,
            Phase.WEIGHT,
            step,
            trace.weights_before_update(),
            dtypes=(comparison.base.judged_dtype, comparison.raw.judged_dtype),
        )

    diffs = judged(raw_update)
    if all(d.passed for d in diffs) or not comparison.options.confirm:  # confirm=False: raw verdicts
        return diffs, []
    start = BaseStart(base_before, base_states)
    isolated = isolated_updates(raw_side.adapter, raw_side.optimizer, state_pairs, start, trace.param_grads())
    if isinstance(isolated, str):
        return diffs, [f"step {step}: the updates were not isolated: {isolated}"]
    diffs = judge_updates(diffs, judged(isolated), isolated, trace.updates(), trainable)
    if not all(d.passed for d in diffs):
        return diffs, []
    after = BaseStart(base_after, read_states(base_side.adapter, base_side.optimizer, state_pairs, base=True))
    start_from_base(raw_side.adapter, raw_side.optimizer, state_pairs, after)
    return diffs, [
        f"step {step}: updates that differed only because their gradients did (raw's optimizer, started "
        "from base's point, moves as base's); raw continues from base's parameters and optimizer state"
    ]
