"""A self-contained HTML page of a Report (no scripts, no external files)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .terminal import render_summary, render_trees

if TYPE_CHECKING:
    from . import Report

__all__ = ["render_html"]

_STYLE = """
body { font-family: sans-serif; margin: 2em; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
table { border-collapse: collapse; font-size: 90%; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
tr.bad { background: #fde2e2; }
tr.culprit { background: #f8b4b4; font-weight: bold; }
.num { text-align: right; font-family: monospace; }
"""


def _row(report: Report, index: int) -> str:
    d = report.diffs[index]
    culprit = report.first_diff is not None and report.first_diff.evidence.key == d.key  # not by metrics: NaN
    css = "culprit" if culprit else ("" if d.passed else "bad")
    local = "" if d.local is None else f"{d.local.max_rel:.3g}"
    cells = [
        d.phase.value,
        str(d.step),
        d.where,
        escape(d.base_path or "(root)"),
        escape(d.base_type),
        escape(d.raw_path or "(root)"),
        escape(d.raw_type),
        escape(d.leaf),
        escape(d.paired_by),
        "ok" if d.passed else "DIFF",
    ]
    numbers = [f"{d.diff.max_abs:.3g}", f"{d.diff.max_rel:.3g}", local, f"{d.diff.cosine:.6f}"]
    tds = "".join(f"<td>{c}</td>" for c in cells) + "".join(f'<td class="num">{n}</td>' for n in numbers)
    return f'<tr class="{css}">{tds}<td>{escape(d.diff.note)}</td></tr>'


def render_html(report: Report) -> str:
    head = ["phase", "step", "where", "base path", "base class", "raw path", "raw class", "leaf", "paired by"]
    head += ["verdict"]
    head += ["max abs", "max rel", "local max rel", "cosine", "note"]
    rows = "\n".join(_row(report, i) for i in range(len(report.diffs)))
    verdict = "PASSED" if report.passed else "FAILED"
    return (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>padiff: {verdict}</title><style>{_STYLE}</style></head><body>\n"
        f"<h1>padiff: {verdict}</h1>\n<pre>{escape(render_summary(report))}</pre>\n"
        f"<h2>Model trees</h2>\n<pre>{escape(render_trees(report))}</pre>\n"
        f"<h2>Every compared pair ({len(report.diffs)})</h2>\n<table><tr>"
        + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr>\n{rows}\n</table>\n</body></html>\n"
    )
