"""Which failing pairs the float64 judge looks at, and what it concludes (the rule is in `rounding`).

Only a run with single-step isolation is judged: there each raw layer was fed base's inputs, so raw's
value is its *local* one. Every failing floating-point pair whose unit can be run alone is judged, in
the verdict's order, up to `CAP` per step (the rest are listed as unjudged): a layer's output (its
forward), the gradient it sends back (its backward), a parameter's gradient (the layer's backward over
every call of it). A failing input of a layer is its parent's own code: the parent's output decides.
A pair the judge excuses passes (its `judged` says why); one it cannot judge keeps its verdict. Where raw
fuses an activation into a layer, that layer's unit on base's side spans the layer and the activation
(`units.Span`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from ..frameworks.base import Adapter
from ..match.fused_calls import FusedCall
from ..weights.pairs import StatePair
from .decide import AUTOCAST, CAST, ROUNDED, decide, judge_notes, unusable, why_not
from .isolated import IsolatedComparer
from .joined import judge_fused, judge_sent_back
from .records import LayerDiff, Where
from .rounding import Judgement, not_judged, roundoff
from .tolerance import DEFAULT_RTOL
from .trace import Trace
from .units import Span, UnitRun, run_unit

__all__ = ["CAP", "Referee"]

CAP = 32  # pairs judged per step at most

RawArrays = dict[tuple, np.ndarray]  # (where, base_id, raw_id, leaf) -> raw's local value


class Referee:
    """Judges one isolated step's failing pairs with base's model and recorded trace."""

    def __init__(
        self,
        adapter: Adapter,
        model: Any,
        trace: Trace,
        pairs: list[StatePair],
        spans: Mapping[int, tuple[str, int, int]] | None = None,
        fused: Mapping[int, FusedCall] | None = None,
        autocast: str | None = None,
        unfed: Mapping[int, str] | None = None,
    ):
        self.adapter, self.trace, self.pairs = adapter, trace, pairs
        self.autocast = autocast  # base ran under autocast to this dtype: its units run again under it
        self.unfed = unfed or {}  # raw call id -> what isolation could not feed it (`IsolatedComparer`)
        self.model_dtype = adapter.model_float_dtype(model)
        self.fused = fused or {}  # raw id -> the call of a layer one side fuses (`match.fused_calls`)
        self.spans: dict[int, Span] = {}  # base id -> the unit extended by the activation raw fuses
        self.missing: dict[int, str] = {}  # base id -> an activation base's framework does not have
        for node_id, (name, next_id, index) in (spans or {}).items():
            activation = adapter.activation(name)
            if activation is None:
                self.missing[node_id] = name
            else:
                self.spans[node_id] = Span(activation, next_id, index)
        self.layers: dict[str, Any] = {}
        for path, layer in adapter.named_sublayers(model):
            self.layers.setdefault(path, layer)
        self._runs: dict[tuple[int, str], UnitRun] = {}

    @classmethod
    def for_isolated(
        cls, adapter: Adapter, model: Any, trace: Trace, pairs: list[StatePair], isolated: IsolatedComparer
    ) -> Referee:
        """The referee of one isolated step: base's side, and what raw's isolated run says of its calls."""
        fused = isolated.aligner.fused.calls
        return cls(adapter, model, trace, pairs, isolated.spans, fused, isolated.autocast[0], isolated.unfed)

    def judge(
        self,
        diffs: list[LayerDiff],
        raw: RawArrays,
        raw_params: dict[int, np.ndarray],
        settled: Callable[[list[LayerDiff]], bool] | None = None,
    ) -> tuple[list[LayerDiff], list[str]]:
        """`diffs` with each judged pair's `judged` filled in, and what to tell the user. Pairs come in the
        order the verdict reads them: once a pair that decides (an output, a gradient sent back, a
        parameter gradient) stays failing, or `settled` says the pairs judged so far fail the verdict
        (asked as each phase begins), later pairs are left as they are: judging them would cost unit
        runs and change nothing."""
        out: list[LayerDiff] = []
        excused: list[tuple[LayerDiff, Judgement]] = []
        unjudged: list[tuple[LayerDiff, Judgement]] = []
        skipped = after = 0
        decided, phase = False, None
        for d in diffs:
            if d.phase is not phase:
                phase = d.phase
                decided = decided or bool(out and settled is not None and settled(out))
            judgeable = (
                d.diff.dtype in DEFAULT_RTOL and d.where in _UNITS and "shape mismatch" not in d.diff.note
            )
            if d.passed or d.local is None or not judgeable:  # a shape difference is no rounding
                out.append(d)
                continue
            if decided or len(excused) + len(unjudged) >= CAP:
                after += decided
                skipped += not decided
                out.append(d)
                continue
            try:
                judgement = self._judge_one(d, raw, raw_params)
            except Exception as error:  # the verdict stands: a pair the judge could not re-run
                judgement = not_judged(f"the judge failed: {type(error).__name__}: {error}")
            if judgement.excused is False and d.raw_id in self.unfed and d.where is not Where.PARAM:
                # raw's value is not its own error: close to float64 anyway it agrees, far says nothing
                what = self.unfed[d.raw_id]
                judgement = not_judged(
                    f"raw's layer was not fed {what} in isolation: its value is not its own"
                )
            out.append(replace(d, judged=judgement))
            (excused if judgement.excused else unjudged).append((d, judgement))
            decided = not judgement.excused and d.where in _DECIDING
        return out, judge_notes(excused, unjudged, skipped, after, CAP)

    def _judge_one(self, d: LayerDiff, raw: RawArrays, raw_params: dict[int, np.ndarray]) -> Judgement:
        lower = d.diff.dtype
        if d.where is Where.PARAM:
            return self._judge_param(d, raw_params, lower)
        raw_value = raw.get((d.where, d.base_id, d.raw_id, d.leaf))
        if raw_value is None:
            return not_judged("raw's local value was not kept")
        if d.where is Where.GRAD_OUT:
            return judge_sent_back(self, d, raw_value, lower)
        if d.raw_id in self.fused:
            return judge_fused(self, d, raw_value, lower, self.fused[d.raw_id])
        node = self.trace.tree[d.base_id]
        layer = self.layers.get(node.path)
        if layer is None:
            return not_judged(f"base has no layer at '{node.path}'")
        backward = d.where is Where.GRAD_IN
        if d.base_id in self.missing:
            name = self.missing[d.base_id]
            return not_judged(f"{self.adapter.name} has no '{name}' activation to follow '{node.path}' with")
        index, base_value = self._base_value(d)
        if base_value is None:
            return not_judged("base's value was not kept")

        def pick(run: UnitRun) -> np.ndarray | None:
            return (run.input_grads if backward else run.outputs).get(index)

        base = self.trace.array(base_value)
        return self._compare(node.id, backward, lower, base_value.dtype, base, raw_value, pick)

    def _base_value(self, d: LayerDiff) -> tuple[int, Any]:
        if d.where is Where.GRAD_IN:
            index = int(d.leaf.split("[")[1].rstrip("]"))
            return index, self.trace.tensor(Where.GRAD_IN, d.base_id, index)
        span = self.spans.get(d.base_id)
        if span is not None:  # raw's fused output was compared with what base's next layer took in
            return 0, self.trace.tensor(Where.INPUT, span.node_id, span.index)
        for index in range(self.trace.output_count(d.base_id)):
            stored = self.trace.tensor(Where.OUTPUT, d.base_id, index)
            if stored is not None and stored.key == d.leaf:
                return index, stored
        return -1, None

    def _compare(
        self,
        node_id: int,
        backward: bool,
        lower: str,
        base_dtype: str,
        base_value: np.ndarray,
        raw_value: np.ndarray,
        pick: Callable[[UnitRun], np.ndarray | None],
    ) -> Judgement:
        def values(dtype: str) -> np.ndarray | Judgement:
            run = self.usable_run(node_id, dtype, lower, backward)
            if isinstance(run, Judgement):
                return run
            value = pick(run)
            return not_judged("the re-run did not produce this value") if value is None else value

        return decide(values, base_value, raw_value, lower, base_dtype, self.autocast)

    def _judge_param(self, d: LayerDiff, raw_params: dict[int, np.ndarray], lower: str) -> Judgement:
        pair = next((p for p in self.pairs if p.base_path == d.base_path and _leaf(p) == d.leaf), None)
        if pair is None or id(pair.raw_tensor) not in raw_params:
            return not_judged("raw's local gradient was not kept")
        calls = [n for n in self.trace.tree if n.path == pair.base_path and not n.transparent]
        if not calls:
            return not_judged(f"'{pair.base_path}' was not called")
        grads = self.trace.param_grads()
        if any(key not in grads for key in pair.base_keys):
            return not_judged("base's gradient was not kept")
        base_value = pair.convert([grads[key] for key in pair.base_keys])
        names = [key[len(pair.base_path) + 1 :] if pair.base_path else key for key in pair.base_keys]

        def summed(dtype: str) -> np.ndarray | Judgement:  # the gradient over every call of the layer
            total: dict[str, np.ndarray] = {}
            for node in calls:
                run = self.usable_run(node.id, dtype, lower, True)
                if isinstance(run, Judgement):
                    return run
                for name, value in run.param_grads.items():
                    total[name] = total[name] + value if name in total else value
            if any(name not in total for name in names):
                return not_judged("the re-run gave no gradient for this parameter")
            return pair.convert([total[name] for name in names])

        base_dtype = self.adapter.dtype_name(pair.base_tensors[0])
        return decide(summed, base_value, raw_params[id(pair.raw_tensor)], lower, base_dtype, self.autocast)

    def usable_run(
        self, node_id: int, dtype: str, lower: str, backward: bool, children: tuple[tuple[str, int], ...] = ()
    ) -> UnitRun | Judgement:
        """The unit's run in `dtype`, or why it cannot stand for the unit (`decide.unusable`)."""
        run = self._run(node_id, dtype, backward, children)
        if dtype.startswith(AUTOCAST):  # base's own mixed dtypes: reproducing base's value decides
            return why_not(run, dtype) if run.failed else run
        return why_not(run, dtype) if unusable(run, lower) else run

    def _run(
        self, node_id: int, dtype: str, backward: bool, children: tuple[tuple[str, int], ...] = ()
    ) -> UnitRun:
        """The unit in `dtype`; `ROUNDED + lower` is float64 on values rounded once more in `lower`;
        `CAST + lower` is float64 on values rounded to `lower` (for a dtype base's framework cannot run);
        `AUTOCAST + low` is base's model dtype under autocast to `low`."""
        key = (node_id, f"{dtype}:{backward}:{children}")
        if key not in self._runs:
            layer = self.layers[self.trace.tree[node_id].path]
            unit_dtype, perturb, round_to, autocast = dtype, 0.0, None, None
            if dtype.startswith(AUTOCAST):
                unit_dtype, autocast = self.model_dtype, dtype[len(AUTOCAST) :]
            elif dtype.startswith(ROUNDED):
                unit_dtype, perturb = "float64", roundoff(dtype[len(ROUNDED) :])
            elif dtype.startswith(CAST):
                unit_dtype, round_to = "float64", dtype[len(CAST) :]
            self._runs[key] = run_unit(
                self.adapter,
                layer,
                self.trace,
                node_id,
                unit_dtype,
                backward,
                perturb,
                self.spans.get(node_id),
                round_to,
                children,
                autocast,
            )
        return self._runs[key]


_UNITS = (Where.OUTPUT, Where.GRAD_IN, Where.GRAD_OUT, Where.PARAM)
_DECIDING = (Where.OUTPUT, Where.GRAD_IN, Where.PARAM)  # a gradient arriving may be harmless: not these


def _leaf(pair: StatePair) -> str:
    return f"{pair.base_name} <-> {pair.raw_name}"
