"""Plain-text rendering of a Report (what a person reads in a terminal and in diff_log/)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..judge.metrics import TensorDiff
from ..judge.records import LayerDiff
from ..judge.rounding import K
from .tree import format_tree

if TYPE_CHECKING:
    from . import Report

__all__ = ["render_summary", "render_trees", "render_table"]

HERE = "<--- HERE"


def _short(site: str) -> str:
    return site or "?"


_WHERE = {
    "input": "input",
    "output": "output",
    "grad_out": "gradient arriving at the output",
    "grad_in": "gradient sent to the input",
    "param": "gradient of",
    "update": "optimizer update of",
    "buffer": "buffer",
}


def _evidence(d: LayerDiff) -> str:
    what = _WHERE.get(d.where, d.where)
    if d.where in ("param", "update", "buffer"):
        return f"{what} '{d.raw_path}' {d.leaf}"
    leaf = "" if d.leaf in ("out", "arg0", f"{d.where}[0]") else f" {d.leaf}"
    call = f" (call {d.call + 1})" if d.call else ""
    return f"{what}{leaf} of '{d.raw_path or '(root)'}'{call}"


def _percent(fraction: float) -> str:
    """Rounded down, so a tensor with one element out of tolerance never reads 100.0%."""
    return f"{math.floor(fraction * 1000) / 10:.1f}%"


def _local_line(d: LayerDiff) -> list[str]:
    if d.local is None:
        return []
    return [
        f"  single_step: local max rel {d.local.max_rel:.3g} (this layer alone), accumulated {d.diff.max_rel:.3g}"
    ]


def _judged_line(d: LayerDiff) -> list[str]:
    """What the float64 judge found for the culprit (module `judge.rounding`), when it looked at it."""
    j = d.judged
    if j is None:
        return []
    if j.excused is None:
        return [f"  float64 judge: not judged ({j.reason})"]
    times = "over a million times" if j.worst_ratio > 1e6 else f"{j.worst_ratio:.3g}x"
    return [
        f"  float64 judge: error against float64 raw {j.raw_error:.3g}, base {j.base_error:.3g}; "
        f"raw is {times} what rounding allows (K={K:g} x base's error + 1 ulp)"
    ]


def _worst(m: TensorDiff) -> str:
    """Where the largest difference is, and both values there ('' when it has no place in base's layout)."""
    if math.isnan(m.worst_base) and math.isnan(m.worst_raw):
        return ""
    where = f"[{', '.join(map(str, m.worst_index))}]" if m.worst_index else "(the one element)"
    return f"worst element {where}: base {m.worst_base:.6g}  raw {m.worst_raw:.6g}"


def _closest(diffs: list[LayerDiff]) -> list[str]:
    """The pair closest to its tolerance (at its worst element), for a report that passed."""
    placed = [d for d in diffs if _worst(d.diff) and d.diff.max_abs > 0]
    if not placed:
        return []

    def used(d: LayerDiff) -> float:
        bound = d.diff.atol + d.diff.rtol * abs(d.diff.worst_base)
        return d.diff.max_abs / bound if bound > 0 else math.inf

    d = max(placed, key=used)
    return [f"  closest to tolerance: {_evidence(d)}, max abs {d.diff.max_abs:.3g}, {_worst(d.diff)}"]


def render_summary(report: Report) -> str:
    compared = len(report.diffs)
    if report.passed:
        lines = [
            f"padiff: PASSED  ({report.base_framework} base vs {report.raw_framework} raw, {compared} pairs compared)",
            *_closest(report.diffs),
        ]
    elif report.first_diff is None:
        lines = [f"padiff: FAILED  ({report.base_framework} base vs {report.raw_framework} raw)"]
    else:
        c = report.first_diff
        m = c.metrics
        lines = [
            f"padiff: FAILED  first difference in {c.phase.value} (step {c.step})",
            f"  base ({report.base_framework}): '{c.base_path or '(root)'}'  {c.base_type}  called at {_short(c.base_site)}",
            f"  raw  ({report.raw_framework}): '{c.raw_path or '(root)'}'  {c.raw_type}  called at {_short(c.raw_site)}",
            f"  why: {c.reason}",
            f"  evidence: {_evidence(c.evidence)}",
            *_local_line(c.evidence),
            *_judged_line(c.evidence),
            f"  max abs {m.max_abs:.3g}  max rel {m.max_rel:.3g}  mean abs {m.mean_abs:.3g}  cosine {m.cosine:.6f}  "
            f"within tol {_percent(m.close_frac)}  (atol {m.atol:.2g}, rtol {m.rtol:.2g}, {m.dtype})"
            + (f"  [{m.note}]" if m.note else ""),
            *([f"  {_worst(m)}"] if _worst(m) else []),
            f"  forward defined at: base {_short(c.base_defined)}",
            f"                      raw  {_short(c.raw_defined)}",
            f"  {compared} pairs compared, {sum(not d.passed for d in report.diffs)} differ",
        ]
    lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


def render_trees(report: Report, separate: bool = False) -> Any:
    c = report.first_diff
    base_marks = {c.base_path: HERE} if c else {}
    raw_marks = {c.raw_path: HERE} if c else {}
    base_text = f"base ({report.base_framework}) model:\n" + format_tree(report.base_tree, base_marks)
    raw_text = f"raw ({report.raw_framework}) model:\n" + format_tree(report.raw_tree, raw_marks)
    if separate:
        return base_text, raw_text
    return base_text + "\n" + raw_text


def render_table(diffs: list[LayerDiff]) -> str:
    """Every compared pair; single-step runs add the local max rel beside the accumulated one. `paired`
    says why the two calls were paired (`match.align.PairedBy`; "weights" for parameters)."""
    isolated = any(d.local is not None for d in diffs)
    local_head = f" {'local_rel':>10}" if isolated else ""
    header = (
        f"{'phase':8} {'step':>4} {'where':8} {'ok':3} {'paired':7} {'max_abs':>10} {'max_rel':>10}{local_head} "
        f"{'cosine':>10}  base path | raw path  (leaf)"
    )
    rows = [header]
    for d in diffs:
        local = (f" {d.local.max_rel:10.3g}" if d.local is not None else f" {'':10}") if isolated else ""
        rows.append(
            f"{d.phase.value:8} {d.step:4d} {d.where:8} {'ok' if d.passed else 'NO':3} {d.paired_by or '-':7} "
            f"{d.diff.max_abs:10.3g} "
            f"{d.diff.max_rel:10.3g}{local} {d.diff.cosine:10.6f}  {d.base_path or '(root)'} ({d.base_type}) | "
            f"{d.raw_path or '(root)'} ({d.raw_type})  {d.leaf}"
            + (f"  [{d.diff.note}]" if d.diff.note else "")
        )
    return "\n".join(rows)
