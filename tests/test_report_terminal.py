"""The terminal report stays short: a pass prints the verdict, the counts and the notes, not the trees; a
failure prints both trees around the culprit (its ancestors and neighbours); whole trees on request
(`report.render(trees=True)`, `padiff show --trees`). padiff 0.2.0's `auto_diff` prints the same text."""

from __future__ import annotations

import pytest

import padiff
from padiff.cli import main as cli_main
from tests.checks import spy_reports
from tests.models import build, example_input

SIZE = {"depth": 3}  # 3 blocks: the head is far from blocks.0.attn


@pytest.fixture(scope="module")
def passing():
    return padiff.compare(
        build("transformer", "torch", **SIZE),
        build("transformer", "paddle", seed=1, **SIZE),
        example_input("transformer", **SIZE),
    )


@pytest.fixture(scope="module")
def failing():
    return padiff.compare(
        build("transformer", "torch", **SIZE),
        build("transformer", "paddle", plant="softmax_axis", seed=1, **SIZE),
        example_input("transformer", **SIZE),
    )


def _tree_lines(text: str) -> list[str]:
    return [
        line for line in text.splitlines() if line.startswith(" ") and ": " in line and "note" not in line
    ]


def test_a_pass_prints_the_verdict_counts_and_notes_without_trees(passing):
    text = str(passing)
    assert passing.passed and text.startswith("padiff: PASSED")
    assert f"{len(passing.diffs)} pairs compared (" in text and "forward, " in text and ", 0 differ" in text
    assert all(f"note: {note}" in text for note in passing.notes)
    assert "model:" not in text and "blocks: ModuleList" not in text
    assert len(text.splitlines()) <= 3 + len(passing.notes)
    whole = passing.render(trees=True)  # on request: both trees, whole
    assert whole.startswith(text) and "base (torch) model:" in whole and "raw (paddle) model:" in whole
    assert (
        len(_tree_lines(whole.split("base (torch) model:")[1]))
        == len(passing.base_tree) + len(passing.raw_tree) - 2
    )  # every line but the two roots, which are not indented


def test_a_failure_prints_both_trees_around_the_culprit(failing):
    text = str(failing)
    assert failing.first_diff.base_path == "blocks.0.attn"
    marked = [line.strip() for line in text.splitlines() if "<--- HERE" in line]
    assert marked == ["attn: Attention    <--- HERE"] * 2
    base_part = text.split("base (torch) model:\n")[1].split("raw (paddle) model:")[0]
    for holder in ("(root): Transformer", "  blocks: ModuleList", "    0: Block", "        q: Linear"):
        assert holder in base_part  # its ancestors, its own layers
    assert "..." in base_part and "head: Linear" not in base_part  # control: the far end is left out
    assert "blocks.2" not in base_part and "2: Block" not in base_part
    whole = failing.render(trees=True)
    assert "head: Linear" in whole and "2: Block" in whole
    assert "model:" not in failing.render(trees=False)


def test_the_cli_prints_trees_on_request(passing, failing, tmp_path, capsys):
    saved = passing.save(tmp_path / "passing")
    assert cli_main(["show", str(saved)]) == 0
    assert "model:" not in capsys.readouterr().out
    assert cli_main(["show", str(saved), "--trees"]) == 0
    assert "head: Linear" in capsys.readouterr().out
    assert cli_main(["show", str(failing.save(tmp_path / "failing"))]) == 1
    printed = capsys.readouterr().out
    assert "<--- HERE" in printed and "head: Linear" not in printed
    # diff_log/ keeps both whole trees whatever the terminal shows
    assert "head: Linear" in (tmp_path / "failing" / "base_tree.txt").read_text()


def test_auto_diff_prints_the_same_short_report(monkeypatch, capsys):
    reports = spy_reports(monkeypatch)
    module = build("mlp", "torch")
    assert padiff.auto_diff(build("mlp", "paddle", seed=1), module, _pair_inputs()) is True
    printed = capsys.readouterr().out
    assert printed.startswith(str(reports[0])) and "model:" not in printed
    planted = build("mlp", "paddle", plant="activation", seed=1)
    assert padiff.auto_diff(planted, module, _pair_inputs()) is False  # control: a failure shows the trees
    printed = capsys.readouterr().out
    assert printed.startswith(str(reports[1])) and "act1: Tanh    <--- HERE" in printed


def _pair_inputs():
    import paddle
    import torch

    x = example_input("mlp")
    return {"x": paddle.to_tensor(x)}, {"x": torch.tensor(x)}
