"""One comparison step, and a run of steps: what `Comparison.run_steps` does.

A step: base runs forward and backward under capture (its trace stored), raw runs the same while being
compared against that trace, then parameter gradients are compared; with optimizers, both step and the
updates are compared. With `isolate` (single-step isolation) raw runs a second time on base's inputs and
incoming gradients, and each pair gets its local error too. Models (and optimizers) are put back after
the last step, whatever happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .capture.calltree import CallNode, CallTree
from .capture.hooks import RunState
from .capture.inputs import Prepared, prepare_inputs
from .capture.optim import StepFunction, optimizer_record, step_optimizer
from .capture.restore import ModelState, TrainingState
from .capture.run import capture_run
from .capture.sink import Sink
from .errors import InputError
from .judge.base_trace import BaseTrace
from .judge.isolated import IsolatedComparer, merge_local
from .judge.isolation import BaseStart, isolated_updates, judge_updates, read_states, start_from_base
from .judge.params import base_param_arrays, compare_param_arrays, raw_param_arrays, updates
from .judge.records import LayerDiff, Phase
from .judge.referee import Referee
from .judge.stream import RawComparer
from .judge.trace import AFTER, BEFORE
from .match.align import Aligner
from .options import Side

if TYPE_CHECKING:
    from .comparison import Comparison

__all__ = ["StepResult", "run_steps"]


@dataclass
class StepResult:
    """What one step compared, and the call trees needed to name a culprit in it."""

    forward: list[LayerDiff] = field(default_factory=list)
    backward: list[LayerDiff] = field(default_factory=list)
    grads: list[LayerDiff] = field(default_factory=list)
    updates: list[LayerDiff] = field(default_factory=list)
    base_tree: CallTree = field(default_factory=CallTree)
    raw_tree: CallTree = field(default_factory=CallTree)
    notes: list[str] = field(default_factory=list)
    calls: Any = None  # the inputs of this step, as the user gave them


def run_steps(
    comparison: Comparison, batches: list[Any], isolate: bool, notes: list[str]
) -> list[StepResult]:
    """One StepResult per batch; input notes and the optimizer note are added to `notes`."""
    base_side, raw_side = comparison.base, comparison.raw
    saved: list[Any] = [ModelState(*base_side.inputs()), ModelState(*raw_side.inputs())]
    for side in (base_side, raw_side):
        if side.optimizer is not None:  # one padiff made from a factory too: a confirmation run reuses it
            optimizer = None if isinstance(side.optimizer, StepFunction) else side.optimizer
            saved.append(TrainingState(side.adapter, side.model, optimizer))
    results = []
    try:
        for step, batch in enumerate(batches):
            base_call, raw_call, input_notes = prepare_inputs(batch, base_side.inputs(), raw_side.inputs())
            notes.extend(n for n in input_notes if n not in notes)
            result = _run_step(comparison, step, base_call, raw_call, isolate)
            del base_call, raw_call  # the inputs could keep paddle's graph alive past the step
            result.calls = batch
            results.append(result)
    finally:
        for state in reversed(saved):
            state.restore()
    if base_side.optimizer is not None:
        notes.append(
            f"{len(batches)} optimizer steps run; both models and optimizers were put back afterwards"
        )
    return results


def _run_step(
    comparison: Comparison, step: int, base_call: Prepared, raw_call: Prepared, isolate: bool
) -> StepResult:
    base_side, raw_side = comparison.base, comparison.raw
    state_pairs, tolerances = comparison.state_pairs, comparison.options.tolerances
    trace = BaseTrace(base_side.adapter, comparison.memory_budget)
    try:
        trace.record_buffers(BEFORE, base_side.model)
        base_state = _capture(base_side, base_call, trace)
        trace.finish()
        sizes = comparison.buffers.batch_sizes(trace)  # before raw's run releases base's inputs
        trace.record_param_grads(state_pairs)
        trace.record_buffers(AFTER, base_side.model)
        aligner = Aligner(trace.tree, comparison.path_pairs)
        comparer = RawComparer(raw_side.adapter, trace, aligner, tolerances, step, keep_base=isolate)
        raw_buffers = comparison.buffers.snapshot()
        raw_state = _capture(raw_side, raw_call, comparer)
        comparer.finish()
        result = StepResult(comparer.forward, comparer.backward, base_tree=trace.tree, raw_tree=aligner.raw)
        result.grads = _param_grads(comparison, trace, step)
        buffers, buffer_notes = comparison.buffers.compare(trace, sizes, raw_buffers, tolerances, step)
        result.notes = _run_notes(base_state, raw_state, aligner) + comparer.notes + buffer_notes
        if isolate:
            comparison.buffers.restore(raw_buffers)  # the isolated run starts from the same statistics
            raw_side.adapter.take_grads([pair.raw_tensor for pair in state_pairs])
            isolated = IsolatedComparer(
                raw_side.adapter, trace, Aligner(trace.tree, comparison.path_pairs), tolerances, step
            )
            _capture(raw_side, raw_call, isolated)
            isolated.finish()
            result.forward = merge_local(comparer.forward, isolated.forward)
            result.backward = merge_local(comparer.backward, isolated.backward)
            raw_params = raw_param_arrays(raw_side.adapter, state_pairs, grads=True)  # local gradients
            result.grads = merge_local(result.grads, _param_grads(comparison, trace, step))
            referee = Referee(base_side.adapter, base_side.model, trace, state_pairs, isolated.spans)
            judged, judge_notes = referee.judge(
                result.forward + result.backward + result.grads, isolated.failing or {}, raw_params
            )
            result.forward, judged = judged[: len(result.forward)], judged[len(result.forward) :]
            result.backward, result.grads = judged[: len(result.backward)], judged[len(result.backward) :]
            result.notes += judge_notes
            local = comparison.buffers.compare(trace, sizes, raw_buffers, tolerances, step)[0]
            buffers = merge_local(buffers, local)
            result.notes.append("single_step: each raw layer was also run on base's inputs and incoming gradients; "
                                "pairs are judged by that local error")  # fmt: skip
        result.forward += buffers  # statistics a forward leaves behind: judged after the forward
        if base_side.optimizer is not None:
            result.updates, update_notes = _step_optimizers(comparison, trace, step)
            result.notes += update_notes
        if trace.store.spilled:
            result.notes.append(
                f"base trace: {trace.store.spilled / 2**20:.0f} MB kept in a temporary file, past the memory "
                f"budget of {trace.store.memory_budget / 2**20:.0f} MB (memory_budget=)"
            )
    finally:
        trace.close()
    return result


def _param_grads(comparison: Comparison, trace: BaseTrace, step: int) -> list[LayerDiff]:
    """Raw's parameter gradients (as they are now) against base's recorded ones."""
    raw_grads = raw_param_arrays(comparison.raw.adapter, comparison.state_pairs, grads=True)
    return compare_param_arrays(
        comparison.state_pairs,
        trace.param_grads(),
        raw_grads,
        comparison.options.tolerances,
        Phase.GRAD,
        step,
        loss_grad_scale=trace.loss_grad_scale,
        dtypes=(comparison.base.adapter.dtype_name, comparison.raw.adapter.dtype_name),
    )


def _capture(side: Side, call: Prepared, sink: Sink) -> RunState:
    args, kwargs = call
    return capture_run(side.adapter, side.model, args, kwargs, sink, side.policy, side.loss, side.role)


def _step_optimizers(
    comparison: Comparison, trace: BaseTrace, step: int
) -> tuple[list[LayerDiff], list[str]]:
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
            dtypes=(comparison.base.adapter.dtype_name, comparison.raw.adapter.dtype_name),
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


def _listed(nodes: list[CallNode]) -> str:
    shown = ", ".join(f"{n.path or '(root)'} ({n.cls})" for n in nodes[:8])
    return shown + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")


def _run_notes(base_state: RunState, raw_state: RunState, aligner: Aligner) -> list[str]:
    notes = []
    for role, state in (("base", base_state), ("raw", raw_state)):
        if state.dropout_neutralised:
            notes.append(
                f"{role}: {state.dropout_neutralised} dropout layers were switched off for the run (train mode)"
            )
        if state.functional_dropout:
            notes.append(
                f"{role}: {state.functional_dropout} calls of functional dropout ran with p = 0 (train mode)"
            )
        if state.skipped_outputs:
            notes.append(f"{role}: {state.skipped_outputs} non-tensor output values were not compared")
    through = [aligner.raw[i] for i in sorted(aligner.through)]
    if through:
        notes.append(
            f"raw layers with no counterpart of their own, looked through (sublayers paired): {_listed(through)}"
        )
    looked_into = aligner.looked_into_base()
    if looked_into:
        notes.append(
            f"base layers with no counterpart of their own, looked into (sublayers paired): {_listed(looked_into)}"
        )
    for role, nodes in (("base", aligner.unmatched_base()), ("raw", aligner.unmatched_raw())):
        if nodes:
            notes.append(f"{role} layers without counterpart, not compared: {_listed(nodes)}")
    return notes
