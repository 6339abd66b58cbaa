"""A saved report reads back only as what it is: its format version is checked, and the HTML page marks
the culprit's own row even when its metrics are NaN (which equals nothing, itself included)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

import padiff
from padiff.report import FORMAT_VERSION
from tests.models import build, example_input, sliced


def _failing_report():
    return padiff.compare(
        build("mlp", "torch"), build("mlp", "paddle", plant="activation", seed=1), example_input("mlp")
    )


def test_a_report_round_trips_through_json():
    report = _failing_report()
    again = padiff.Report.from_json(report.to_json())
    assert again.first_diff == report.first_diff and len(again.diffs) == len(report.diffs)
    assert [d.paired_by for d in again.diffs] == [d.paired_by for d in report.diffs]


@pytest.mark.parametrize("version", [FORMAT_VERSION + 1, 0, None, "1"])
def test_a_report_of_another_format_is_a_dump_error(version):
    data = json.loads(_failing_report().to_json())
    data["format"] = version
    with pytest.raises(padiff.DumpError, match="format"):
        padiff.Report.from_json(json.dumps(data))


@pytest.mark.parametrize(
    "text", ["not json", "[1, 2]", json.dumps({"format": FORMAT_VERSION, "passed": True})]
)
def test_anything_else_is_a_dump_error_too(text):
    with pytest.raises(padiff.DumpError):
        padiff.Report.from_json(text)


def test_the_html_culprit_row_is_found_by_the_pair_not_by_its_nan_metrics(tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    report = padiff.compare(sliced("torch"), sliced("paddle", keep=2), x)  # [3, 3] vs [3, 2]: no metrics
    evidence = report.first_diff.evidence
    assert "shape mismatch" in evidence.diff.note and math.isnan(evidence.diff.max_abs)
    # the culprit's evidence as another process would rebuild it: the same pair, its NaN a new float
    rebuilt = replace(evidence, diff=replace(evidence.diff, max_abs=float("nan")))
    assert rebuilt != evidence and rebuilt.key == evidence.key  # NaN equals no NaN but itself
    apart = replace(report, first_diff=replace(report.first_diff, evidence=rebuilt))
    for source in (report, padiff.Report.from_json(report.to_json()), apart):
        page = source.save_html(tmp_path / "report.html").read_text()
        assert page.count('<tr class="culprit"') == 1
    clean = padiff.compare(build("mlp", "torch"), build("mlp", "paddle", seed=1), example_input("mlp"))
    assert clean.save_html(tmp_path / "clean.html").read_text().count('class="culprit"') == 0  # control
