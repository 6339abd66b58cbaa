"""padiff.options and compare's keyword arguments: inputs, steps and batches, bounds, checked up front."""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from tests.checks import assert_compared
from tests.models import build, example_input


def _pair():
    return build("mlp", "torch"), build("mlp", "paddle", seed=1)


def test_no_inputs_at_all_is_an_input_error():
    base, raw = _pair()
    with pytest.raises(padiff.InputError, match="no inputs given"):
        padiff.compare(base, raw)
    with pytest.raises(padiff.InputError, match="no inputs given"):
        padiff.compare(base, raw, None, batches=[])


def test_steps_that_disagree_with_batches_are_an_input_error():
    base, raw = _pair()
    x = example_input("mlp")
    with pytest.raises(padiff.InputError, match="steps=3 but batches holds 2 inputs"):
        padiff.compare(base, raw, batches=[x, x], steps=3)


def test_steps_that_agree_with_batches_or_are_left_out_run_one_step_per_batch():
    base, raw = _pair()
    x0, x1 = example_input("mlp", seed=0), example_input("mlp", seed=1)
    for steps in (None, 2):
        report = padiff.compare(base, raw, batches=[x0, x1], steps=steps)
        assert report.passed and {d.step for d in report.diffs} == {0, 1}
        assert_compared(report, base)


def test_steps_repeat_one_input():
    base, raw = _pair()
    report = padiff.compare(base, raw, example_input("mlp"), steps=2)
    assert report.passed and {d.step for d in report.diffs} == {0, 1}
    assert_compared(report, base)


@pytest.mark.parametrize("steps", [0, -1, 1.5, True, "2"])
def test_steps_that_are_not_a_positive_int_are_an_input_error(steps):
    base, raw = _pair()
    with pytest.raises(padiff.InputError, match="steps must be a positive int"):
        padiff.compare(base, raw, example_input("mlp"), steps=steps)


@pytest.mark.parametrize("bound", [{"": -1.0}, {3: 1e-4}, "1e-4", -0.5])
def test_bad_tolerances_are_input_errors_before_anything_runs(bound):
    base, raw = _pair()
    with pytest.raises(padiff.InputError):
        padiff.compare(base, raw, example_input("mlp"), atol=bound)


def test_the_inputs_need_not_be_given_when_batches_are():
    base, raw = _pair()
    report = padiff.compare(base, raw, batches=[np.asarray(example_input("mlp"))])
    assert report.passed
    assert_compared(report, base)
