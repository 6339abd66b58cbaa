"""The float64 judge's units that span several calls of base: the gradient a layer's own code sends back
to a sublayer's output (read in the parent's unit), and a layer one side fuses (base's parts' units
joined, or base's fused unit cut), both in the layout `judge.fused` compares them in.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from ..match.fused_calls import FusedCall
from .decide import decide
from .fused import laid_out
from .records import LayerDiff, Where
from .rounding import Judgement, not_judged
from .units import watched_call

if TYPE_CHECKING:
    from .referee import Referee

__all__ = ["judge_sent_back", "judge_fused"]


def judge_sent_back(referee: Referee, d: LayerDiff, raw_value: np.ndarray, lower: str) -> Judgement:
    """The gradient arriving at a layer's output, which its parent's own code sent back: the unit is
    the parent's call, its backward read at that layer's output (that call of it). For a layer one
    side fuses, base's parts are read and joined, or base's fused layer read and cut (`judge.fused`)."""
    tree, fused = referee.trace.tree, referee.fused.get(d.raw_id)
    node = tree[d.base_id]
    nodes = [tree[i] for i in fused.base_ids] if fused is not None and fused.fuses else [node]
    parent = tree.solid_parent(node)
    if parent is None:
        return not_judged("the gradient at the model's own output comes from the loss")
    if any(tree.solid_parent(n) is not parent for n in nodes):
        return not_judged("the fused parts are called from different layers")
    if parent.id in referee.spans or parent.id in referee.missing or parent.path not in referee.layers:
        return not_judged(f"'{parent.path or '(root)'}' cannot be re-run alone here")
    index = int(d.leaf.split("[")[1].rstrip("]"))
    recorded = [referee.trace.tensor(Where.GRAD_OUT, n.id, index) for n in nodes]
    stored = [s for s in recorded if s is not None]
    if len(stored) < len(recorded):
        return not_judged("base's value was not kept")
    children = tuple(watched_call(tree, parent, n) for n in nodes)

    def combined(arrays: list[np.ndarray]) -> np.ndarray:
        return arrays[0] if fused is None else laid_out(fused, Where.GRAD_OUT, arrays)

    def values(dtype: str) -> np.ndarray | Judgement:
        run = referee.usable_run(parent.id, dtype, lower, True, children)
        if isinstance(run, Judgement):
            return run
        found = [run.child_grads.get((k, index)) for k in range(len(children))]
        if any(v is None or v.size != np.prod(shape) for v, shape in zip(found, shapes)):
            return not_judged("the re-run sent no gradient of that size there")
        # a view the own code reshaped in place (paddle's reshape_) is read in the recorded shape
        return combined([v.reshape(shape) for v, shape in zip(found, shapes) if v is not None])

    arrays = [referee.trace.array(s) for s in stored]
    shapes = [a.shape for a in arrays]
    return decide(values, combined(arrays), raw_value, lower, stored[0].dtype, referee.autocast)


def judge_fused(
    referee: Referee, d: LayerDiff, raw_value: np.ndarray, lower: str, fused: FusedCall
) -> Judgement:
    """A layer one side fuses, as `judge.fused` compares it. Raw fuses: its output against base's parts'
    units' outputs joined, the gradient it sends back against the sum of theirs (each part sends its
    share). Base fuses: raw's part's output against its cut of base's fused unit's output, and raw's
    parts' input gradients (summed) against the fused unit's."""
    backward = d.where is Where.GRAD_IN
    numbered = re.search(r"\[(\d+)\]$", d.leaf)
    index = int(numbered.group(1)) if numbered else 0
    where = d.where  # its output or its input gradient (the referee sends only those here)
    for base_id in fused.base_ids:
        path = referee.trace.tree[base_id].path
        if base_id in referee.spans or base_id in referee.missing or path not in referee.layers:
            return not_judged(f"'{path or '(root)'}' cannot be re-run alone here")
    recorded = [referee.trace.tensor(where, base_id, index) for base_id in fused.base_ids]
    stored = [s for s in recorded if s is not None]
    if len(stored) < len(recorded):
        return not_judged("base's value was not kept")

    def values(dtype: str) -> np.ndarray | Judgement:
        found = []
        for base_id in fused.base_ids:
            run = referee.usable_run(base_id, dtype, lower, backward)
            if isinstance(run, Judgement):
                return run
            value = (run.input_grads if backward else run.outputs).get(index)
            if value is None:
                return not_judged("the re-run did not produce this value")
            found.append(value)
        return laid_out(fused, where, found)

    base = laid_out(fused, where, [np.ma.getdata(referee.trace.array(s)) for s in stored])
    return decide(values, base, raw_value, lower, stored[0].dtype, referee.autocast)
