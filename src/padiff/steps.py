"""One comparison step, and a run of steps: what `Comparison.run_steps` does.

A step: base runs forward and backward under capture (its trace stored), raw runs the same while being
compared against that trace, then parameter gradients are compared; with optimizers, both step and the
updates are compared (`optimizer_step`). With `isolate` (single-step isolation) raw runs a second time on
base's inputs and incoming gradients, and each pair gets its local error too. A confirmation of one step
without optimizers gives the first run's step as `natural`: raw's natural pass is then not run again
before its isolated one, only after it where the isolated run would clear the failure (to see that the
failure comes back). Models (and optimizers) are put back after the last step, whatever happens.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .capture.hooks import RunState
from .capture.inputs import Prepared, prepare_inputs
from .capture.optim import StepFunction
from .capture.restore import ModelState, TrainingState
from .capture.run import capture_run
from .capture.sink import Sink
from .judge.base_trace import BaseTrace
from .judge.isolated import IsolatedComparer, merge_local
from .judge.params import compare_param_arrays, raw_param_arrays
from .judge.records import LayerDiff, Phase
from .judge.referee import Referee
from .judge.stream import RawComparer
from .judge.trace import AFTER, BEFORE
from .localize.verdict import StepResult, judge_steps
from .match.align import Aligner
from .match.run_notes import run_notes
from .optimizer_step import step_optimizers
from .options import Side

if TYPE_CHECKING:
    from .comparison import Comparison

__all__ = ["StepResult", "run_steps", "CallsChanged"]


class CallsChanged(Exception):
    """Raw's layers were not called as in the first run of a step: its comparison cannot be reused."""


def run_steps(
    comparison: Comparison,
    batches: list[Any],
    isolate: bool,
    notes: list[str],
    natural: StepResult | None = None,
    evidence: LayerDiff | None = None,
) -> list[StepResult]:
    """One StepResult per batch; input notes and the optimizer note are added to `notes`. `natural`: the
    first run's step 0 (`evidence`: its failing pair), reused by a confirmation (one batch, no optimizers)
    instead of running raw's natural pass again; CallsChanged when raw's calls differ from it."""
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
            result = _run_step(comparison, step, base_call, raw_call, isolate, natural, evidence)
            natural = None  # it stands for step 0 only
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
    comparison: Comparison,
    step: int,
    base_call: Prepared,
    raw_call: Prepared,
    isolate: bool,
    natural: StepResult | None = None,
    evidence: LayerDiff | None = None,
) -> StepResult:
    """One step. With `natural` (a confirmation's step 0 without optimizers: what a first run of the same
    step compared), raw's natural run is not repeated before its isolated run; see `_reuse_natural`."""
    base_side, state_pairs = comparison.base, comparison.state_pairs
    trace = BaseTrace(base_side.adapter, comparison.memory_budget)
    try:
        trace.record_buffers(BEFORE, base_side.model)
        base_state = _capture(base_side, base_call, trace)
        trace.finish()
        sizes = comparison.buffers.batch_sizes(trace)  # before raw's run releases base's inputs
        trace.record_param_grads(state_pairs)
        trace.record_buffers(AFTER, base_side.model)
        raw_buffers = comparison.buffers.snapshot()
        if natural is not None and natural.base_tree.same_calls(trace.tree):
            result = _reuse_natural(natural)
        else:
            result, raw_state, aligner = _natural(
                comparison, step, trace, raw_call, raw_buffers, sizes, isolate
            )
            result.notes = run_notes(base_state, raw_state, aligner) + result.notes
            natural = None
        if isolate:
            _isolate(
                comparison, step, trace, raw_call, result, raw_buffers, sizes, reused=natural is not None
            )
            if natural is not None and _passes_locally(comparison, result):
                result.rerun = _natural_rerun(comparison, step, trace, raw_call, raw_buffers, sizes, evidence)
        result.forward = result.forward + result.buffers  # statistics a forward leaves: judged after it
        if base_side.optimizer is not None:
            result.updates, update_notes = step_optimizers(comparison, trace, step)
            result.notes += update_notes
        if trace.store.spilled:
            result.notes.append(
                f"base trace: {trace.store.spilled / 2**20:.0f} MB kept in a temporary file, past the memory "
                f"budget of {trace.store.memory_budget / 2**20:.0f} MB (memory_budget=)"
            )
    finally:
        trace.close()
    return result


def _reuse_natural(natural: StepResult) -> StepResult:
    """A confirmation step's natural comparison taken from the first run's (same inputs, same weights,
    same calls: the models repeat it unless they keep state between calls, which `_natural_rerun` checks
    for where it could change the verdict)."""
    forward = natural.forward[: len(natural.forward) - len(natural.buffers)]
    result = StepResult(list(forward), list(natural.backward), list(natural.grads))
    result.buffers, result.notes = list(natural.buffers), list(natural.notes)
    result.base_tree, result.raw_tree = natural.base_tree, natural.raw_tree
    return result


def _isolate(
    comparison: Comparison,
    step: int,
    trace: BaseTrace,
    raw_call: Prepared,
    result: StepResult,
    raw_buffers: dict[str, np.ndarray],
    sizes: dict[str, list[int]],
    reused: bool = False,
) -> None:
    """Raw run again, each layer on base's inputs and incoming gradients: every pair of `result` gets its
    local error, and failing pairs the float64 judge's reading."""
    base_side, raw_side = comparison.base, comparison.raw
    state_pairs, tolerances = comparison.state_pairs, comparison.options.tolerances
    comparison.buffers.restore(raw_buffers)  # the isolated run starts from the same statistics
    raw_side.adapter.take_grads([pair.raw_tensor for pair in state_pairs])
    aligner = Aligner(trace.tree, comparison.path_pairs)
    isolated = IsolatedComparer(raw_side.adapter, trace, aligner, tolerances, step, _autocast(comparison))
    _capture(raw_side, raw_call, isolated)
    isolated.finish()
    if reused and not result.raw_tree.same_calls(isolated.aligner.raw):
        raise CallsChanged("raw's layers were called differently in its isolated run")
    result.forward = merge_local(result.forward, isolated.forward)
    result.backward = merge_local(result.backward, isolated.backward)
    raw_params = raw_param_arrays(raw_side.adapter, state_pairs, grads=True)  # local gradients
    result.grads = merge_local(result.grads, _param_grads(comparison, trace, step))
    referee = Referee.for_isolated(base_side.adapter, base_side.model, trace, state_pairs, isolated)
    judged, judge_notes = referee.judge(
        result.forward + result.backward + result.grads,
        isolated.failing or {},
        raw_params,
        lambda before: not judge_steps([_split(result, before)], comparison.options.diff_phase, []).passed,
    )
    result.forward, judged = judged[: len(result.forward)], judged[len(result.forward) :]
    result.backward, result.grads = judged[: len(result.backward)], judged[len(result.backward) :]
    result.notes += judge_notes
    local = comparison.buffers.compare(trace, sizes, raw_buffers, tolerances, step)[0]
    result.buffers = merge_local(result.buffers, local)
    result.notes.append("single_step: each raw layer was also run on base's inputs and incoming gradients; "
                        "pairs are judged by that local error")  # fmt: skip


def _split(result: StepResult, diffs: list[LayerDiff]) -> StepResult:
    """`result` holding only `diffs`, each in its phase's list (what the judge has read so far)."""
    by_phase: dict[Phase, list[LayerDiff]] = {Phase.FORWARD: [], Phase.BACKWARD: [], Phase.GRAD: []}
    for d in diffs:
        by_phase.setdefault(d.phase, []).append(d)
    return replace(
        result, forward=by_phase[Phase.FORWARD], backward=by_phase[Phase.BACKWARD], grads=by_phase[Phase.GRAD]
    )


def _passes_locally(comparison: Comparison, result: StepResult) -> bool:
    """Whether this isolated step would pass: then the confirmation clears the first run's failure, and
    that must not rest on the first run's natural comparison alone (`_natural_rerun`)."""
    whole = replace(result, forward=result.forward + result.buffers)
    return judge_steps([whole], comparison.options.diff_phase, [], isolated=True).passed


def _natural(
    comparison: Comparison,
    step: int,
    trace: BaseTrace,
    raw_call: Prepared,
    raw_buffers: dict[str, np.ndarray],
    sizes: dict[str, list[int]],
    keep_base: bool = False,
    only: LayerDiff | None = None,
) -> tuple[StepResult, RunState, Aligner]:
    """Raw's natural run against base's trace: its pairs, parameter gradients and buffers, with the
    comparer's notes (the run's own notes need base's run too: `run_notes`); `only`: that pair alone."""
    aligner = Aligner(trace.tree, comparison.path_pairs)
    comparer = RawComparer(
        comparison.raw.adapter,
        trace,
        aligner,
        comparison.options.tolerances,
        step,
        keep_base=keep_base,
        autocast=_autocast(comparison),
        only=None if only is None else (only.where, only.base_id),
    )
    raw_state = _capture(comparison.raw, raw_call, comparer)
    comparer.finish()
    result = StepResult(comparer.forward, comparer.backward, base_tree=trace.tree, raw_tree=aligner.raw)
    if only is None or only.phase is Phase.GRAD:
        result.grads = _param_grads(comparison, trace, step)
    result.notes = list(comparer.notes)
    if only is None or only.phase is Phase.BUFFER:
        tolerances = comparison.options.tolerances
        result.buffers, notes = comparison.buffers.compare(trace, sizes, raw_buffers, tolerances, step)
        result.notes += notes
    return result, raw_state, aligner


def _natural_rerun(
    comparison: Comparison,
    step: int,
    trace: BaseTrace,
    raw_call: Prepared,
    raw_buffers: dict[str, np.ndarray],
    sizes: dict[str, list[int]],
    evidence: LayerDiff | None = None,
) -> list[LayerDiff]:
    """Raw's natural run once more, after its isolated run: does the first run's failure (`evidence`, the
    only pair compared) come back? A model keeping state between calls may not (`confirm.reproduced`)."""
    comparison.buffers.restore(raw_buffers)
    comparison.raw.adapter.take_grads([pair.raw_tensor for pair in comparison.state_pairs])
    rerun = _natural(comparison, step, trace, raw_call, raw_buffers, sizes, only=evidence)[0]
    return rerun.forward + rerun.buffers + rerun.backward + rerun.grads


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
        dtypes=(comparison.base.judged_dtype, comparison.raw.judged_dtype),
    )


def _capture(side: Side, call: Prepared, sink: Sink) -> RunState:
    args, kwargs = call
    return capture_run(
        side.adapter,
        side.model,
        args,
        kwargs,
        sink,
        side.policy,
        side.loss,
        side.role,
        autocast=side.autocast,
    )


def _autocast(comparison: Comparison) -> tuple[str | None, str | None]:
    return comparison.base.autocast, comparison.raw.autocast
