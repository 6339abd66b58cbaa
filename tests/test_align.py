"""Pairing of layer calls when ports regroup layers (see align.py's matching rule)."""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from tests.checks import assert_compared
from tests.models import flat_stem, functional_pool, fused_stem, kit, net, pool_layer

X = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype("float32")


def test_a_pooling_layer_against_a_functional_call_is_not_paired_with_the_next_layer():
    report = padiff.compare(functional_pool("torch"), pool_layer("paddle"), X)
    assert report.passed, str(report)
    assert_compared(report, pairs=["conv", "head", ""])
    assert any("without counterpart" in note and "pool" in note for note in report.notes)
    # negative control: a real difference after the pooling is still found, at the root's own code
    report = padiff.compare(functional_pool("torch"), pool_layer("paddle", scale=1.01), X)
    assert report.first_diff is not None and report.first_diff.raw_path == ""


@pytest.mark.parametrize("torch_is_base", [True, False], ids=["torch-base", "paddle-base"])
def test_a_flat_sequential_pairs_with_a_fused_user_layer_either_way(torch_is_base):
    torch_model, paddle_model = flat_stem("torch").eval(), fused_stem("paddle").eval()
    base, raw = (torch_model, paddle_model) if torch_is_base else (paddle_model, torch_model)
    report = padiff.compare(base, raw, X)
    assert report.passed, str(report)
    pairs = [("stem.0", "stem.conv"), ("stem.1", "stem.bn"), ("stem.2", "stem.act"), ("head", "head")]
    assert_compared(report, pairs=[pair if torch_is_base else pair[::-1] for pair in pairs])
    # the fused user layer is raw's (looked through) or base's (looked into): never "without counterpart"
    side = "raw layers with no counterpart of their own, looked through" if torch_is_base else (
        "base layers with no counterpart of their own, looked into")  # fmt: skip
    assert any(note.startswith(side) and "stem" in note for note in report.notes), report.notes
    assert not any("without counterpart, not compared" in note for note in report.notes), report.notes


def test_a_planted_change_inside_the_fused_layer_is_found_at_its_sublayer():
    report = padiff.compare(flat_stem("torch").eval(), fused_stem("paddle", eps=1e-1).eval(), X)
    assert report.first_diff is not None
    assert (report.first_diff.base_path, report.first_diff.raw_path) == ("stem.1", "stem.bn")


def test_a_changed_activation_still_pairs_by_position_but_not_across_families():
    torch_nn, paddle_nn = kit("torch").nn, kit("paddle").nn
    base = net("torch", fc=torch_nn.Linear(4, 4), act=torch_nn.ReLU())
    # another name: paired by position within the activation family
    raw = net("paddle", fc=paddle_nn.Linear(4, 4), other=paddle_nn.GELU())
    x = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    report = padiff.compare(base, raw, x)
    assert (report.first_diff.base_path, report.first_diff.raw_path) == ("act", "other")
