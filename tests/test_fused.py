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


def _norm_pairs(report):
    return [d for d in report.diffs if d.raw_path == "norm" and d.where in ("output", "grad_in")]


def test_the_float64_judge_runs_base_layer_and_activation_as_one_unit():
    """Train mode, tolerances far below float32's rounding, so that the fused layer's pairs fail and go to
    the judge: it re-runs torch's BatchNorm followed by ReLU (the unit paddle's BatchNorm(act="relu")
    stands for), fed the gradient torch's head sent back to the ReLU. Without that unit it could not
    judge them at all (BatchNorm alone does not reproduce what was compared)."""
    base, raw = separate_activation("torch").train(), fused_activation().train()
    report = padiff.compare(base, raw, X, single_step=True, atol=1e-30, rtol=1e-12)
    pairs = _norm_pairs(report)
    assert {d.where for d in pairs} == {"output", "grad_in"}, pairs
    assert all(d.judged is not None and d.judged.excused is not None for d in pairs), [
        d.judged for d in pairs
    ]
    clean = max(d.judged.worst_ratio for d in pairs)
    # negative control: the fused layer's own epsilon differs: orders of magnitude past the rounding
    base, raw = separate_activation("torch").train(), fused_activation(eps=1e-1).train()
    report = padiff.compare(base, raw, X, single_step=True, atol=1e-30, rtol=1e-12)
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.raw_path) == ("forward", "norm"), str(report)
    judged = culprit.evidence.judged
    assert judged is not None and judged.excused is False and judged.worst_ratio > 1000 * clean, str(report)


def test_a_fused_layer_is_fed_the_gradient_at_base_activation_in_isolation():
    """Its local input gradient is then its own error only: within float32 rounding of base's."""
    base, raw = separate_activation("torch").train(), fused_activation().train()
    report = padiff.compare(base, raw, X, single_step=True)
    grad_in = [d for d in _norm_pairs(report) if d.where == "grad_in"]
    assert grad_in and all(d.local is not None and d.local.max_rel < 1e-5 for d in grad_in), grad_in
