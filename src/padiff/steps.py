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

from .capture.calltree import CallNode
from .capture.hooks import RunState
from .capture.inputs import Prepared, prepare_inputs
from .capture.optim import step_optimizer
from .capture.restore import ModelState, TrainingState
from .capture.run import capture_run
from .capture.sink import Sink
from .errors import InputError
from .judge.params import base_param_arrays, compare_param_arrays, raw_param_arrays, updates
from .judge.records import LayerDiff, Phase
from .judge.stream import IsolatedComparer, RawComparer, merge_local
from .judge.trace import BaseTrace
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
    base_nodes: list[CallNode] = field(default_factory=list)
    raw_nodes: dict[int, CallNode] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calls: Any = None  # the inputs of this step, as the user gave them


def run_steps(
    comparison: Comparison, batches: list[Any], isolate: bool, notes: list[str]
) -> list[StepResult]:
    """One StepResult per batch; input notes and the optimizer note are added to `notes`."""
    base_side, raw_side = comparison.base, comparison.raw
    saved: list[Any] = [ModelState(*base_side.inputs()), ModelState(*raw_side.inputs())]
    for side in (base_side, raw_side):
        if side.optimizer is not None:
            user_optimizer = None if side.optimizer_made else side.optimizer
            saved.append(TrainingState(side.adapter, side.model, user_optimizer))
    results = []
    try:
        for step, batch in enumerate(batches):
            base_call, raw_call, input_notes = prepare_inputs(batch, base_side.inputs(), raw_side.inputs())
            notes.extend(n for n in input_notes if n not in notes)
            result = _run_step(comparison, step, base_call, raw_call, isolate)
            del base_call, raw_call  # the inputs could keep paddle's graph alive past the step
            result.calls = batch
            if base_side.optimizer is not None:
                result.updates = _step_optimizers(comparison, step)
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
    trace = BaseTrace(base_side.adapter)
    try:
        base_state = _capture(base_side, base_call, trace)
        trace.finish()
        base_grads = base_param_arrays(base_side.adapter, state_pairs, grads=True)
        aligner = Aligner(trace.nodes, comparison.path_pairs)
        comparer = RawComparer(raw_side.adapter, trace, aligner, tolerances, step, keep_base=isolate)
        raw_state = _capture(raw_side, raw_call, comparer)
        comparer.finish()
        raw_grads = raw_param_arrays(raw_side.adapter, state_pairs, grads=True)
        if isolate:
            raw_side.adapter.take_grads([pair.raw_tensor for pair in state_pairs])
            isolated = IsolatedComparer(
                raw_side.adapter, trace, Aligner(trace.nodes, comparison.path_pairs), tolerances, step
            )
            _capture(raw_side, raw_call, isolated)
            isolated.finish()
    finally:
        trace.close()

    def param_grads(raw_arrays: dict) -> list[LayerDiff]:
        return compare_param_arrays(
            state_pairs,
            base_grads,
            raw_arrays,
            tolerances,
            Phase.GRAD,
            step,
            loss_grad_scale=trace.loss_grad_scale,
        )

    result = StepResult(
        comparer.forward, comparer.backward, base_nodes=trace.nodes, raw_nodes=aligner.raw_nodes
    )
    result.grads = param_grads(raw_grads)
    result.notes = _run_notes(base_state, raw_state, aligner) + comparer.notes
    if isolate:
        result.forward = merge_local(comparer.forward, isolated.forward)
        result.backward = merge_local(comparer.backward, isolated.backward)
        result.grads = merge_local(
            result.grads, param_grads(raw_param_arrays(raw_side.adapter, state_pairs, grads=True))
        )
        result.notes.append("single_step: each raw layer was also run on base's inputs and incoming gradients; "
                            "pairs are judged by that local error")  # fmt: skip
    if trace.store.spilled:
        result.notes.append(
            f"base trace: {trace.store.spilled / 2**20:.0f} MB kept in a temporary file to bound memory"
        )
    return result


def _capture(side: Side, call: Prepared, sink: Sink) -> RunState:
    args, kwargs = call
    return capture_run(side.adapter, side.model, args, kwargs, sink, side.policy, side.loss, side.role)


def _step_optimizers(comparison: Comparison, step: int) -> list[LayerDiff]:
    base_side, raw_side, state_pairs = comparison.base, comparison.raw, comparison.state_pairs
    base_before = base_param_arrays(base_side.adapter, state_pairs, grads=False)
    raw_before = raw_param_arrays(raw_side.adapter, state_pairs, grads=False)
    for side in (base_side, raw_side):
        try:
            step_optimizer(side.adapter, side.model, side.optimizer)
        except Exception as error:
            raise InputError(
                f"{side.role} optimizer ({side.adapter.name}) raised in step {step}: {type(error).__name__}: {error}",
                hint="the optimizer must hold the parameters of the model given as " + side.role,
            ) from error
    base_update = updates(base_before, base_param_arrays(base_side.adapter, state_pairs, grads=False))
    raw_update = updates(raw_before, raw_param_arrays(raw_side.adapter, state_pairs, grads=False))
    trainable = [p for p in state_pairs if raw_side.adapter.requires_grad(p.raw_tensor)]
    return compare_param_arrays(
        trainable, base_update, raw_update, comparison.options.tolerances, Phase.WEIGHT, step, base_before
    )


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
        if state.skipped_outputs:
            notes.append(f"{role}: {state.skipped_outputs} non-tensor output values were not compared")
    through = [aligner.raw_nodes[i] for i in sorted(aligner.through)]
    if through:
        notes.append(
            f"raw layers with no counterpart of their own, looked through (sublayers paired): {_listed(through)}"
        )
    for role, nodes in (("base", aligner.unmatched_base()), ("raw", aligner.unmatched_raw())):
        if nodes:
            notes.append(f"{role} layers without counterpart, not compared: {_listed(nodes)}")
    return notes
