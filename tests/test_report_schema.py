"""docs/report-format.md and the JSON a report writes say the same thing; an op-level culprit's op and
line are fields; reports of the previous format still read, newer ones are refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import padiff
from padiff.report import FORMAT_VERSION
from tests.models import build, example_input

DOC = Path(__file__).resolve().parents[1] / "docs" / "report-format.md"


def _documented(section: str) -> set[str]:
    """The field names in the first column of the table under `## {section}`."""
    text = DOC.read_text().split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


@pytest.fixture(scope="module")
def narrowed():
    """A report whose culprit was narrowed to one op (the planted softmax axis)."""
    report = padiff.compare(
        build("transformer", "torch"),
        build("transformer", "paddle", plant="softmax_axis", seed=1),
        example_input("transformer"),
    )
    assert report.first_diff is not None and report.first_diff.kind.value == "api"
    return report


def test_the_documented_fields_are_the_written_fields(narrowed):
    data = json.loads(narrowed.to_json())
    assert data["format"] == FORMAT_VERSION and f"version {FORMAT_VERSION}" in DOC.read_text().splitlines()[0]
    assert _documented("The report") == set(data)
    assert _documented("A culprit (`first_diff`)") == set(data["first_diff"])
    assert _documented("A compared pair (`diffs[i]`, `evidence`)") == set(data["diffs"][0])
    assert _documented("Metrics (`diff`, `local`)") == set(data["diffs"][0]["diff"])
    assert _documented("A tree line (`base_tree[i]`, `raw_tree[i]`)") == set(data["base_tree"][0])


def test_the_schema_check_can_fail(narrowed):
    """Negative control: a field written but not documented, or documented but not written, is seen."""
    data = json.loads(narrowed.to_json())
    assert _documented("The report") != set(data) | {"undocumented"}
    assert _documented("The report") != set(data) - {"notes"}
    with pytest.raises(IndexError):
        _documented("No such section")


def test_an_op_level_culprit_names_its_op_and_line_as_fields(narrowed):
    culprit = json.loads(narrowed.to_json())["first_diff"]
    assert culprit["op"] == "softmax" and culprit["op_site"].endswith(
        ".py:" + culprit["op_site"].rsplit(":", 1)[1]
    )
    assert culprit["op_site"] == culprit["raw_site"] and "models.py:" in culprit["op_site"]
    assert culprit["base_op"] == "softmax" and culprit["base_op_site"]
    again = padiff.Report.from_json(narrowed.to_json())
    assert (again.first_diff.op, again.first_diff.op_site) == (culprit["op"], culprit["op_site"])


def test_a_layer_culprit_has_no_op(tmp_path):
    """Negative control: without narrowing the op fields are empty."""
    report = padiff.compare(
        build("mlp", "torch"), build("mlp", "paddle", plant="activation", seed=1), example_input("mlp")
    )
    culprit = json.loads(report.to_json())["first_diff"]
    assert culprit["kind"] == "layer" and culprit["op"] == culprit["op_site"] == culprit["base_op"] == ""


def test_a_format_1_report_reads_and_a_newer_one_is_refused(narrowed):
    data = json.loads(narrowed.to_json())
    data["format"] = 1
    for key in ("op", "op_site", "base_op", "base_op_site"):
        del data["first_diff"][key]
    for pair in data["diffs"]:
        for key in ("worst_index", "worst_base", "worst_raw"):
            pair["diff"].pop(key, None)
    old = padiff.Report.from_json(json.dumps(data))
    assert (
        old.first_diff is not None and old.first_diff.op == "" and old.first_diff.base_path == "blocks.0.attn"
    )
    data["format"] = FORMAT_VERSION + 1
    with pytest.raises(padiff.DumpError, match="newer than this padiff reads") as caught:
        padiff.Report.from_json(json.dumps(data))
    assert "upgrade padiff" in str(caught.value)
