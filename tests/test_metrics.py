"""padiff.judge.metrics.compare_arrays: metrics and verdict of one pair of arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from padiff.judge.metrics import TensorDiff, compare_arrays
from padiff.judge.tolerance import DEFAULT_RTOL, CompareMode

RNG = np.random.default_rng(1234)


def _normal(shape, scale=1.0, dtype=np.float32):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def _relative_change(base: np.ndarray, rel: float) -> np.ndarray:
    """base with every element moved by `rel` of its own magnitude (signs kept)."""
    return (base.astype(np.float64) * (1.0 + rel)).astype(base.dtype)


def _noise(base: np.ndarray, rel: float) -> np.ndarray:
    """base plus random noise of relative size `rel` per element."""
    jitter = RNG.uniform(-rel, rel, size=base.shape)
    return (base.astype(np.float64) * (1.0 + jitter)).astype(base.dtype)


# --- identical / changed -------------------------------------------------------------------------------


def test_identical_arrays_pass_with_zero_error_and_cosine_one():
    base = _normal((4, 5))
    diff = compare_arrays(base, base.copy())
    assert diff.passed
    assert diff.max_abs == 0.0 and diff.mean_abs == 0.0 and diff.max_rel == 0.0
    assert diff.cosine == pytest.approx(1.0, abs=1e-12)
    assert diff.close_frac == 1.0
    assert diff.dtype == "float32" and diff.rtol == DEFAULT_RTOL["float32"]
    assert diff.base_shape == diff.raw_shape == (4, 5)
    # negative control: one element changed by a lot is caught
    changed = base.copy()
    changed[2, 3] += 10.0
    bad = compare_arrays(base, changed)
    assert not bad.passed and bad.max_abs == pytest.approx(10.0, rel=1e-5)
    assert bad.close_frac == pytest.approx(1 - 1 / base.size)


def test_relative_change_of_1e3_fails_but_1e7_noise_passes_at_float32_defaults():
    base = _normal((64,))
    assert not compare_arrays(base, _relative_change(base, 1e-3)).passed
    raw = _noise(base, 1e-7)
    assert not np.array_equal(base, raw)  # the noise is really there
    noisy = compare_arrays(base, raw)
    assert noisy.passed and noisy.max_abs > 0.0


@pytest.mark.parametrize("scale", [1e-8, 1e-20, 1e4])
def test_tolerance_scales_with_the_tensor_itself(scale):
    """Tiny gradients are judged as strictly as large activations: relative to their own scale."""
    base = _normal((32, 8), scale=scale)
    assert not compare_arrays(base, _relative_change(base, 1e-3)).passed
    assert compare_arrays(base, _noise(base, 1e-7)).passed
    assert compare_arrays(base, base.copy()).passed


def test_tiny_tensor_is_not_passed_by_a_fixed_absolute_floor():
    """A 1e-8 tensor changed by 100% is a difference (an absolute 1e-6 floor would have hidden it)."""
    base = _normal((16,), scale=1e-8)
    diff = compare_arrays(base, -base)
    assert not diff.passed
    assert diff.atol < 1e-10


def test_explicit_atol_is_absolute():
    base = np.zeros(8, dtype=np.float32)
    raw = np.full(8, 0.5, dtype=np.float32)
    assert compare_arrays(base, raw, atol=1.0, rtol=0.0).passed
    strict = compare_arrays(base, raw, atol=0.1, rtol=0.0)
    assert not strict.passed and strict.atol == 0.1
    # the same 1e-8 tensor that failed above passes under an absolute atol well above its scale
    tiny = _normal((16,), scale=1e-8)
    assert compare_arrays(tiny, -tiny, atol=1e-6).passed
    assert not compare_arrays(tiny, -tiny, atol=1e-12).passed


def test_explicit_rtol_is_used():
    base = _normal((64,))
    raw = _relative_change(base, 1e-3)
    assert compare_arrays(base, raw, rtol=1e-2).passed
    assert not compare_arrays(base, raw, rtol=1e-5).passed


def test_dtype_aware_default_rtol():
    base = _normal((64,))
    raw = _relative_change(base, 1e-3)
    assert compare_arrays(base, raw, dtype="bfloat16").passed  # rtol 3e-2
    assert compare_arrays(base, raw, dtype="float16").passed  # rtol 5e-3
    assert not compare_arrays(base, raw, dtype="float32").passed  # rtol 1e-4
    base64 = base.astype(np.float64)
    assert not compare_arrays(base64, _noise(base64, 1e-6)).passed  # float64: rtol 1e-7
    assert compare_arrays(base64, _noise(base64, 1e-10)).passed


# --- non-finite values ---------------------------------------------------------------------------------


def test_nan_at_the_same_places_agrees():
    base = _normal((10,))
    base[[1, 7]] = np.nan
    diff = compare_arrays(base, base.copy())
    assert diff.passed
    assert "non-finite" in diff.note
    # negative control: the finite part still has to agree
    raw = base.copy()
    raw[0] += 1.0
    assert not compare_arrays(base, raw).passed


def test_nan_on_one_side_only_fails():
    base = _normal((10,))
    raw = base.copy()
    raw[3] = np.nan
    for a, b in ((base, raw), (raw, base)):
        diff = compare_arrays(a, b)
        assert not diff.passed
        assert math.isinf(diff.max_abs)
        assert "one side only" in diff.note
        assert diff.close_frac == pytest.approx(0.9)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # inf - inf inside padiff
def test_same_inf_agrees_and_opposite_inf_fails():
    base = _normal((6,))
    base[2] = np.inf
    base[4] = -np.inf
    assert compare_arrays(base, base.copy()).passed
    flipped = base.copy()
    flipped[2] = -np.inf
    assert not compare_arrays(base, flipped).passed
    finite = base.copy()
    finite[4] = 0.0
    assert not compare_arrays(base, finite).passed
    nan = base.copy()
    nan[2] = np.nan
    assert not compare_arrays(base, nan).passed


def test_all_nan_on_both_sides_agrees():
    base = np.full((3, 3), np.nan, dtype=np.float32)
    assert compare_arrays(base, base.copy()).passed
    assert not compare_arrays(base, np.zeros_like(base)).passed


# --- shapes, dtypes, modes ---------------------------------------------------------------------------


def test_empty_arrays_pass():
    base = np.zeros((0, 3), dtype=np.float32)
    diff = compare_arrays(base, base.copy())
    assert diff.passed and diff.max_abs == 0.0
    # negative control: an empty array against a different, non-broadcastable shape still fails
    assert not compare_arrays(base, np.zeros((2, 4), dtype=np.float32)).passed


@pytest.mark.parametrize("base_shape, raw_shape", [((1,), (0,)), ((0, 3), (1, 3))])
def test_empty_against_nonempty_is_a_difference(base_shape, raw_shape):
    base = np.ones(base_shape, dtype=np.float32)
    raw = np.ones(raw_shape, dtype=np.float32)
    assert not compare_arrays(base, raw).passed


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8])
def test_integer_arrays_are_compared_exactly(dtype):
    base = np.arange(12, dtype=dtype).reshape(3, 4)
    same = compare_arrays(base, base.copy())
    assert same.passed and same.max_abs == 0.0 and same.atol == 0.0 and same.rtol == 0.0
    assert "exact" in same.note
    raw = base.copy()
    raw[2, 3] += 1
    off_by_one = compare_arrays(base, raw, atol=100.0, rtol=1.0)  # tolerances do not apply to integers
    assert not off_by_one.passed
    assert off_by_one.max_abs == 1.0
    assert off_by_one.close_frac == pytest.approx(11 / 12)


def test_bool_arrays_are_compared_exactly():
    base = np.array([True, False, True, False])
    assert compare_arrays(base, base.copy()).passed
    raw = base.copy()
    raw[1] = True
    diff = compare_arrays(base, raw, atol=10.0)
    assert not diff.passed and diff.close_frac == 0.75


def test_merged_adjacent_axes_compare_after_reshape():
    base = _normal((2, 3, 4))
    diff = compare_arrays(base, base.reshape(6, 4).copy())
    assert diff.passed
    assert "reshape" in diff.note
    assert diff.base_shape == (2, 3, 4) and diff.raw_shape == (6, 4)
    # negative control: the same element count in a transposed layout is not a reshape: without
    # permutations allowed it is a shape mismatch (it used to be compared element against wrong element)
    transposed = compare_arrays(base, np.ascontiguousarray(base.transpose(2, 1, 0)))
    assert not transposed.passed and "shape mismatch" in transposed.note


def test_a_unique_permutation_is_compared_under_it_where_allowed():
    base = _normal((2, 4, 8, 16))  # [b, heads, seq, d] against [b, seq, heads, d]
    raw = np.ascontiguousarray(base.transpose(0, 2, 1, 3))
    diff = compare_arrays(base, raw, permute=True)
    assert diff.passed and diff.note == "permuted [0, 2, 1, 3]"
    raw[1, 5, 3, 7] += 1.0
    assert not compare_arrays(base, raw, permute=True).passed  # the moved element is found
    assert "shape mismatch" in compare_arrays(base, raw).note  # not allowed: a difference


def test_axes_of_equal_size_make_the_permutation_ambiguous():
    base = _normal((2, 2, 8, 16))  # which of the two size-2 axes went where cannot be told
    diff = compare_arrays(base, np.ascontiguousarray(base.transpose(0, 2, 1, 3)), permute=True)
    assert not diff.passed and "cannot be told" in diff.note


def test_masked_positions_are_left_out_on_both_sides():
    base = np.ma.MaskedArray(_normal((3, 5)), mask=np.zeros((3, 5), bool))
    base.mask[0, 3:] = True
    raw = np.ma.getdata(base).copy()
    raw[0, 4] = 100.0  # padding: ignored
    diff = compare_arrays(base, raw)
    assert diff.passed and "padding ignored (2 of 15 positions)" in diff.note
    raw[1, 1] += 1.0  # a valid position: found
    assert not compare_arrays(base, raw).passed


def test_broadcastable_shapes_compare_after_broadcasting():
    base = _normal((4, 1))
    raw = np.repeat(base, 5, axis=1)
    diff = compare_arrays(base, raw)
    assert diff.passed and "broadcast" in diff.note
    assert diff.base_shape == (4, 1) and diff.raw_shape == (4, 5)
    raw[0, 2] += 1.0
    assert not compare_arrays(base, raw).passed


@pytest.mark.parametrize("base_shape, raw_shape", [((4,), (5,)), ((2, 3), (2, 4)), ((3,), (2, 2))])
def test_genuine_shape_mismatch_fails_with_a_note(base_shape, raw_shape):
    base = _normal(base_shape)
    diff = compare_arrays(base, np.ones(raw_shape, dtype=np.float32))  # no exception
    assert isinstance(diff, TensorDiff)
    assert not diff.passed
    assert "shape mismatch" in diff.note
    assert str(list(base_shape)) in diff.note and str(list(raw_shape)) in diff.note
    assert diff.base_shape == base_shape and diff.raw_shape == raw_shape
    assert diff.close_frac == 0.0


def test_mean_mode_passes_when_means_agree_and_strict_does_not():
    base = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    raw = base[::-1].copy()
    mean = compare_arrays(base, raw, mode="mean")
    assert mean.passed and "means" in mean.note
    assert compare_arrays(base, raw, mode=CompareMode.MEAN).passed
    assert not compare_arrays(base, raw, mode="strict").passed
    assert not compare_arrays(base, raw).passed  # strict is the default
    # negative control: mean mode still fails when the means differ
    assert not compare_arrays(base, raw + 1.0, mode="mean").passed


def test_unknown_mode_raises():
    base = _normal((3,))
    with pytest.raises(ValueError):
        compare_arrays(base, base, mode="median")


def test_max_abs_is_symmetric():
    base, raw = _normal((7, 3)), _normal((7, 3))
    forward, backward = compare_arrays(base, raw), compare_arrays(raw, base)
    assert forward.max_abs == backward.max_abs
    assert forward.mean_abs == pytest.approx(backward.mean_abs)
    assert forward.cosine == pytest.approx(backward.cosine)
    assert forward.max_abs > 0.0


def test_tensor_diff_round_trips_through_dict():
    base = _normal((2, 3))
    diff = compare_arrays(base, _relative_change(base, 1e-3))
    assert TensorDiff.from_dict(diff.to_dict()) == diff


# --- regressions of bugs found while writing these tests ---------------------------------


def test_cosine_of_identical_huge_arrays_is_one():
    base = np.full(4, 3e30, dtype=np.float32)
    with np.errstate(over="ignore"):
        diff = compare_arrays(base, base.copy())
    assert diff.passed
    assert diff.cosine == pytest.approx(1.0)


def test_cosine_of_orthogonal_tiny_arrays_is_zero():
    base = np.array([1e-25, 0.0], dtype=np.float32)
    raw = np.array([0.0, 1e-25], dtype=np.float32)
    assert compare_arrays(base, raw).cosine == pytest.approx(0.0, abs=1e-6)


def test_cosine_of_orthogonal_normal_arrays_is_zero():
    """Control for the test above: at ordinary magnitudes cosine is right."""
    base = np.array([1.0, 0.0], dtype=np.float32)
    raw = np.array([0.0, 1.0], dtype=np.float32)
    assert compare_arrays(base, raw).cosine == pytest.approx(0.0, abs=1e-12)


# --- properties ----------------------------------------------------------------------------------------

_float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
_moderate = st.floats(min_value=-1e3, max_value=1e3, width=32).filter(lambda v: v == 0 or abs(v) > 1e-3)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, _shapes, elements=_float32), st.sampled_from([1.0, 1e-30, 1e30]))
def test_property_identical_arrays_pass_with_zero_error(array, scale):
    with np.errstate(over="ignore"):
        base = (array.astype(np.float64) * scale).astype(np.float32)
    if not np.isfinite(base).all():  # scaling by 1e30 can overflow float32; keep the finite ones
        base = np.where(np.isfinite(base), base, np.float32(1.0)).astype(np.float32)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        diff = compare_arrays(base, base.copy())
    assert diff.passed
    assert diff.max_abs == 0.0
    assert diff.mean_abs == 0.0
    assert diff.close_frac == 1.0


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, _shapes, elements=_moderate))
def test_property_identical_moderate_arrays_have_cosine_one(base):
    diff = compare_arrays(base, base.copy())
    assert diff.cosine == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=40).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float32, (n,), elements=_float32), hnp.arrays(np.float32, (n,), elements=_float32)
        )
    )
)
def test_property_max_abs_is_symmetric(pair):
    base, raw = pair
    with np.errstate(over="ignore", invalid="ignore"):
        forward, backward = compare_arrays(base, raw), compare_arrays(raw, base)
    assert forward.max_abs == backward.max_abs
    assert (forward.max_abs == 0.0) == np.array_equal(base, raw)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5), elements=_moderate
    )
)
def test_property_sign_flip_of_a_nonzero_array_fails(base):
    """Negative control for the identity property: -x differs from x wherever x is not all zero."""
    if not np.any(base):
        return
    assert not compare_arrays(base, -base).passed
