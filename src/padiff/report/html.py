"""A Report as one self-contained HTML page: nothing fetched, no script (a Content-Security-Policy says so).

From the top: the verdict and the counts; the culprit (both layers' paths, classes, where they are called
and defined, the op for an op-level culprit, why, the settings the two layers differ in, the evidence and
its worst element, the float64 judge's finding); the chart of every pair's error (`chart`); the notes;
both model trees, folding (`html_parts`); every pair in a table that filters to the failing rows. The
page is made from the Report alone, so a saved report.json and a comparison of two dumps render alike.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from .chart import render_chart, render_legend
from .html_parts import render_table, render_tree
from .measure import AXIS_NOTE
from .words import closest, counts, evidence, judged_text, local_text, percent, split_reason, worst

if TYPE_CHECKING:
    from ..localize.culprit import Culprit
    from . import Report

__all__ = ["render_html"]

# no network, no script: what the page is made of is all in it
_POLICY = "default-src 'none'; style-src 'unsafe-inline'"

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { margin: 0; font-size: 1.6em; } h2 { font-size: 1.2em; margin: 1.4em 0 0.5em; }
header { padding: 0.8em 1em; border-radius: 6px; }
header.failed { background: #fde2e2; border-left: 6px solid #c00; }
header.passed { background: #e3f4e1; border-left: 6px solid #2a7d2a; }
header p { margin: 0.3em 0 0; }
code, .num, .site { font-family: ui-monospace, monospace; font-size: 0.92em; }
.site { word-break: break-all; }
table.sides th { text-align: left; padding-right: 1em; vertical-align: top; font-weight: 600; }
table.sides td { padding: 1px 1.2em 1px 0; vertical-align: top; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 1em; }
dl.facts dt { font-weight: 600; } dl.facts dd { margin: 0; }
.settings { color: #8a3b00; font-weight: 600; }
#chart { width: 100%; max-width: 1200px; height: auto; display: block; }
#chart .grid { stroke: #ddd; stroke-width: 0.6; } #chart .lane { stroke: #ccc; stroke-dasharray: 2 3; }
#chart .tick { font-size: 10px; text-anchor: end; fill: #555; }
#chart .axis { font-size: 11px; text-anchor: middle; fill: #333; }
#chart .band-0 { fill: #f7f7f7; } #chart .band-1 { fill: #eef2f7; }
#chart .band-label { font-size: 10px; fill: #555; }
#chart .tolerance { stroke: #c00; stroke-width: 1.2; stroke-dasharray: 6 3; }
#chart .tolerance-label { font-size: 10px; fill: #c00; text-anchor: end; }
#chart .culprit-line { stroke: #c00; stroke-width: 1; stroke-dasharray: 3 2; }
#chart .culprit-label { font-size: 12px; font-weight: 700; fill: #c00; paint-order: stroke;
  stroke: #fff; stroke-width: 3px; stroke-linejoin: round; }
.culprit-ring { fill: none; stroke: #c00; stroke-width: 2; }
#chart .culprit-line, #chart .culprit-ring, #chart text { pointer-events: none; } /* clicks reach the marks */
.mark, .key { stroke-width: 0; }
.forward { fill: #0072b2; stroke: #0072b2; } .backward { fill: #e69f00; stroke: #e69f00; }
.grad { fill: #009e73; stroke: #009e73; } .weight { fill: #cc79a7; stroke: #cc79a7; }
.buffer { fill: #6a3d9a; stroke: #6a3d9a; }
#chart rect.band { stroke: none; }
.mark.ok { fill-opacity: 0.7; }
.mark.diff, .key.diff { stroke: #c00; stroke-width: 2; }
.mark.excused, .key.excused { fill: #fff; stroke-width: 1.8; }
.legend { display: flex; flex-wrap: wrap; gap: 0.4em 1.4em; font-size: 0.9em; margin: 0.3em 0 0 70px; }
.legend svg { vertical-align: middle; overflow: visible; }
.caption { color: #555; font-size: 0.88em; } #errors .caption { margin-left: 70px; }
div.scroll { overflow-x: auto; } td.worst { white-space: nowrap; }
ul.notes li { margin: 0.2em 0; }
.trees { display: flex; flex-wrap: wrap; gap: 2em; }
.trees > div { flex: 1 1 380px; min-width: 0; }
.layer { margin-left: 1.2em; line-height: 1.5; } .trees > div > .layer { margin-left: 0; }
div.layer { padding-left: 1.05em; }
summary { cursor: pointer; }
.layer .cls { color: #555; } .layer .err { font-family: ui-monospace, monospace; font-size: 0.85em; }
.err.ok { color: #2a7d2a; } .err.diff { color: #c00; font-weight: 700; } .err.excused { color: #8a6d00; }
.err.none { color: #999; }
.holds-diff > summary { border-left: 3px solid #c00; padding-left: 3px; }
.culprit-layer > summary, div.culprit-layer { background: #f8b4b4; }
.here { color: #c00; font-weight: 700; }
.filter { font-weight: 600; margin-right: 0.5em; }
input[name=rows] { margin-left: 0.8em; }
table.pairs { border-collapse: collapse; font-size: 0.85em; margin-top: 0.6em; }
table.pairs td, table.pairs th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; }
table.pairs th { background: #f0f0f0; }
tr.diff { background: #fde2e2; } tr.excused { background: #fff4cc; }
tr.culprit { background: #f8b4b4; font-weight: 700; }
tr:target { outline: 2px solid #0072b2; }
td.num { text-align: right; }
#rows-failing:checked ~ .scroll tbody tr.ok, #rows-failing:checked ~ .scroll tbody tr.excused,
#rows-judged:checked ~ .scroll tbody tr.ok { display: none; }
"""


def _sides(report: Report, c: Culprit) -> str:
    """The culprit's two layers side by side: path, class, call site, where forward is defined, op."""
    rows = [
        (
            "layer",
            f"<code>{escape(c.base_path or '(root)')}</code>",
            f"<code>{escape(c.raw_path or '(root)')}</code>",
        ),
        ("class", f"<code>{escape(c.base_type)}</code>", f"<code>{escape(c.raw_type)}</code>"),
        ("called at", _site(c.base_site, c.base_call), _site(c.raw_site, c.raw_call)),
        ("forward defined at", _site(c.base_defined), _site(c.raw_defined)),
    ]
    if c.op or c.base_op:
        rows.append(("first op that differs", _op(c.base_op, c.base_op_site), _op(c.op, c.op_site)))
    head = f"<tr><th></th><th>base ({escape(report.base_framework)})</th><th>raw ({escape(report.raw_framework)})</th></tr>"
    body = "".join(f"<tr><th>{name}</th><td>{base}</td><td>{raw}</td></tr>" for name, base, raw in rows)
    return f'<table class="sides">{head}{body}</table>'


def _site(site: str, call: int = 0) -> str:
    where = f'<span class="site">{escape(site or "?")}</span>'
    return where + (f" (call {call + 1})" if call else "")


def _op(op: str, site: str) -> str:
    return f"<code>{escape(op)}</code> at {_site(site)}" if op else "none came close"


def _culprit(report: Report, c: Culprit) -> str:
    m = c.metrics
    why, settings = split_reason(c.reason)
    measured = (
        f"max abs {m.max_abs:.3g}, max rel {m.max_rel:.3g}, mean abs {m.mean_abs:.3g}, cosine {m.cosine:.6f}, "
        f"within tolerance {percent(m.close_frac)} (atol {m.atol:.2g}, rtol {m.rtol:.2g}, {m.dtype})"
        + (f" [{m.note}]" if m.note else "")
    )
    facts = [
        ("why", escape(why)),
        (
            "settings that differ",
            f'<span class="settings">{escape(settings)}</span>'
            if settings
            else "none between these two layers",
        ),
        ("evidence", f"{escape(evidence(c.evidence))}: {escape(measured)}"),
        ("worst element", escape(worst(m).removeprefix("worst element ")) or "not placed in base's layout"),
    ]
    for text in (local_text(c.evidence), judged_text(c.evidence)):  # "single_step: ...", "float64 judge: ..."
        if text:
            name, _, said = text.partition(": ")
            facts.append((name.replace("_", " "), escape(said)))
    listed = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    title = f"First difference: {c.phase.value}, step {c.step}" + (
        " (one op)" if c.kind.value == "api" else ""
    )
    return (
        f'<section id="culprit"><h2>{title}</h2>{_sides(report, c)}<dl class="facts">{listed}</dl></section>'
    )


def _notes(notes: list[str]) -> str:
    if not notes:
        return ""
    items = "".join(
        f"<li{' class=settings' if 'settings differ' in note else ''}>{escape(note)}</li>" for note in notes
    )
    return f'<section id="notes"><h2>Notes</h2><ul class="notes">{items}</ul></section>'


def render_html(report: Report) -> str:
    c = report.first_diff
    verdict = "PASSED" if report.passed else "FAILED"
    title = f"padiff: {verdict}" + (f" at {c.raw_path or '(root)'}" if c else "")
    summary = f"{escape(report.base_framework)} base vs {escape(report.raw_framework)} raw; {escape(counts(report.diffs))}"
    near = closest(report.diffs) if report.passed else ""
    key = None if c is None else c.evidence.key
    parts = [
        f'<header class="{verdict.lower()}"><h1>{escape(title)}</h1><p>{summary}</p>'
        + (f"<p>{escape(near)}</p>" if near else "")
        + "</header>",
        "" if c is None else _culprit(report, c),
        '<section id="errors"><h2>Error of every compared pair</h2>',
        render_chart(report.diffs, c),
        render_legend(report.diffs, c) + f'<p class="caption">{escape(AXIS_NOTE)}</p></section>',
        _notes(report.notes),
        '<section id="trees"><h2>Model trees</h2><p class="caption">Each layer: its class and its worst '
        "error / tolerance over its outputs, the gradients it sends back, its parameters' gradients and "
        "updates and its buffers (what it takes in only places the culprit).</p><div class=trees>",
        f'<div id="tree-base"><h3>base ({escape(report.base_framework)})</h3>'
        + render_tree(report.base_tree, report.diffs, "base", c)
        + "</div>",
        f'<div id="tree-raw"><h3>raw ({escape(report.raw_framework)})</h3>'
        + render_tree(report.raw_tree, report.diffs, "raw", c)
        + "</div></div></section>",
        f'<section id="pairs"><h2>Every compared pair ({len(report.diffs)})</h2>',
        render_table(report.diffs, key) + "</section>",
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(part for part in parts if part)
        + "\n</body></html>\n"
    )
