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
from ..weights.pairs import StatePair
from .records import LayerDiff, Where
from .rounding import Judgement, judge_arrays, not_judged, roundoff
from .tolerance import DEFAULT_RTOL
from .trace import Trace
from .units import Span, UnitRun, run_unit

__all__ = ["CAP", "Referee"]

CAP = 32  # pairs judged per step at most
CAST = "cast:"  # a `_run` dtype: float64 on values rounded to the dtype that follows
ROUNDED = "rounded:"  # a `_run` dtype: float64 on values rounded once more in the dtype that follows

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
    ):
        self.adapter, self.trace, self.pairs = adapter, trace, pairs
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

    def judge(
        self, diffs: list[LayerDiff], raw: RawArrays, raw_params: dict[int, np.ndarray]
    ) -> tuple[list[LayerDiff], list[str]]:
        """`diffs` with each judged pair's `judged` filled in, and what to tell the user."""
        out: list[LayerDiff] = []
        excused: list[tuple[LayerDiff, Judgement]] = []
        unjudged: list[tuple[LayerDiff, Judgement]] = []
        skipped = 0
        for d in diffs:
            judgeable = (
                d.diff.dtype in DEFAULT_RTOL and d.where in _UNITS and "shape mismatch" not in d.diff.note
            )
            if d.passed or d.local is None or not judgeable:  # a shape difference is no rounding
                out.append(d)
                continue
            if len(excused) + len(unjudged) >= CAP:
                skipped += 1
                out.append(d)
                continue
            judgement = self._judge_one(d, raw, raw_params)
            out.append(replace(d, judged=judgement))
            (excused if judgement.excused else unjudged).append((d, judgement))
        return out, _notes(excused, unjudged, skipped)

    def _judge_one(self, d: LayerDiff, raw: RawArrays, raw_params: dict[int, np.ndarray]) -> Judgement:
        lower = d.diff.dtype
        if d.where is Where.PARAM:
            return self._judge_param(d, raw_params, lower)
        raw_value = raw.get((d.where, d.base_id, d.raw_id, d.leaf))
        if raw_value is None:
            return not_judged("raw's local value was not kept")
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
            run = self._run(node_id, dtype, backward)
            if run.failed or run.cast_down:
                return _why_not(run, dtype)
            value = pick(run)
            return not_judged("the re-run did not produce this value") if value is None else value

        return _decide(values, base_value, raw_value, lower, base_dtype)

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
                run = self._run(node.id, dtype, True)
                if run.failed or run.cast_down:
                    return _why_not(run, dtype)
                for name, value in run.param_grads.items():
                    total[name] = total[name] + value if name in total else value
            if any(name not in total for name in names):
                return not_judged("the re-run gave no gradient for this parameter")
            return pair.convert([total[name] for name in names])

        base_dtype = self.adapter.dtype_name(pair.base_tensors[0])
        return _decide(summed, base_value, raw_params[id(pair.raw_tensor)], lower, base_dtype)

    def _run(self, node_id: int, dtype: str, backward: bool) -> UnitRun:
        """The unit in `dtype`; `ROUNDED + lower` is float64 on values rounded once more in `lower`;
        `CAST + lower` is float64 on values rounded to `lower` (for a dtype base's framework cannot run)."""
        key = (node_id, f"{dtype}:{backward}")
        if key not in self._runs:
            layer = self.layers[self.trace.tree[node_id].path]
            span = self.spans.get(node_id)
            if dtype.startswith(ROUNDED):
                u = roundoff(dtype[len(ROUNDED) :])
                run = run_unit(self.adapter, layer, self.trace, node_id, "float64", backward, u, span)
            elif dtype.startswith(CAST):
                lower = dtype[len(CAST) :]
                run = run_unit(
                    self.adapter, layer, self.trace, node_id, "float64", backward, span=span, round_to=lower
                )
            else:
                run = run_unit(self.adapter, layer, self.trace, node_id, dtype, backward, span=span)
            self._runs[key] = run
        return self._runs[key]


_UNITS = (Where.OUTPUT, Where.GRAD_IN, Where.PARAM)


def _decide(
    values: Callable[[str], np.ndarray | Judgement],
    base: np.ndarray,
    raw: np.ndarray,
    lower: str,
    base_dtype: str,
) -> Judgement:
    """The float64 reference, base's unit again in its own dtype (it must reproduce base's value, or the
    unit alone is not what base ran: a packed sequence read back padded, state kept between calls),
    base's unit in the lower dtype, and the float64 unit on values rounded once more in it; then the rule."""
    ref = values("float64")
    if isinstance(ref, Judgement):
        return ref
    again = values(base_dtype)
    if isinstance(again, Judgement):
        return again
    if again.shape != base.shape or not _reproduces(again, base, ref):
        return not_judged("base's unit run alone does not reproduce base's own value")
    base_low = again
    if lower != base_dtype:
        low = values(lower)
        if isinstance(low, Judgement) and low.reason.startswith(CANNOT_RUN):
            # base's framework has no kernels in the lower dtype (paddle's CPU build, for float16 and
            # bfloat16): the unit in float64 on its values rounded to that dtype stands for it
            low = values(CAST + lower)
        if isinstance(low, Judgement):
            return low
        base_low = low
    rounded = values(ROUNDED + lower)
    return judge_arrays(raw, base, ref, base_low, lower, None if isinstance(rounded, Judgement) else rounded)


def _reproduces(again: np.ndarray, base: np.ndarray, ref: np.ndarray) -> bool:
    """The re-run is at least twice as close to base as the float64 reference is (exact, usually)."""
    base64, again64 = np.ma.getdata(base).astype(np.float64), again.astype(np.float64)
    drift = float(np.abs(again64 - base64).max()) if base.size else 0.0
    return drift == 0.0 or drift <= 0.5 * float(np.abs(base64 - ref.astype(np.float64)).max())


def _leaf(pair: StatePair) -> str:
    return f"{pair.base_name} <-> {pair.raw_name}"


CANNOT_RUN = "its unit cannot run alone in"


def _why_not(run: UnitRun, dtype: str) -> Judgement:
    if run.failed:
        return not_judged(f"{CANNOT_RUN} {dtype}: {run.failed}")
    return not_judged(f"op '{run.cast_down}' inside it computes below {dtype}")


def _notes(excused: list, unjudged: list, skipped: int) -> list[str]:
    notes = []
    if excused:
        shown = ", ".join(
            f"'{d.raw_path or '(root)'}' {d.where.value} {d.leaf} (raw {j.raw_error:.2g}, base {j.base_error:.2g})"
            for d, j in excused[:6]
        )
        more = f" and {len(excused) - 6} more" if len(excused) > 6 else ""
        notes.append(
            f"judged against float64 as rounding (raw no further from the exact result than base's own error "
            f"allows): {shown}{more}"
        )
    undecided = [(d, j) for d, j in unjudged if j.excused is None]
    if undecided:
        shown = "; ".join(f"'{d.raw_path or '(root)'}' {d.where.value}: {j.reason}" for d, j in undecided[:4])
        notes.append(f"not judged against float64: {shown}")
    if skipped:
        notes.append(f"{skipped} more failing pairs were not judged against float64 (at most {CAP} per step)")
    return notes
