"""Optimizer isolation: before the optimizers are blamed for an update that differs, raw's optimizer is
stepped from exactly base's starting point.

Raw's parameters are set to base's values before the step, raw's optimizer is given base's state (its
moments and step count, converted through the same state pairs as the weights, so a Linear's moments are
transposed like its weight) and base's gradients, and stepped once. If that update agrees with base's,
the two optimizers compute alike and the difference came from what they were fed: the gradients, which
were judged as gradients already (Adam divides by sqrt(v): a gradient element near epsilon that agrees
within tolerance can move differently by a large fraction). Only when the isolated update still differs
are the optimizers blamed. Afterwards raw is put back exactly as its own step left it.

Optimizer state is read and written in one canonical form, torch's names (`exp_avg`, `exp_avg_sq`,
`max_exp_avg_sq`, `momentum_buffer`, `step`); the adapters translate (paddle: `moment1`, `moment2`,
`moment2_max`, `velocity`, and the step count held as `beta1_pow_acc` = beta1 ** (step + 1)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..capture.optim import StepFunction
from ..frameworks.base import Adapter
from ..weights.pairs import StatePair
from .records import LayerDiff
from .rounding import Judgement

__all__ = ["BaseStart", "isolated_updates", "judge_updates", "read_states", "start_from_base"]

State = dict[str, np.ndarray]


@dataclass
class BaseStart:
    """Where base's step started: its parameter values and its optimizer state, by state name."""

    values: Mapping[str, np.ndarray]
    states: Mapping[str, State]


def read_states(adapter: Adapter, optimizer: Any, pairs: list[StatePair], base: bool) -> dict[str, State]:
    """The canonical per-parameter state of `optimizer` (base's by base state name, raw's by raw's)."""
    if isinstance(optimizer, StepFunction):
        return {}
    out: dict[str, State] = {}
    for pair in pairs:
        tensors = pair.base_tensors if base else (pair.raw_tensor,)
        names = pair.base_keys if base else (pair.raw_key,)
        for name, tensor in zip(names, tensors):
            if name not in out:
                out[name] = adapter.read_optimizer_state(optimizer, tensor)
    return out


def isolated_updates(
    adapter: Adapter,
    optimizer: Any,
    pairs: list[StatePair],
    start: BaseStart,
    base_grads: Mapping[str, np.ndarray],
) -> dict[int, np.ndarray] | str:
    """Raw's update (by id of its parameter) when stepped from base's start, or why it cannot be."""
    if isinstance(optimizer, StepFunction):
        return "a step function (padiff 0.2.0's zero-argument form) cannot be stepped from base's state"
    trainable = [p for p in pairs if adapter.requires_grad(p.raw_tensor)]
    missing = [k for p in trainable for k in p.base_keys if k not in start.values or k not in base_grads]
    if missing:
        return f"base's values or gradients of {missing[:3]} were not kept"
    after_values = [(p.raw_tensor, adapter.to_numpy(p.raw_tensor)) for p in trainable]
    after_state = adapter.optimizer_state(optimizer)
    try:
        states = [(p.raw_tensor, _converted_state(p, start.states)) for p in trainable]
        adapter.write_optimizer_states(optimizer, states)
        for pair in trainable:
            adapter.assign(pair.raw_tensor, pair.convert([start.values[k] for k in pair.base_keys]))
        grads = [_as_grad(adapter, p, base_grads) for p in trainable]
        adapter.take_grads([p.raw_tensor for p in trainable])
        adapter.put_grads([p.raw_tensor for p in trainable], grads)
        adapter.optimizer_step(optimizer)
        return {
            id(p.raw_tensor): adapter.to_numpy(p.raw_tensor)
            - p.convert([start.values[k] for k in p.base_keys])
            for p in trainable
        }
    except Exception as error:  # an optimizer whose state padiff cannot translate
        return f"raw's optimizer could not be stepped from base's state ({type(error).__name__}: {error})"
    finally:
        for tensor, value in after_values:
            adapter.assign(tensor, value)
        adapter.restore_optimizer_state(optimizer, after_state)
        adapter.take_grads([p.raw_tensor for p in trainable])


def _converted_state(pair: StatePair, states: Mapping[str, State]) -> State:
    """Base's state of the pair's base tensors in raw's layout (moments converted like the weight)."""
    parts = [states.get(key, {}) for key in pair.base_keys]
    if not parts or any(not part for part in parts):
        return {}
    out: State = {}
    for name in parts[0]:
        values = [part.get(name) for part in parts]
        if any(v is None for v in values):
            continue
        if name == "step":
            out[name] = np.asarray(values[0])
        else:
            out[name] = pair.convert([v for v in values if v is not None])
    return out


def _as_grad(adapter: Adapter, pair: StatePair, base_grads: Mapping[str, np.ndarray]) -> Any:
    value = pair.convert([base_grads[key] for key in pair.base_keys])
    raw = pair.raw_tensor
    return adapter.tensor(value, adapter.dtype_name(raw), requires_grad=False, device=adapter.device_of(raw))


def judge_updates(
    diffs: list[LayerDiff],
    isolated: list[LayerDiff],
    raw_updates: Mapping[int, np.ndarray],
    base_updates: Mapping[str, np.ndarray],
    pairs: list[StatePair],
) -> list[LayerDiff]:
    """Each failing update with the isolated step's finding: excused when raw's optimizer, started from
    base's point, moves as base's; else still a difference, with how raw's update relates to base's."""
    by_pair = {(d.base_path, d.leaf): d for d in isolated}
    by_leaf = {(p.base_path, f"{p.base_name} <-> {p.raw_name}"): p for p in pairs}
    out = []
    for d in diffs:
        again = by_pair.get((d.base_path, d.leaf))
        if d.passed or again is None:
            out.append(d)
            continue
        if again.diff.passed:
            reason = "stepped from base's parameters, state and gradients, raw's optimizer moves as base's: " \
                "the update differs because the gradients it was given do"  # fmt: skip
            out.append(replace(d, judged=Judgement(excused=True, reason=reason)))
            continue
        pair = by_leaf.get((d.base_path, d.leaf))
        ratio = "" if pair is None else _ratio(raw_updates.get(id(pair.raw_tensor)), pair, base_updates)
        reason = (
            "stepped from base's parameters, state and gradients, raw's optimizer still moves differently"
            + ratio
        )
        out.append(replace(d, judged=Judgement(excused=False, reason=reason)))
    return out


def _ratio(raw: np.ndarray | None, pair: StatePair, base_updates: Mapping[str, np.ndarray]) -> str:
    """': raw's update is r x base's' when one factor explains raw's isolated update (a learning rate)."""
    if raw is None or any(key not in base_updates for key in pair.base_keys):
        return ""
    base = pair.convert([base_updates[key] for key in pair.base_keys]).astype(np.float64).ravel()
    mine = raw.astype(np.float64).ravel()
    scale = float(base @ base)
    if scale == 0.0 or mine.shape != base.shape:
        return ""
    factor = float(mine @ base) / scale
    residual = float(np.linalg.norm(mine - factor * base)) / max(float(np.linalg.norm(mine)), 1e-300)
    return f": raw's update is {factor:.3g}x base's" if residual < 1e-3 and abs(factor - 1.0) > 1e-3 else ""


def start_from_base(adapter: Adapter, optimizer: Any, pairs: list[StatePair], after: BaseStart) -> None:
    """Set raw's parameters and optimizer state to base's after the step (converted), so that an update
    difference found to come from gradient rounding is not carried into the next step."""
    trainable = [p for p in pairs if adapter.requires_grad(p.raw_tensor)]
    adapter.write_optimizer_states(
        optimizer, [(p.raw_tensor, _converted_state(p, after.states)) for p in trainable]
    )
    for pair in trainable:
        adapter.assign(pair.raw_tensor, pair.convert([after.values[k] for k in pair.base_keys]))
