"""The worst element of a compared pair (judge/metrics.py's TensorDiff.worst_*): where the largest
difference is, in base's layout, and both values there; kept through JSON."""

from __future__ import annotations

import math

import numpy as np

from padiff.judge.metrics import TensorDiff, compare_arrays


def test_the_worst_element_is_the_largest_difference_in_bases_layout():
    base = np.arange(12, dtype=np.float32).reshape(3, 4)
    raw = base.copy()
    raw[2, 1] += 0.5
    raw[0, 3] += 0.25
    diff = compare_arrays(base, raw)
    assert not diff.passed
    assert (diff.worst_index, diff.worst_base, diff.worst_raw) == ((2, 1), 9.0, 9.5)
    assert TensorDiff.from_dict(diff.to_dict()) == diff
    # negative control: equal tensors have no difference to place beyond the first element
    same = compare_arrays(base, base.copy())
    assert same.passed and same.max_abs == 0.0 and same.worst_base == same.worst_raw


def test_a_comparison_outside_bases_layout_places_no_element():
    base = np.ones((2, 3), dtype=np.float32)
    means = compare_arrays(base, base * 2, mode="mean")
    assert means.worst_index == () and math.isnan(means.worst_base)
    nonfinite = compare_arrays(np.array([1.0, np.nan], np.float32), np.array([2.0, np.nan], np.float32))
    assert nonfinite.worst_index == () and math.isnan(nonfinite.worst_raw)
    scalar = compare_arrays(np.float32(1.0).reshape(()), np.float32(3.0).reshape(()))
    assert (scalar.worst_index, scalar.worst_base, scalar.worst_raw) == ((), 1.0, 3.0)
