"""Report: the folder written by save(), the JSON round trip, and the terminal text."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch

import padiff
from padiff import Report
from tests.checks import assert_compared
from tests.models import report_nets, sliced

X = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
CULPRIT_CALL = "self.act(self.fc1(x))  # the culprit is called here"
TorchNet, PaddleNet = report_nets()


def _line_of(cls: type, text: str) -> str:
    """'file:line' of the line of cls.forward that contains text."""
    lines, first = inspect.getsourcelines(cls.forward)
    offset = next(i for i, line in enumerate(lines) if text in line)
    return f"{inspect.getsourcefile(cls)}:{first + offset}"


@pytest.fixture(scope="module")
def failing() -> Report:
    torch.manual_seed(0)
    report = padiff.compare(TorchNet(), PaddleNet("tanh"), X)
    assert not report.passed
    return report


@pytest.fixture(scope="module")
def passing() -> Report:
    torch.manual_seed(0)
    base = TorchNet()
    report = padiff.compare(base, PaddleNet(), X)
    assert report.passed, str(report)
    assert_compared(report, base)
    return report


def test_failing_report_marks_the_culprit_in_both_trees(failing):
    text = str(failing)
    marked = [line for line in text.splitlines() if "<--- HERE" in line]
    assert len(marked) == 2, text
    assert marked[0].strip().startswith("act: ReLU")  # base tree first
    assert marked[1].strip().startswith("act: Tanh")
    assert "FAILED" in text and "PASSED" not in text
    # negative control: the layers around the culprit are not marked
    for line in text.splitlines():
        if line.strip().startswith(("fc1:", "fc2:")):
            assert "<--- HERE" not in line


def test_failing_report_names_the_culprit_call_site(failing):
    text = str(failing)
    assert _line_of(TorchNet, CULPRIT_CALL) in text
    assert _line_of(PaddleNet, CULPRIT_CALL) in text
    assert failing.first_diff.base_site == _line_of(TorchNet, CULPRIT_CALL)
    assert failing.first_diff.raw_site == _line_of(PaddleNet, CULPRIT_CALL)
    assert (failing.first_diff.base_path, failing.first_diff.raw_path) == ("act", "act")


def test_passing_report_says_passed(passing):
    text = str(passing)
    assert "PASSED" in text and "FAILED" not in text
    assert "<--- HERE" not in text
    assert passing.first_diff is None and bool(passing) is True


def test_save_writes_every_file(failing, tmp_path):
    out = failing.save(tmp_path / "diff_log")
    names = {"summary.txt", "layers.txt", "base_tree.txt", "raw_tree.txt", "report.json"}
    assert names <= {p.name for p in out.iterdir()}
    assert "FAILED" in (out / "summary.txt").read_text()
    assert "act: ReLU    <--- HERE" in (out / "base_tree.txt").read_text()
    assert "act: Tanh    <--- HERE" in (out / "raw_tree.txt").read_text()
    layers = (out / "layers.txt").read_text().splitlines()
    assert len(layers) == 1 + len(failing.diffs)  # header + one row per compared pair
    assert any(" NO " in row for row in layers) and any(" ok " in row for row in layers)
    assert json.loads((out / "report.json").read_text())["passed"] is False


def test_save_of_a_passing_report(passing, tmp_path):
    out = passing.save(tmp_path)
    assert "PASSED" in (out / "summary.txt").read_text()
    assert "<--- HERE" not in (out / "base_tree.txt").read_text()
    assert " NO " not in (out / "layers.txt").read_text()


@pytest.mark.parametrize("which", ["failing", "passing"])
def test_json_round_trip(which, request):
    report: Report = request.getfixturevalue(which)
    restored = Report.from_json(report.to_json())
    assert restored.to_dict() == report.to_dict()
    assert restored.first_diff == report.first_diff
    assert restored.diffs == report.diffs
    assert str(restored) == str(report)


def test_json_round_trip_detects_a_change(failing):
    """Negative control: the comparison above would notice an altered field."""
    data = json.loads(failing.to_json())
    data["diffs"][0]["diff"]["max_abs"] += 1.0
    assert Report.from_dict(data).to_dict() != failing.to_dict()


def test_json_round_trip_with_nan_metrics():
    """A shape mismatch has NaN metrics; the JSON text still round-trips (compared as text: NaN != NaN)."""
    report = padiff.compare(sliced("torch"), sliced("paddle", keep=2), X)
    assert not report.passed
    assert "shape mismatch" in report.first_diff.metrics.note
    restored = Report.from_json(report.to_json())
    assert restored.to_json() == report.to_json()
