"""The report's pieces without frameworks: trees cut around a layer, the error over tolerance each pair is
drawn at, the chart's lanes, counts and the culprit's reason split from its settings."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from padiff.judge.metrics import compare_arrays
from padiff.judge.records import LayerDiff, Phase, Where
from padiff.judge.rounding import Judgement
from padiff.report.chart import render_chart
from padiff.report.measure import Status, status, tolerance_ratio
from padiff.report.tree import TreeLine, format_tree, parents
from padiff.report.words import counts, split_reason

LINES = [
    TreeLine("", 0, "Net"),
    TreeLine("stem", 1, "Seq"),
    *[TreeLine(f"stem.{i}", 2, "Conv") for i in range(6)],
    TreeLine("block", 1, "Block"),
    TreeLine("block.attn", 2, "Attention"),
    TreeLine("block.attn.q", 3, "Linear"),
    *[TreeLine(f"tail{i}", 1, "Linear") for i in range(6)],
]


def test_parents_follow_depth():
    up = parents(LINES)
    assert up[0] == -1 and up[1] == 0 and up[2] == 1 and up[8] == 0
    assert [LINES[up[i]].path for i in (9, 10, 11)] == ["block", "block.attn", ""]


def test_a_tree_around_a_layer_keeps_its_ancestors():
    text = format_tree(LINES, {"block.attn": "<--- HERE"}, around="block.attn", radius=2, ancestors=True)
    rows = text.splitlines()
    assert rows[0] == "(root): Net" and "  stem: Seq" in rows  # the holder of the kept stem.4, stem.5
    assert "    attn: Attention    <--- HERE" in rows and "      q: Linear" in rows
    assert "stem.0" not in text and "0: Conv" not in text and "tail5" not in text
    assert sum(row.strip() == "..." for row in rows) == 2
    # control: without ancestors the window alone is kept, as weight-transfer errors show it
    plain = format_tree(LINES, {}, around="block.attn", radius=2).splitlines()
    assert "  stem: Seq" not in plain and plain[0] == "  ..." and len(plain) == 2 + 5


def _pair(base: np.ndarray, raw: np.ndarray, phase: Phase = Phase.FORWARD, **kw) -> LayerDiff:
    diff = compare_arrays(base, raw, rtol=1e-4)
    where = {Phase.FORWARD: Where.OUTPUT, Phase.GRAD: Where.PARAM}.get(phase, Where.OUTPUT)
    return LayerDiff(phase, 0, where, 0, "fc", "fc", "Linear", "Linear", 0, "out", diff, **kw)


def test_the_ratio_is_one_at_the_tolerance_of_the_worst_element():
    base = np.linspace(1.0, 2.0, 8).astype(np.float32)
    within, beyond = _pair(base, base * (1 + 5e-5)), _pair(base, base * (1 + 3e-3))
    assert 0 < tolerance_ratio(within) <= 1 and within.passed
    assert tolerance_ratio(beyond) > 1 and not beyond.passed
    assert tolerance_ratio(_pair(base, base.copy())) == 0
    shapes = _pair(base, base[:4])  # a shape mismatch has no ratio
    assert math.isnan(tolerance_ratio(shapes)) and status(shapes) is Status.DIFF
    excused = replace(beyond, judged=Judgement(True, 1e-7, 1e-7, 0.5, "rounding"))
    assert status(excused) is Status.EXCUSED and status(within) is Status.OK


def test_the_chart_puts_zeros_and_missing_ratios_on_their_lanes():
    base = np.linspace(1.0, 2.0, 8).astype(np.float32)
    diffs = [_pair(base, base.copy()), _pair(base, base[:4]), _pair(base, base * 1.01, Phase.GRAD)]
    svg = render_chart(diffs, None)
    assert svg.count('class="mark ') == 3 and "culprit" not in svg
    y_of = [float(chunk.split(' y="')[1].split('"')[0]) for chunk in svg.split("<use ")[1:]]
    assert y_of[0] > y_of[2] > y_of[1]  # = 0 below, n/a above, a difference in between
    assert 'class="mark grad diff"' in svg and "#shape-grad" in svg
    assert render_chart([], None).startswith("<p")


def test_counts_and_the_reason_split_from_its_settings():
    base = np.ones(4, np.float32)
    diffs = [_pair(base, base), _pair(base, base * 2, Phase.GRAD)]
    assert counts(diffs) == "2 pairs compared (1 forward, 1 parameter gradients), 1 differ"
    why = "its inputs agree but its output differs; settings differ: epsilon 1e-05 vs 0.1"
    assert split_reason(why) == ("its inputs agree but its output differs", "epsilon 1e-05 vs 0.1")
    assert split_reason("x; optimizer settings differ: lr 1 vs 2") == ("x", "optimizer: lr 1 vs 2")
    assert split_reason("its inputs agree") == ("its inputs agree", "")
