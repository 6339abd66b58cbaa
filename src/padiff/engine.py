"""padiff.compare: the pipeline from two models and one input to a Report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .align import Aligner
from .capture import RunState, capture_run
from .compare import CompareMode, Phase, compare_arrays
from .errors import InputError, PadiffError
from .frameworks.base import adapter_for
from .inputs import prepare_inputs
from .layermap import LayerMap
from .localize import find_culprit, first_failure
from .records import LayerDiff
from .report import Report
from .stream import RawComparer, Tolerances
from .trace import BaseTrace
from .tree import tree_lines
from .weights import StatePair, plan_state_pairs, transfer_weights

__all__ = ["compare"]

_DIFF_PHASES = ("both", "forward", "backward")


def _loss_pair(loss_fn: Any) -> tuple[Callable | None, Callable | None]:
    if loss_fn is None:
        return None, None
    if isinstance(loss_fn, (tuple, list)) and len(loss_fn) == 2 and all(callable(f) for f in loss_fn):
        return loss_fn[0], loss_fn[1]
    raise InputError(
        f"loss_fn must be None or a pair (base_fn, raw_fn) of callables, got {type(loss_fn).__name__}",
        hint="each function takes its model's output and returns a scalar tensor",
    )


def compare(
    base: Any,
    raw: Any,
    inputs: Any,
    *,
    init_weights: bool = True,
    loss_fn: Any = None,
    optimizers: Any = None,
    steps: int = 1,
    atol: float | None = None,
    rtol: float | None = None,
    layer_map: LayerMap | None = None,
    single_step: bool = False,
    api_level: Any = None,
    compare_mode: str = "strict",
    diff_phase: str = "both",
) -> Report:
    """Copy base's weights into raw, run both forward and backward, and report where they part ways."""
    base_adapter, raw_adapter = adapter_for(base, "base"), adapter_for(raw, "raw")
    if optimizers is not None or single_step or steps != 1:
        raise InputError(
            "optimizer steps and single_step isolation are not available in this version",
            hint="call padiff.compare without optimizers/steps/single_step",
        )
    if compare_mode not in {m.value for m in CompareMode}:
        raise InputError(f"unknown compare_mode {compare_mode!r}", hint="use 'strict' or 'mean'")
    if diff_phase not in _DIFF_PHASES:
        raise InputError(f"unknown diff_phase {diff_phase!r}", hint="use 'both', 'forward' or 'backward'")
    base_loss, raw_loss = _loss_pair(loss_fn)
    layer_map = layer_map or LayerMap()
    tolerances = Tolerances(atol, rtol, CompareMode(compare_mode))
    (base_args, base_kwargs), (raw_args, raw_kwargs), notes = prepare_inputs(
        inputs, (base_adapter, base), (raw_adapter, raw)
    )
    if init_weights:
        state_pairs = transfer_weights(base_adapter, base, raw_adapter, raw, layer_map)
    else:
        state_pairs = _pairs_or_note(base_adapter, base, raw_adapter, raw, layer_map, notes)
    saved = _ModelState(base_adapter, base), _ModelState(raw_adapter, raw)
    base_trace = BaseTrace(base_adapter)
    try:
        base_state = capture_run(
            base_adapter,
            base,
            base_args,
            base_kwargs,
            base_trace,
            layer_map.policy(base_adapter, base),
            base_loss,
            "base",
        )
        base_trace.finish()
        base_param_grads = _grads(base_adapter, state_pairs)
        aligner = Aligner(base_trace.nodes, layer_map.path_pairs(base_adapter, base, raw_adapter, raw))
        comparer = RawComparer(raw_adapter, base_trace, aligner, tolerances)
        raw_state = capture_run(
            raw_adapter,
            raw,
            raw_args,
            raw_kwargs,
            comparer,
            layer_map.policy(raw_adapter, raw),
            raw_loss,
            "raw",
        )
        comparer.finish()
        grad_diffs = _compare_param_grads(raw_adapter, state_pairs, base_param_grads, tolerances)
    finally:
        base_trace.close()
        for state in saved:
            state.restore()
    notes += _run_notes(base_state, raw_state, aligner)
    if base_trace.store.spilled:
        notes.append(
            f"base trace: {base_trace.store.spilled / 2**20:.0f} MB kept in a temporary file to bound memory"
        )
    forward = comparer.forward if diff_phase in ("both", "forward") else []
    backward = comparer.backward if diff_phase in ("both", "backward") else []
    grads = grad_diffs if diff_phase in ("both", "backward") else []
    failure = first_failure(forward, backward, grads)
    culprit = None
    if failure is not None:
        base_nodes = {n.id: n for n in base_trace.nodes}
        raw_nodes = aligner.raw_nodes
        culprit = find_culprit(
            failure, base_nodes.get(failure.base_id), raw_nodes.get(failure.raw_id), base_nodes, raw_nodes
        )
    return Report(
        passed=failure is None,
        first_diff=culprit,
        diffs=forward + backward + grads,
        base_framework=base_adapter.name,
        raw_framework=raw_adapter.name,
        base_tree=tree_lines(base_adapter, base),
        raw_tree=tree_lines(raw_adapter, raw),
        notes=notes,
    )


def _pairs_or_note(base_adapter, base, raw_adapter, raw, layer_map, notes: list[str]) -> list[StatePair]:
    try:
        return plan_state_pairs(base_adapter, base, raw_adapter, raw, layer_map)[0]
    except PadiffError as error:
        notes.append(f"parameter gradients not compared: {str(error).splitlines()[0]}")
        return []


class _ModelState:
    """Buffers (BatchNorm statistics move in train mode) and gradients, put back after the run."""

    def __init__(self, adapter: Any, model: Any):
        self.adapter = adapter
        self.buffers = [
            (t, adapter.to_numpy(t)) for _, t in adapter.all_state(model) if not adapter.requires_grad(t)
        ]
        self.params = [t for _, t in adapter.all_state(model) if adapter.requires_grad(t)]
        self.grads = adapter.take_grads(self.params)

    def restore(self) -> None:
        for tensor, value in self.buffers:
            self.adapter.assign(tensor, value)
        self.adapter.put_grads(self.params, self.grads)


def _grads(adapter: Any, state_pairs: list[StatePair]) -> dict[int, Any]:
    """Base's parameter gradients as arrays, by id of the parameter."""
    out = {}
    for pair in state_pairs:
        for tensor in pair.base_tensors:
            grad = adapter.grad_of(tensor)
            if grad is not None and id(tensor) not in out:
                out[id(tensor)] = adapter.to_numpy(grad)
    return out


# a parameter gradient is judged at least against this share of the mean gradient scale of the model
GRAD_FLOOR_SHARE = 0.1


def _compare_param_grads(raw_adapter, state_pairs, base_grads, tolerances: Tolerances) -> list[LayerDiff]:
    scales = [float(np.abs(g).mean()) for g in base_grads.values() if g.size]
    floor = GRAD_FLOOR_SHARE * float(np.mean(scales)) if scales else 0.0
    diffs = []
    for order, pair in enumerate(reversed(state_pairs)):
        grads = [base_grads.get(id(t)) for t in pair.base_tensors]
        raw_grad = raw_adapter.grad_of(pair.raw_tensor)
        if all(g is None for g in grads) and raw_grad is None:
            continue
        base_array = pair.convert(grads) if all(g is not None for g in grads) else None
        raw_array = raw_adapter.to_numpy(raw_grad) if raw_grad is not None else None
        if base_array is None or raw_array is None:
            zeros = np.zeros(raw_adapter.shape(pair.raw_tensor), dtype=np.float32)
            base_array = zeros if base_array is None else base_array
            raw_array = zeros if raw_array is None else raw_array
        diff = compare_arrays(
            base_array, raw_array, tolerances.atol, tolerances.rtol, None, tolerances.mode, floor
        )
        diffs.append(
            LayerDiff(
                Phase.GRAD,
                0,
                "param",
                order,
                pair.base_path,
                pair.raw_path,
                "",
                "",
                0,
                f"{pair.base_name} <-> {pair.raw_name}",
                diff,
            )
        )
    return diffs


def _run_notes(base_state: RunState, raw_state: RunState, aligner: Aligner) -> list[str]:
    notes = []
    for role, state in (("base", base_state), ("raw", raw_state)):
        if state.dropout_neutralised:
            notes.append(
                f"{role}: {state.dropout_neutralised} dropout layers were switched off for the run (train mode)"
            )
        if state.skipped_outputs:
            notes.append(f"{role}: {state.skipped_outputs} non-tensor output values were not compared")
    for role, nodes in (("base", aligner.unmatched_base()), ("raw", aligner.unmatched_raw())):
        if nodes:
            shown = ", ".join(f"{n.path or '(root)'} ({n.cls})" for n in nodes[:8])
            more = f" and {len(nodes) - 8} more" if len(nodes) > 8 else ""
            notes.append(f"{role} layers without counterpart, not compared: {shown}{more}")
    return notes
