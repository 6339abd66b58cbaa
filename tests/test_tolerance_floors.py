"""Mathematically-zero tensors hold only rounding noise; padiff must not call that a difference."""

from __future__ import annotations

import numpy as np

import padiff
from tests.checks import assert_compared
from tests.models import norm_without_affine, one_output, two_outputs

X = np.random.default_rng(0).standard_normal((4, 16)).astype("float32")


def test_gradients_that_are_zero_in_exact_arithmetic_pass():
    # the mean of a normalised output does not depend on its input: every gradient is rounding noise
    base = norm_without_affine("torch")
    report = padiff.compare(base, norm_without_affine("paddle"), X)
    assert report.passed, str(report)
    assert_compared(report, base)
    grads = [d for d in report.diffs if d.where in ("grad_in", "grad_out") and d.raw_path == "fc"]
    assert grads and max(d.diff.max_abs for d in grads) < 1e-6


def test_a_real_difference_next_to_zero_gradients_is_still_found():
    report = padiff.compare(norm_without_affine("torch"), norm_without_affine("paddle", eps=1e-3), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "norm"


def test_a_different_number_of_outputs_is_said():
    report = padiff.compare(
        two_outputs("torch"), one_output("paddle"), X, loss_fn=(lambda o: o[0].mean(), lambda o: o.mean())
    )
    assert report.passed, str(report)
    assert_compared(report, pairs=["fc"])
    assert any("returns 2 tensors in base but 1 in raw" in note for note in report.notes)
    # negative control: equal output counts say nothing
    same = padiff.compare(one_output("paddle"), one_output("paddle"), X)
    assert not any("tensors in base" in note for note in same.notes)
