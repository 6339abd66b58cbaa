"""paddle's BatchNorm(act=...) applies its activation inside the layer; torch writes it as a next layer."""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from tests.checks import assert_compared
from tests.models import fused_activation, separate_activation

X = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype("float32")


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("torch_is_base", [True, False], ids=["torch-base", "paddle-base"])
def test_a_fused_activation_pairs_with_the_separate_one(mode, torch_is_base):
    torch_model, paddle_model = separate_activation("torch"), fused_activation()
    getattr(torch_model, mode)()
    getattr(paddle_model, mode)()
    base, raw = (torch_model, paddle_model) if torch_is_base else (paddle_model, torch_model)
    report = padiff.compare(base, raw, X)
    assert report.passed, str(report)
    assert_compared(report, pairs=["conv", "norm", "head"])
    assert any("fused relu activation" in note for note in report.notes)
    if torch_is_base:  # the fused layer's output is compared against the separate activation's
        assert [d for d in report.diffs if d.where == "output" and d.raw_path == "norm"]
    else:  # torch's ReLU has no counterpart: its output is checked where the next layer takes it
        assert [d for d in report.diffs if d.where == "input" and d.raw_path == "head"]


def test_a_difference_in_the_fused_layer_is_found_there():
    report = padiff.compare(separate_activation("torch").eval(), fused_activation(eps=1e-1).eval(), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "norm", str(report)
