"""Output heads stored [out, in] (as paddleformers' LMHead) against Linear heads, and tied against untied
heads (padiff.weights.rules, orientation, owners), in both directions.

A pair of classes no rule knows is fitted by shape when only one orientation fits, and the report says
so; a square weight of such a pair is an error naming both classes and the rule to give; with the rule
given, it passes, and a wrong rule is found at the head. Tied against untied is an error saying which
model ties the head.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import padiff
from padiff import LayerMap
from padiff.judge.records import Phase
from tests.checks import assert_compared
from tests.models import head_lm, out_in_head
from tests.models.frameworks import kit

DIRECTIONS = [("torch", "paddle"), ("paddle", "torch")]
IDS = ["torch->paddle", "paddle->torch"]


def _ids(vocab: int) -> np.ndarray:
    return np.random.default_rng(3).integers(0, vocab, (2, 5)).astype("int64")


def _lm(framework: str, vocab: int = 12, seed: int = 0, **options):
    """torch's Linear head [vocab, dim]; paddle's OutInHead, which keeps [vocab, dim] too."""
    return head_lm(
        framework, "linear" if framework == "torch" else "out_in", vocab=vocab, seed=seed, **options
    )


@pytest.mark.parametrize(("base_fw", "raw_fw"), DIRECTIONS, ids=IDS)
def test_a_head_of_a_pair_no_rule_knows_is_fitted_by_shape_and_noted(base_fw, raw_fw):
    base, raw = _lm(base_fw, seed=1), _lm(raw_fw, seed=2)
    report = padiff.compare(base, raw, _ids(12), keep_weights=True)
    assert report.passed, str(report)
    assert_compared(report, pairs=["embed", "norm", "head"])
    assert np.array_equal(kit(raw_fw).numpy(raw.head.weight), kit(base_fw).numpy(base.head.weight))
    classes = "torch Linear -> paddle OutInHead" if base_fw == "torch" else "paddle OutInHead -> torch Linear"
    assert (
        f"weights: fitted by shape (no rule for {classes}; only one orientation fits each): "
        "'head.weight' -> 'head.weight' as is" in report.notes
    ), report.notes


@pytest.mark.parametrize(("base_fw", "raw_fw"), DIRECTIONS, ids=IDS)
def test_a_changed_head_is_found_at_the_head(base_fw, raw_fw):
    """Negative control: paddle's head scales its logits by 1.01 (in base or in raw)."""
    base = _lm(base_fw, seed=1, **({"scale": 1.01} if base_fw == "paddle" else {}))
    raw = _lm(raw_fw, seed=2, **({"scale": 1.01} if raw_fw == "paddle" else {}))
    report = padiff.compare(base, raw, _ids(12))
    assert (report.first_diff.phase, report.first_diff.raw_path) == (Phase.FORWARD, "head"), str(report)


@pytest.mark.parametrize(("base_fw", "raw_fw"), DIRECTIONS, ids=IDS)
def test_a_square_head_of_a_pair_no_rule_knows_is_refused_naming_both_classes(base_fw, raw_fw):
    with pytest.raises(padiff.WeightTransferError) as error:
        padiff.compare(_lm(base_fw, vocab=6, seed=1), _lm(raw_fw, vocab=6, seed=2), _ids(6))
    message = str(error.value)
    assert "'head.weight' [6, 6]" in message and "Linear" in message and "OutInHead" in message, message
    assert "layer_map.weight_rule(Linear, OutInHead, transpose=False)" in message, message


def _rule(transpose: bool) -> LayerMap:
    layer_map = LayerMap()
    layer_map.weight_rule(torch.nn.Linear, out_in_head("paddle"), transpose=transpose)
    return layer_map


@pytest.mark.parametrize(("base_fw", "raw_fw"), DIRECTIONS, ids=IDS)
def test_a_square_head_passes_with_its_rule(base_fw, raw_fw):
    base, raw = _lm(base_fw, vocab=6, seed=1), _lm(raw_fw, vocab=6, seed=2)
    report = padiff.compare(base, raw, _ids(6), layer_map=_rule(False), keep_weights=True)
    assert report.passed, str(report)
    assert_compared(report, pairs=["embed", "norm", "head"])
    assert np.array_equal(kit(raw_fw).numpy(raw.head.weight), kit(base_fw).numpy(base.head.weight))
    assert not any("fitted by shape" in note for note in report.notes), report.notes


@pytest.mark.parametrize(("base_fw", "raw_fw"), DIRECTIONS, ids=IDS)
def test_a_wrong_rule_for_a_square_head_is_found_at_the_head(base_fw, raw_fw):
    base, raw = _lm(base_fw, vocab=6, seed=1), _lm(raw_fw, vocab=6, seed=2)
    report = padiff.compare(base, raw, _ids(6), layer_map=_rule(True))
    assert (report.first_diff.phase, report.first_diff.raw_path) == (Phase.FORWARD, "head"), str(report)


@pytest.mark.parametrize(("base_fw", "raw_fw"), DIRECTIONS, ids=IDS)
def test_heads_tied_on_both_sides_pass(base_fw, raw_fw):
    base, raw = _lm(base_fw, tie=True, seed=1), _lm(raw_fw, tie=True, seed=2)
    report = padiff.compare(base, raw, _ids(12))
    assert report.passed, str(report)
    assert_compared(report, pairs=["embed", "norm", "head"])


@pytest.mark.parametrize("tied", ["base", "raw"])
@pytest.mark.parametrize(("base_fw", "raw_fw"), DIRECTIONS, ids=IDS)
def test_a_tied_head_against_an_untied_one_is_refused_saying_which_side_ties(base_fw, raw_fw, tied):
    base, raw = _lm(base_fw, tie=tied == "base", seed=1), _lm(raw_fw, tie=tied == "raw", seed=2)
    with pytest.raises(padiff.WeightTransferError) as error:
        padiff.compare(base, raw, _ids(12))
    untied = "raw" if tied == "base" else "base"
    assert str(error.value).startswith(
        f"{tied} ties 'head.weight' to 'embed.weight' (one tensor), but {untied}'s 'head.weight' is a weight of "
        f"its own: the layer is tied in {tied} and untied in {untied}"
    ), str(error.value)
    assert "tie_word_embeddings" in str(error.value)
