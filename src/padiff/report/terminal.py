"""Plain-text rendering of a Report (what a person reads in a terminal and in diff_log/).

`str(report)` stays short: on a pass the verdict, the counts, the pair closest to its tolerance and the
notes; on a failure the culprit, its evidence and both model trees around it (the culprit's ancestors
and its neighbours, marked `<--- HERE`; a tree of at most `WHOLE` lines whole). Whole trees are asked for (`report.render(trees=True)`,
`padiff show --trees`) and always written to diff_log/.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..judge.records import LayerDiff
from .tree import format_tree
from .words import closest, counts, evidence, judged_text, local_text, percent, worst

if TYPE_CHECKING:
    from . import Report

__all__ = ["HERE", "render_summary", "render_text", "render_trees", "render_table"]

HERE = "<--- HERE"
AROUND = 4  # tree lines kept on either side of the culprit in a failing report
WHOLE = 20  # trees of at most this many lines are shown whole all the same


def _short(site: str) -> str:
    return site or "?"


def render_summary(report: Report) -> str:
    if report.passed:
        lines = [
            f"padiff: PASSED  ({report.base_framework} base vs {report.raw_framework} raw)",
            f"  {counts(report.diffs)}",
            *[f"  {text}" for text in [closest(report.diffs)] if text],
        ]
    elif report.first_diff is None:
        lines = [f"padiff: FAILED  ({report.base_framework} base vs {report.raw_framework} raw)"]
        lines.append(f"  {counts(report.diffs)}")
    else:
        c = report.first_diff
        m = c.metrics
        lines = [
            f"padiff: FAILED  first difference in {c.phase.value} (step {c.step})",
            f"  base ({report.base_framework}): '{c.base_path or '(root)'}'  {c.base_type}  called at {_short(c.base_site)}",
            f"  raw  ({report.raw_framework}): '{c.raw_path or '(root)'}'  {c.raw_type}  called at {_short(c.raw_site)}",
            f"  why: {c.reason}",
            f"  evidence: {evidence(c.evidence)}",
            *[f"  {text}" for text in (local_text(c.evidence), judged_text(c.evidence)) if text],
            f"  max abs {m.max_abs:.3g}  max rel {m.max_rel:.3g}  mean abs {m.mean_abs:.3g}  cosine {m.cosine:.6f}  "
            f"within tol {percent(m.close_frac)}  (atol {m.atol:.2g}, rtol {m.rtol:.2g}, {m.dtype})"
            + (f"  [{m.note}]" if m.note else ""),
            *([f"  {worst(m)}"] if worst(m) else []),
            f"  forward defined at: base {_short(c.base_defined)}",
            f"                      raw  {_short(c.raw_defined)}",
            f"  {counts(report.diffs)}",
        ]
    lines += [f"  note: {note}" for note in report.notes]
    return "\n".join(lines)


def render_trees(report: Report, separate: bool = False, whole: bool = True) -> Any:
    """Both model trees with the culprit marked; `whole=False` keeps only the lines around it."""
    c = report.first_diff
    base_marks = {c.base_path: HERE} if c else {}
    raw_marks = {c.raw_path: HERE} if c else {}
    near = not whole and c is not None
    base_near = c.base_path if near and c and len(report.base_tree) > WHOLE else None
    raw_near = c.raw_path if near and c and len(report.raw_tree) > WHOLE else None
    base_tree = format_tree(report.base_tree, base_marks, base_near, AROUND, ancestors=True)
    raw_tree = format_tree(report.raw_tree, raw_marks, raw_near, AROUND, ancestors=True)
    base_text = f"base ({report.base_framework}) model:\n" + base_tree
    raw_text = f"raw ({report.raw_framework}) model:\n" + raw_tree
    if separate:
        return base_text, raw_text
    return base_text + "\n" + raw_text


def render_text(report: Report, trees: bool | None = None) -> str:
    """The report as `str(report)` prints it. `trees`: None shows both trees around the culprit on a
    failure and none on a pass; True both whole trees; False none."""
    text = render_summary(report)
    if trees is None and report.first_diff is not None:
        return text + "\n" + render_trees(report, whole=False)
    if trees:
        return text + "\n" + render_trees(report)
    return text


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
