"""The page's model trees and its table of pairs, as HTML that needs no script.

Trees fold with `<details>`: each layer shows its class and its worst error over the checks that judge it
(its outputs, the gradients it sends back, its parameters' gradients and updates, its buffers; base paths
in base's tree, raw paths in raw's). What a layer takes in only places the culprit (`localize.culprit`),
so an input check counts for no layer, except the culprit's evidence, which counts for the culprit. The
culprit is marked, and a folded layer holding a difference says so. Small models open whole; past `OPEN_ALL` layers only the root and
the layers holding a difference or the culprit are open. The table's rows are filtered by radio buttons
placed before it (CSS `:checked ~`): every pair, the failing ones, or those and the pairs the float64 judge
excused.
"""

from __future__ import annotations

import math
from html import escape

from ..judge.records import LayerDiff
from ..localize.culprit import INCOMING, Culprit
from .measure import Status, ratio_text, status, tolerance_ratio
from .tree import TreeLine, parents
from .words import evidence, judged_text, worst

__all__ = ["OPEN_ALL", "render_tree", "render_table"]

OPEN_ALL = 80  # trees with at most this many layers open whole


def _worst_by_path(
    diffs: list[LayerDiff], side: str, culprit: Culprit | None
) -> dict[str, tuple[float, Status]]:
    """Per layer path, its largest error over tolerance and its worst status (a difference first)."""
    rank = {Status.OK: 0, Status.EXCUSED: 1, Status.DIFF: 2}
    found: dict[str, tuple[float, Status]] = {}
    for d in diffs:
        path = d.base_path if side == "base" else d.raw_path
        if culprit is not None and d.key == culprit.evidence.key:
            path = culprit.base_path if side == "base" else culprit.raw_path
        elif d.where in INCOMING:
            continue
        ratio, state = tolerance_ratio(d), status(d)
        old_ratio, old_state = found.get(path, (math.nan, Status.OK))
        ratio = (
            ratio if math.isnan(old_ratio) else (old_ratio if math.isnan(ratio) else max(ratio, old_ratio))
        )
        found[path] = (ratio, state if rank[state] > rank[old_state] else old_state)
    return found


def render_tree(lines: list[TreeLine], diffs: list[LayerDiff], side: str, found: Culprit | None) -> str:
    """One model's tree; `side` is "base" or "raw"."""
    if not lines:
        return '<p class="empty">no layers</p>'
    worst_of = _worst_by_path(diffs, side, found)
    culprit = None if found is None else (found.base_path if side == "base" else found.raw_path)
    up = parents(lines)
    children: list[list[int]] = [[] for _ in lines]
    holds_diff = [worst_of.get(line.path, (0.0, Status.OK))[1] is Status.DIFF for line in lines]
    holds_culprit = [line.path == culprit for line in lines]
    for i, parent in enumerate(up):
        if parent >= 0:
            children[parent].append(i)
    for i in reversed(range(len(lines))):  # children come after their parent: fold upwards
        if up[i] >= 0:
            holds_diff[up[i]] |= holds_diff[i]
            holds_culprit[up[i]] |= holds_culprit[i]
    open_all = len(lines) <= OPEN_ALL

    def node(i: int) -> str:
        line = lines[i]
        name = line.path.rsplit(".", 1)[-1] if line.path else "(root)"
        ratio, state = worst_of.get(line.path, (math.nan, None))
        err = (
            '<span class="err none">not compared</span>'
            if state is None
            else f'<span class="err {state.value}">{ratio_text(ratio)}</span>'
        )
        here = line.path == culprit
        label = (
            f'<span class="name">{escape(name)}</span> <span class="cls">{escape(line.cls)}</span> {err}'
            + (' <span class="here">&#9664; culprit</span>' if here else "")
        )
        css = "layer" + (" culprit-layer" if here else "") + (" holds-diff" if holds_diff[i] else "")
        worst_seen = "" if state is None else f' data-worst="{ratio_text(ratio)}" data-status="{state.value}"'
        attrs = f'class="{css}" data-path="{escape(line.path)}"{worst_seen}'
        if not children[i]:
            return f"<div {attrs}>{label}</div>"
        opened = open_all or i == 0 or holds_diff[i] or holds_culprit[i]
        inner = "".join(node(child) for child in children[i])
        return f"<details {attrs}{' open' if opened else ''}><summary>{label}</summary>{inner}</details>"

    return "".join(node(i) for i, parent in enumerate(up) if parent < 0)


_HEAD = (
    "#",
    "phase",
    "step",
    "where",
    "base path",
    "base class",
    "raw path",
    "raw class",
    "leaf",
    "paired by",
    "verdict",
    "error / tol",
    "max abs",
    "max rel",
    "local max rel",
    "cosine",
    "worst element",
    "note",
)
_VERDICT = {Status.OK: "ok", Status.DIFF: "DIFF", Status.EXCUSED: "rounding"}


def _row(i: int, d: LayerDiff, culprit: bool) -> str:
    state = status(d)
    judge = judged_text(d)
    verdict = f'<td class="verdict" title="{escape(judge)}">' if judge else '<td class="verdict">'
    cells = [
        str(i + 1),
        d.phase.value,
        str(d.step),
        d.where,
        escape(d.base_path or "(root)"),
        escape(d.base_type),
        escape(d.raw_path or "(root)"),
        escape(d.raw_type),
        escape(d.leaf),
        escape(d.paired_by),
    ]
    numbers = [
        ratio_text(tolerance_ratio(d)),
        f"{d.diff.max_abs:.3g}",
        f"{d.diff.max_rel:.3g}",
        "" if d.local is None else f"{d.local.max_rel:.3g}",
        f"{d.diff.cosine:.6f}",
    ]
    place = worst(d.diff).removeprefix("worst element ")
    css = "culprit" if culprit else state.value
    return (
        f'<tr class="{css}" id="pair-{i}" title="{escape(evidence(d))}">'
        + "".join(f"<td>{c}</td>" for c in cells)
        + f"{verdict}{_VERDICT[state]}</td>"
        + "".join(f'<td class="num">{n}</td>' for n in numbers)
        + f'<td class="worst">{escape(place)}</td><td>{escape(d.diff.note)}</td></tr>'
    )


def render_table(diffs: list[LayerDiff], culprit_key: tuple | None) -> str:
    """The filter and the table of every pair; the culprit's row is found by its key (never its NaN metrics)."""
    failing = sum(not d.passed for d in diffs)
    judged = sum(status(d) is Status.EXCUSED for d in diffs)
    choices = [
        ("rows-all", f"every pair ({len(diffs)})", True),
        ("rows-failing", f"failing only ({failing})", False),
        ("rows-judged", f"failing and excused as rounding ({failing + judged})", False),
    ]
    radios = "".join(  # siblings of the table, which the CSS hides rows of when checked
        f'<input type="radio" name="rows" id="{key}"{" checked" if checked else ""}>'
        f'<label for="{key}">{label}</label>\n'
        for key, label, checked in choices
    )
    head = "".join(f"<th>{h}</th>" for h in _HEAD)
    rows = "\n".join(
        _row(i, d, culprit_key is not None and d.key == culprit_key) for i, d in enumerate(diffs)
    )
    return (
        f'<span class="filter">Show:</span>\n{radios}'
        f'<div class="scroll"><table class="pairs"><thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n'
        "</tbody></table></div>"
    )
