"""Per-layer tolerances end to end: a key covers that layer, its sublayers, its parameters, every phase."""

from __future__ import annotations

import padiff
from tests.checks import assert_compared
from tests.models import build, example_input


def _planted(**bounds):
    """cnn twins, raw's block.bn1 with eps 1e-1 instead of 1e-5."""
    base, raw = build("cnn", "torch"), build("cnn", "paddle", plant="bn_eps", seed=1)
    report = padiff.compare(base, raw, example_input("cnn"), **bounds)
    assert_compared(report, base)  # every layer, passing or not, was compared
    return report


def test_without_overrides_the_planted_layer_is_the_culprit():
    culprit = _planted().first_diff
    assert culprit is not None and culprit.base_path == "block.bn1"


def test_a_loose_bound_on_a_parent_covers_its_sublayers_and_parameters():
    report = _planted(rtol={"block": 10.0}, confirm=False)
    block_pairs = [d for d in report.diffs if d.base_path == "block" or d.base_path.startswith("block.")]
    assert block_pairs and all(d.diff.rtol == 10.0 for d in block_pairs)
    assert {d.phase.value for d in block_pairs} >= {"forward", "backward", "grad"}
    others = [d for d in report.diffs if d not in block_pairs]
    assert others and all(d.diff.rtol == 1e-4 for d in others)  # the dtype's default elsewhere
    culprit = report.first_diff
    assert culprit is not None and not culprit.base_path.startswith("block")  # shows up after the block
    # confirmed layer by layer, every layer after the block agrees given the block's (tolerated) output
    confirmed = _planted(rtol={"block": 10.0})
    assert confirmed.passed and "float noise the model amplifies" in confirmed.notes[0]


def test_a_key_that_is_only_a_prefix_of_the_name_covers_nothing():
    """Negative control: "block.bn" is not a dotted prefix of "block.bn1"."""
    report = _planted(rtol={"block.bn": 10.0})
    assert report.first_diff.base_path == "block.bn1"
    assert all(d.diff.rtol == 1e-4 for d in report.diffs if not d.diff.note.endswith("exact"))


def test_the_default_key_applies_to_every_layer_without_its_own():
    report = _planted(atol={"": 0.0, "block.bn1": 1e3}, rtol=0.0)
    bn1 = [d for d in report.diffs if d.base_path == "block.bn1" and d.where == "output"]
    assert bn1 and bn1[0].diff.atol == 1e3 and bn1[0].passed
    assert all(d.diff.atol == 0.0 for d in report.diffs if d.base_path != "block.bn1")
