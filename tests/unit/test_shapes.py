"""`shapes.in_shape`: base's array laid out as raw's, the inverse of how `align` brings raw's to base's
(single-step isolation feeds it to raw's layer)."""

from __future__ import annotations

import numpy as np

from padiff.judge.shapes import align, in_shape


def test_equal_shapes_come_back_as_they_are() -> None:
    a = np.arange(6.0).reshape(2, 3)
    assert in_shape(a, (2, 3)) is a


def test_merged_axes_are_reshaped() -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    assert np.array_equal(in_shape(a, (2, 12)), a.reshape(2, 12))


def test_a_unique_permutation_is_undone_only_where_allowed() -> None:
    base = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)  # [b, s, h, d]
    raw = np.transpose(base, (0, 2, 1, 3))  # [b, h, s, d]: the same values, laid out as raw
    fed = in_shape(base, raw.shape, permute=True)
    assert fed is not None and np.array_equal(fed, raw)
    aligned = align(base, fed, permute=True)  # and compared back, element against element
    assert not isinstance(aligned, str) and np.array_equal(aligned.raw, base)
    assert in_shape(base, raw.shape) is None  # the model's own output is never permuted


def test_ambiguous_or_other_shapes_are_not_fed() -> None:
    assert in_shape(np.zeros((2, 3, 4)), (2, 4, 3), permute=True) is not None
    assert in_shape(np.zeros((3, 3, 2)), (3, 2, 3), permute=True) is None  # axes of equal size
    assert in_shape(np.zeros((2, 3)), (2, 4), permute=True) is None
