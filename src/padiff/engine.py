"""padiff.compare: the pipeline from two models and one input to a Report.

One step = base runs forward and backward under capture (its trace stored), raw runs the same while
being compared against that trace, then parameter gradients are compared; with optimizers, both step
and the updates are compared. Everything padiff changes is put back at the end, whatever happens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .align import Aligner
from .api import first_divergent_op, record_ops
from .capture import CallNode, LayerPolicy, RunState, capture_run
from .compare import CompareMode, Phase
from .errors import InputError, PadiffError
from .frameworks.base import adapter_for
from .inputs import prepare_inputs
from .layermap import LayerMap
from .localize import find_culprit, first_failure, regrouped
from .records import Culprit, LayerDiff
from .report import Report
from .stream import IsolatedComparer, RawComparer, Tolerances, merge_local
from .trace import BaseTrace
from .train import (
    ModelState,
    TrainingState,
    base_param_arrays,
    compare_param_arrays,
    optimizer_pair,
    raw_param_arrays,
    step_optimizer,
    updates,
)
from .tree import tree_lines
from .weights import StatePair, plan_state_pairs, transfer_weights

__all__ = ["compare"]

_DIFF_PHASES = ("both", "forward", "backward")


@dataclass
class _Side:
    """One model and everything padiff needs to run it."""

    role: str
    adapter: Any
    model: Any
    loss: Callable | None
    policy: LayerPolicy
    optimizer: Any = None
    optimizer_made: bool = False  # padiff built it from a factory: nothing to put back


@dataclass
class _Step:
    """What one step compared, and the call trees needed to name a culprit in it."""

    forward: list[LayerDiff] = field(default_factory=list)
    backward: list[LayerDiff] = field(default_factory=list)
    grads: list[LayerDiff] = field(default_factory=list)
    updates: list[LayerDiff] = field(default_factory=list)
    base_nodes: list[CallNode] = field(default_factory=list)
    raw_nodes: dict[int, CallNode] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    calls: Any = None  # the inputs of this step, as the user gave them


def _loss_pair(loss_fn: Any) -> tuple[Callable | None, Callable | None]:
    if loss_fn is None:
        return None, None
    if isinstance(loss_fn, (tuple, list)) and len(loss_fn) == 2 and all(callable(f) for f in loss_fn):
        return loss_fn[0], loss_fn[1]
    raise InputError(
        f"loss_fn must be None or a pair (base_fn, raw_fn) of callables, got {type(loss_fn).__name__}",
        hint="each function takes its model's output and returns a scalar tensor",
    )


def _check_options(compare_mode: str, diff_phase: str, steps: int, batches: Any) -> None:
    if compare_mode not in {m.value for m in CompareMode}:
        raise InputError(f"unknown compare_mode {compare_mode!r}", hint="use 'strict' or 'mean'")
    if diff_phase not in _DIFF_PHASES:
        raise InputError(f"unknown diff_phase {diff_phase!r}", hint="use 'both', 'forward' or 'backward'")
    if not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a positive int, got {steps!r}", hint="steps=1 compares one step")
    if batches is not None and not isinstance(batches, (list, tuple)):
        raise InputError("batches must be a list with one input per step", hint="batches=[x0, x1, ...]")


def compare(
    base: Any,
    raw: Any,
    inputs: Any = None,
    *,
    init_weights: bool = True,
    loss_fn: Any = None,
    optimizers: Any = None,
    steps: int = 1,
    batches: list[Any] | None = None,
    atol: float | None = None,
    rtol: float | None = None,
    layer_map: LayerMap | None = None,
    single_step: bool = False,
    api_level: bool = True,
    confirm: bool = True,
    compare_mode: str = "strict",
    diff_phase: str = "both",
) -> Report:
    """Copy base's weights into raw, run both forward and backward (and optimizer steps), and report
    where they part ways. See README.md for the rules and DESIGN.md for the contract."""
    base_adapter, raw_adapter = adapter_for(base, "base"), adapter_for(raw, "raw")
    _check_options(compare_mode, diff_phase, steps, batches)
    notes: list[str] = []
    if single_step and (steps != 1 or optimizers is not None or batches):
        notes.append("single_step: runs one step without optimizers (steps, optimizers and batches ignored)")
        steps, optimizers, batches = 1, None, None
    batches = list(batches) if batches else [inputs] * steps
    if inputs is None and not batches[0:1]:
        raise InputError("no inputs given", hint="pass inputs, or batches=[...] with one input per step")
    steps = len(batches)
    layer_map = layer_map or LayerMap()
    base_loss, raw_loss = _loss_pair(loss_fn)
    base_side = _Side("base", base_adapter, base, base_loss, layer_map.policy(base_adapter, base))
    raw_side = _Side("raw", raw_adapter, raw, raw_loss, layer_map.policy(raw_adapter, raw))
    pair = optimizer_pair(optimizers, (base_adapter, base), (raw_adapter, raw))
    if pair is not None:
        base_side.optimizer, raw_side.optimizer, base_side.optimizer_made, raw_side.optimizer_made = pair
    tolerances = Tolerances(atol, rtol, CompareMode(compare_mode))
    if init_weights:
        state_pairs = transfer_weights(base_adapter, base, raw_adapter, raw, layer_map)
    else:
        state_pairs = _pairs_or_note(base_adapter, base, raw_adapter, raw, layer_map, notes)
    path_pairs = layer_map.path_pairs(base_adapter, base, raw_adapter, raw)
    notes.extend(_ignored_weights_note(raw_side))
    results = _run_steps(
        base_side, raw_side, batches, state_pairs, path_pairs, tolerances, single_step, notes
    )
    report = _report(base_side, raw_side, results, notes, diff_phase)
    if confirm and _worth_confirming(report, single_step, base_side, len(batches)):
        confirmed = _confirm(
            base_side, raw_side, batches, state_pairs, path_pairs, tolerances, diff_phase, report
        )
        if confirmed is not None:
            report, results = confirmed
    if api_level and report.first_diff is not None:
        report.first_diff = narrow_to_op(report.first_diff, base_side, raw_side, results, tolerances, notes)
    return report


def _ignored_weights_note(side: _Side) -> list[str]:
    """LayerMap.ignore'd layers keep their own weights: say so, since raw's then stay as they were."""
    ignored = [
        path or "(root)"
        for path, layer in side.adapter.named_sublayers(side.model)
        if id(layer) in side.policy.transparent and side.adapter.direct_state(layer)
    ]
    if not ignored:
        return []
    return [f"weights of layers given to LayerMap.ignore were not copied into raw: {', '.join(ignored[:8])}"]


def _worth_confirming(report: Report, single_step: bool, base_side: _Side, steps: int) -> bool:
    first = report.first_diff
    return (
        first is not None
        and not single_step
        and base_side.optimizer is None
        and steps == 1
        and first.phase in (Phase.FORWARD, Phase.BACKWARD, Phase.GRAD)
    )


def _confirm(base_side, raw_side, batches, state_pairs, path_pairs, tolerances, diff_phase, report: Report):
    """Re-run with single-step isolation: a model whose every layer agrees given the same inputs only
    accumulated rounding (amplified by a kink, a near-tie in a max-pool, train-mode statistics over few
    values) and passes; otherwise the culprit is the first layer whose own error differs."""
    first = report.first_diff
    notes = list(report.notes)
    try:
        results = _run_steps(base_side, raw_side, batches, state_pairs, path_pairs, tolerances, True, notes)
    except PadiffError as error:
        report.notes.append(f"could not confirm with single-step isolation: {str(error).splitlines()[0]}")
        return None
    confirmed = _report(base_side, raw_side, results, notes, diff_phase)
    where = f"'{first.raw_path or '(root)'}' ({first.phase.value})"
    if not _reproduced(first, confirmed):
        report.notes.insert(
            0,
            f"the difference at {where} did not come back when the models ran again: their results depend "
            "on more than their inputs (state kept between calls, randomness); not confirmed layer by layer",
        )
        return None
    if confirmed.passed:
        confirmed.notes.insert(
            0,
            f"accumulated rounding crossed the tolerance at {where}, but every layer agrees given the same "
            "inputs (single-step isolation): the difference is float noise the model amplifies, not a bug",
        )
    else:
        confirmed.notes.insert(
            0, f"first seen at {where}; confirmed layer by layer with single-step isolation"
        )
    return confirmed, results


def _reproduced(first: Culprit, confirmed: Report) -> bool:
    """Whether the failing check fails again (accumulated error) in the confirmation run."""
    evidence = first.evidence
    for diff in confirmed.diffs:
        same = (diff.phase, diff.where, diff.base_path, diff.raw_path, diff.call, diff.leaf) == (
            evidence.phase,
            evidence.where,
            evidence.base_path,
            evidence.raw_path,
            evidence.call,
            evidence.leaf,
        )
        if same:
            return not diff.diff.passed
    return True


def narrow_to_op(culprit: Culprit, base_side, raw_side, results, tolerances, notes: list[str]) -> Culprit:
    """A forward culprit in a user layer's own code, narrowed to the op (see `api`); else unchanged."""
    if culprit.phase is not Phase.FORWARD or culprit.step != 0:
        return culprit
    base_node = next((n for n in results[0].base_nodes if n.path == culprit.base_path), None)
    if base_node is None or base_node.builtin:
        return culprit
    saved = ModelState(base_side.adapter, base_side.model), ModelState(raw_side.adapter, raw_side.model)
    try:
        base_call, raw_call, _ = prepare_inputs(
            results[0].calls, (base_side.adapter, base_side.model), (raw_side.adapter, raw_side.model)
        )
        base_ops = record_ops(base_side, base_call, culprit.base_path, culprit.base_call)
        raw_ops = record_ops(raw_side, raw_call, culprit.raw_path, culprit.raw_call)
    except PadiffError as error:
        notes.append(f"could not narrow the culprit to an op: {str(error).splitlines()[0]}")
        return culprit
    finally:
        for state in saved:
            state.restore()
    found = first_divergent_op(base_ops, raw_ops, tolerances.atol, tolerances.rtol)
    if found is None:
        return culprit
    raw_op, base_op = found
    where = f"'{raw_op.name}' at {raw_op.site}"
    if base_op is not None:
        where += f" (closest base op: '{base_op.name}' at {base_op.site})"
    return replace(
        culprit,
        kind="api",
        reason=f"{culprit.reason}; the first op of its own code that differs is {where}",
        base_site=base_op.site if base_op else culprit.base_site,
        raw_site=raw_op.site,
    )


def _run_steps(base_side, raw_side, batches, state_pairs, path_pairs, tolerances, single_step, notes):
    saved: list[Any] = [
        ModelState(base_side.adapter, base_side.model),
        ModelState(raw_side.adapter, raw_side.model),
    ]
    for side in (base_side, raw_side):
        if side.optimizer is not None:
            user_optimizer = None if side.optimizer_made else side.optimizer
            saved.append(TrainingState(side.adapter, side.model, user_optimizer))
    results = []
    try:
        for step, batch in enumerate(batches):
            base_call, raw_call, input_notes = prepare_inputs(
                batch, (base_side.adapter, base_side.model), (raw_side.adapter, raw_side.model)
            )
            notes.extend(n for n in input_notes if n not in notes)
            result = _run_step(
                step,
                base_side,
                raw_side,
                base_call,
                raw_call,
                state_pairs,
                path_pairs,
                tolerances,
                single_step,
            )
            del base_call, raw_call  # the inputs could keep paddle's graph alive past the step
            result.calls = batch
            if base_side.optimizer is not None:
                result.updates = _step_optimizers(step, base_side, raw_side, state_pairs, tolerances)
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
    step, base_side, raw_side, base_call, raw_call, state_pairs, path_pairs, tolerances, isolate=False
) -> _Step:
    """Base runs under capture, raw runs compared against it; with `isolate` (single_step) raw runs a
    second time on base's inputs and incoming gradients, and each pair gets its local error too."""
    trace = BaseTrace(base_side.adapter)
    try:
        base_state = _capture(base_side, base_call, trace)
        trace.finish()
        base_grads = base_param_arrays(base_side.adapter, state_pairs, grads=True)
        aligner = Aligner(trace.nodes, path_pairs)
        comparer = RawComparer(raw_side.adapter, trace, aligner, tolerances, step, keep_base=isolate)
        raw_state = _capture(raw_side, raw_call, comparer)
        comparer.finish()
        raw_grads = raw_param_arrays(raw_side.adapter, state_pairs, grads=True)
        if isolate:
            raw_side.adapter.take_grads([pair.raw_tensor for pair in state_pairs])
            isolated = IsolatedComparer(
                raw_side.adapter, trace, Aligner(trace.nodes, path_pairs), tolerances, step
            )
            _capture(raw_side, raw_call, isolated)
            isolated.finish()
    finally:
        trace.close()

    def param_grads(raw_arrays) -> list[LayerDiff]:
        return compare_param_arrays(
            state_pairs,
            base_grads,
            raw_arrays,
            tolerances,
            Phase.GRAD,
            step,
            loss_grad_scale=trace.loss_grad_scale,
        )

    result = _Step(comparer.forward, comparer.backward, base_nodes=trace.nodes, raw_nodes=aligner.raw_nodes)
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


def _capture(side: _Side, call: tuple[tuple, dict], sink: Any) -> RunState:
    args, kwargs = call
    return capture_run(side.adapter, side.model, args, kwargs, sink, side.policy, side.loss, side.role)


def _step_optimizers(
    step: int, base_side: _Side, raw_side: _Side, state_pairs, tolerances
) -> list[LayerDiff]:
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
        trainable, base_update, raw_update, tolerances, Phase.WEIGHT, step, base_before
    )


def _pairs_or_note(base_adapter, base, raw_adapter, raw, layer_map, notes: list[str]) -> list[StatePair]:
    try:
        return plan_state_pairs(base_adapter, base, raw_adapter, raw, layer_map)[0]
    except PadiffError as error:
        notes.append(f"parameter gradients not compared: {str(error).splitlines()[0]}")
        return []


def _report(
    base_side: _Side, raw_side: _Side, results: list[_Step], notes: list[str], diff_phase: str
) -> Report:
    diffs: list[LayerDiff] = []
    culprit: Culprit | None = None
    for result in results:
        notes.extend(n for n in result.notes if n not in notes)
        forward = result.forward if diff_phase in ("both", "forward") else []
        backward = result.backward if diff_phase in ("both", "backward") else []
        grads = result.grads if diff_phase in ("both", "backward") else []
        diffs += forward + backward + grads + result.updates
        base_nodes = {n.id: n for n in result.base_nodes}
        excused = regrouped(forward + backward, base_nodes, result.raw_nodes)
        if excused:
            shown = sorted({f"{d.base_path} / {d.raw_path}" for d in excused})
            more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
            note = (
                "layers whose outputs differ in shape while their parents agree (the ports draw the layer "
                f"boundary elsewhere), not blamed: {', '.join(shown[:4])}{more}"
            )
            if note not in notes:
                notes.append(note)
        skip = frozenset((d.where, d.base_id, d.raw_id, d.leaf) for d in excused)
        failure = first_failure(forward, backward, grads, result.updates, skip=skip)
        if culprit is None and failure is not None:
            base_node, raw_node = base_nodes.get(failure.base_id), result.raw_nodes.get(failure.raw_id)
            culprit = find_culprit(failure, base_node, raw_node, base_nodes, result.raw_nodes)
    base_tree = tree_lines(base_side.adapter, base_side.model)
    raw_tree = tree_lines(raw_side.adapter, raw_side.model)
    if culprit is not None and not culprit.base_type:  # a parameter's culprit: name its layer's classes
        base_classes = {line.path: line.cls for line in base_tree}
        raw_classes = {line.path: line.cls for line in raw_tree}
        culprit = replace(
            culprit,
            base_type=base_classes.get(culprit.base_path, ""),
            raw_type=raw_classes.get(culprit.raw_path, ""),
        )
    return Report(
        passed=culprit is None,
        first_diff=culprit,
        diffs=diffs,
        base_framework=base_side.adapter.name,
        raw_framework=raw_side.adapter.name,
        base_tree=base_tree,
        raw_tree=raw_tree,
        notes=notes,
    )


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
        shown = ", ".join(f"{n.path or '(root)'} ({n.cls})" for n in through[:8])
        more = f" and {len(through) - 8} more" if len(through) > 8 else ""
        notes.append(
            f"raw layers with no counterpart of their own, looked through (sublayers paired): {shown}{more}"
        )
    for role, nodes in (("base", aligner.unmatched_base()), ("raw", aligner.unmatched_raw())):
        if nodes:
            shown = ", ".join(f"{n.path or '(root)'} ({n.cls})" for n in nodes[:8])
            more = f" and {len(nodes) - 8} more" if len(nodes) > 8 else ""
            notes.append(f"{role} layers without counterpart, not compared: {shown}{more}")
    return notes
