"""padiff.compare: from two models and one input to a Report, through one `Comparison`.

A Comparison holds both sides, the weight plan (which raw state is made from which base state), the
layer pairs LayerMap fixes and the options. `run` runs the steps, judges them, confirms a failure with
single-step isolation, narrows an own-code culprit to one op, and only then builds the Report, once.
Everything padiff changes in the models is put back by the steps themselves, whatever happens.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .capture.heap import frozen_heap
from .capture.restore import ModelState, Placement, TrainingState
from .errors import PadiffError, WeightTransferError
from .explain import called_pairs, explained, explained_transfer_error, optimizer_diffs
from .frameworks.base import Adapter, adapter_for
from .judge.buffers import BufferJudge
from .judge.records import LayerDiff
from .judge.settings import layer_settings_diff, settings_notes
from .judge.spill import default_memory_budget
from .judge.tolerance import Bound
from .localize.confirm import (
    confirmed_notes,
    not_confirmed_note,
    not_reproduced_note,
    reproduced,
    worth_confirming,
)
from .localize.ops import narrow_to_op
from .localize.verdict import Verdict, judge_steps
from .match.layermap import LayerMap, ResolvedMap
from .options import (
    Options,
    Side,
    autocast_pair,
    check_steps,
    device_pair,
    layer_map_of,
    make_sides,
    step_inputs,
)
from .report import Report
from .report.build import build_report
from .steps import CallsChanged, StepResult, run_steps
from .weights.coverage import unpaired_notes
from .weights.orientation import fitted_notes
from .weights.pairs import StatePair
from .weights.plan import plan_state_pairs, transfer_weights

__all__ = ["compare", "Comparison"]


class Comparison:
    """One comparison of a base model and a raw model; see the module docstring."""

    def __init__(
        self,
        base: Side,
        raw: Side,
        state_pairs: list[StatePair],
        path_pairs: dict[str, str],
        options: Options,
        notes: list[str],
    ):
        self.base, self.raw = base, raw
        self.state_pairs = state_pairs  # every paired weight, in base's definition order
        self.path_pairs = path_pairs  # {raw path: base path} fixed by LayerMap.map
        self.options = options
        # bytes of base's trace kept in memory in each step; the default is read once, as the run starts
        budget = options.memory_budget
        self.memory_budget = default_memory_budget() if budget is None else budget
        self.notes = notes  # what padiff says about the setup, before anything runs
        # paired buffers, each step
        self.buffers = BufferJudge(base.inputs(), raw.inputs(), state_pairs, (base.autocast, raw.autocast))

    @classmethod
    def prepare(
        cls,
        base: tuple[Adapter, Any],
        raw: tuple[Adapter, Any],
        *,
        init_weights: bool,
        loss_fn: Any,
        optimizers: Any,
        layer_map: LayerMap,
        options: Options,
        notes: list[str],
        autocast: tuple[str | None, str | None] = (None, None),
    ) -> Comparison:
        """Both sides, and base's weights copied into raw (or, without init_weights, only paired)."""
        resolved = layer_map.resolve(*base, *raw)
        base_side, raw_side = make_sides(base, raw, loss_fn, optimizers, resolved, autocast)
        notes = list(notes) + _autocast_notes(base_side, raw_side)
        if init_weights:
            try:
                state_pairs = transfer_weights(*base, *raw, layer_map, resolved)
            except WeightTransferError as error:
                explained_error = explained_transfer_error(error, base, raw)
                if explained_error is error:
                    raise
                raise explained_error from error
        else:
            state_pairs = _pairs_or_note(base, raw, layer_map, resolved, notes)
        notes.extend(
            unpaired_notes(raw_side.adapter, raw_side.model, state_pairs, raw_side.policy.transparent)
        )
        notes.extend(fitted_notes(state_pairs))
        return cls(base_side, raw_side, state_pairs, resolved.path_pairs, options, notes)

    def run_steps(
        self,
        batches: list[Any],
        isolate: bool,
        notes: list[str],
        natural: StepResult | None = None,
        evidence: LayerDiff | None = None,
    ) -> list[StepResult]:
        return run_steps(self, batches, isolate, notes, natural, evidence)

    def run(self, batches: list[Any]) -> Report:
        options = self.options
        notes = list(self.notes)
        optimizer_settings = optimizer_diffs(self.base, self.raw)
        results = self.run_steps(batches, options.single_step, notes)
        layer_settings = layer_settings_diff(called_pairs(results[0]), self.base.inputs(), self.raw.inputs())
        notes.extend(settings_notes(layer_settings, optimizer_settings))
        verdict = judge_steps(results, options.diff_phase, notes, isolated=options.single_step)
        if options.confirm and worth_confirming(verdict.culprit, options.single_step):
            verdict, results = self.confirm(batches, verdict, results)
        if options.api_level and verdict.culprit is not None:
            verdict = self.narrow(verdict, results[0])
        return build_report(explained(verdict, layer_settings, optimizer_settings), self.base, self.raw)

    def confirm(
        self, batches: list[Any], verdict: Verdict, results: list[StepResult]
    ) -> tuple[Verdict, list[StepResult]]:
        """The verdict after a second run with single-step isolation (see `localize.confirm`)."""
        first = verdict.culprit
        assert first is not None  # only failures are confirmed
        notes = list(verdict.notes)
        # one step without optimizers: raw's natural pass is the first run's, not run again (a second
        # natural pass runs only where confirmation would clear the failure, to see it come back)
        natural = results[0] if len(batches) == 1 and self.base.optimizer is None else None
        try:
            try:
                confirmed_results = self.run_steps(batches, True, notes, natural, first.evidence)
            except CallsChanged:
                confirmed_results = self.run_steps(batches, True, notes)
        except PadiffError as error:
            return replace(verdict, notes=[*verdict.notes, not_confirmed_note(error)]), results
        confirmed = judge_steps(confirmed_results, self.options.diff_phase, notes, isolated=True)
        rerun = [
            d
            for r in confirmed_results
            for d in (r.forward + r.backward + r.grads if r.rerun is None else r.rerun)
        ]
        if not reproduced(first, rerun, stepped=self.base.optimizer is not None):
            return replace(verdict, notes=[not_reproduced_note(first), *verdict.notes]), results
        return replace(confirmed, notes=confirmed_notes(first, confirmed)), confirmed_results

    def narrow(self, verdict: Verdict, result: StepResult) -> Verdict:
        """The verdict with an own-code culprit narrowed to one op (see `localize.ops`); a culprit found
        with single-step isolation is narrowed with raw's call run on base's inputs too."""
        assert verdict.culprit is not None
        culprit, note = narrow_to_op(
            verdict.culprit, self.base, self.raw, result, self.options.tolerances, verdict.isolated
        )
        return replace(verdict, culprit=culprit, notes=verdict.notes + ([note] if note else []))


def compare(
    base: Any,
    raw: Any,
    inputs: Any = None,
    *,
    init_weights: bool = True,
    loss_fn: Any = None,
    optimizers: Any = None,
    steps: int | None = None,
    batches: list[Any] | None = None,
    atol: Bound = None,
    rtol: Bound = None,
    layer_map: LayerMap | dict | None = None,
    single_step: bool = False,
    api_level: bool = True,
    confirm: bool = True,
    compare_mode: str = "strict",
    diff_phase: str = "both",
    keep_weights: bool = False,
    memory_budget: int | None = None,
    autocast: str | tuple[str | None, str | None] | None = None,
    device: str | tuple[str | None, str | None] | None = None,
) -> Report:
    """Copy base's weights into raw, run both forward and backward (and optimizer steps), and report
    where they part ways. Both models are put back as they were afterwards, weights and buffers
    included; `keep_weights=True` leaves base's weights copied into raw. `memory_budget` (bytes; None: a
    quarter of the available RAM) bounds base's trace in memory, the rest goes to a temporary file.
    `autocast` ("bfloat16", "float16", or a pair (base's, raw's), None for a side that runs as it is) runs
    that side's forward and loss under its framework's autocast, and judges its tensors at that precision.
    `device` ("cpu", "cuda", "cuda:1", or a pair (base's, raw's), None for a side left where it is) moves a
    torch model there for the comparison and back afterwards; inputs go where each model is. See README.md for the rules and DESIGN.md for the contract."""
    base_adapter, raw_adapter = adapter_for(base, "base"), adapter_for(raw, "raw")
    options = Options.parse(
        atol=atol,
        rtol=rtol,
        compare_mode=compare_mode,
        diff_phase=diff_phase,
        single_step=single_step,
        api_level=api_level,
        confirm=confirm,
        memory_budget=memory_budget,
    )
    check_steps(steps, batches)
    autocasts, devices = autocast_pair(autocast), device_pair(device)
    sides = ((base_adapter, base, "base"), (raw_adapter, raw, "raw"))
    for (adapter, _, role), place in zip(sides, devices):
        if place is not None:
            adapter.check_device(place, role)
    notes: list[str] = []
    if single_step and (steps not in (None, 1) or optimizers is not None or batches):
        notes.append("single_step: runs one step without optimizers (steps, optimizers and batches ignored)")
        inputs = batches[0] if inputs is None and batches else inputs
        steps, optimizers, batches = None, None, None
    batches = step_inputs(inputs, steps, batches)
    saved: list[Placement | ModelState | TrainingState] = []
    try:
        _place(sides, devices, saved, notes)
        # raw's own weights and buffers, put back after the run (the copy of base's is for the run only)
        if not keep_weights:
            saved += [ModelState(raw_adapter, raw), TrainingState(raw_adapter, raw, None)]
        with frozen_heap():  # the run adds many objects: full collections skip what existed before
            comparison = Comparison.prepare(
                (base_adapter, base),
                (raw_adapter, raw),
                init_weights=init_weights,
                loss_fn=loss_fn,
                optimizers=optimizers,
                layer_map=layer_map_of(layer_map),
                options=options,
                notes=notes,
                autocast=autocasts,
            )
            comparison.notes.insert(0, _copied_note(comparison, init_weights, keep_weights))
            return comparison.run(batches)
    finally:
        for state in reversed(saved):
            state.restore()


def _place(sides: tuple, devices: tuple[str | None, str | None], saved: list, notes: list[str]) -> None:
    """Each model moved to its side's device (`compare(device=...)`), added to `saved` as soon as it moved."""
    for (adapter, model, role), place in zip(sides, devices):
        if place is not None:
            placement = Placement(adapter, model, place)
            saved.append(placement)
            notes.append(placement.note(role))


def _copied_note(comparison: Comparison, init_weights: bool, keep_weights: bool) -> str:
    """How many tensors were copied from which side into which, and whether raw keeps them."""
    base, raw = comparison.base.adapter.name, comparison.raw.adapter.name
    if not init_weights:
        return "weights: none copied (init_weights=False); each model ran with its own"
    after = "raw keeps them (keep_weights=True)" if keep_weights else "raw's own were put back afterwards"
    count = len(comparison.state_pairs)
    return f"weights: {count} tensors copied from base ({base}) into raw ({raw}) for the run; {after}"


def _autocast_notes(*sides: Side) -> list[str]:
    """A side under autocast: checked now (a framework may refuse it), and said."""
    notes = []
    for side in sides:
        if side.autocast:
            side.adapter.autocast(side.model, side.autocast)  # refused here, before anything runs
            notes.append(
                f"{side.role} ({side.adapter.name}) ran its forward under autocast to {side.autocast}: its "
                f"tensors are judged at {side.autocast} precision (the float64 judge's lower dtype)"
            )
    return notes


def _pairs_or_note(
    base: tuple[Adapter, Any],
    raw: tuple[Adapter, Any],
    layer_map: LayerMap,
    resolved: ResolvedMap,
    notes: list[str],
) -> list[StatePair]:
    try:
        return plan_state_pairs(*base, *raw, layer_map, resolved)[0]
    except PadiffError as error:
        notes.append(f"parameter gradients not compared: {str(error).splitlines()[0]}")
        return []
