"""padiff.judge.chunks: a pair compared in bounded chunks gives the metrics one whole-array pass gives.

Reference metrics are computed here with plain numpy over whole arrays, as compare_arrays did before it
read pairs chunk by chunk; maxima, counts and the worst element must be equal, sums equal within the
float32 rounding of a chunk's pairwise sum (1e-6 relative; see the module's docstring). Memory is read
with tracemalloc, which sees numpy's buffers.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from padiff.judge.chunks import CHUNK, mean_abs, same
from padiff.judge.metrics import compare_arrays

RNG = np.random.default_rng(14)


def _reference(base: np.ndarray, raw: np.ndarray, rtol: float = 1e-4) -> dict:
    """The metrics over whole arrays (float32 temporaries, float64 sums)."""
    b, r = base.astype(np.float32), raw.astype(np.float32)
    diff = np.abs(r - b)
    abs_b = np.abs(b)
    atol = rtol * float(abs_b.sum(dtype=np.float64)) / np.count_nonzero(abs_b)
    close = float(np.count_nonzero(diff <= atol + rtol * abs_b)) / diff.size
    worst = int(np.argmax(diff))
    return {
        "max_abs": float(diff.max()),
        "mean_abs": float(diff.mean(dtype=np.float64)),
        "close_frac": close,
        "atol": atol,
        "worst_index": tuple(int(i) for i in np.unravel_index(worst, b.shape)),
        "worst_raw": float(r.flat[worst]),
    }


def _check(diff, expected: dict) -> None:
    assert diff.max_abs == expected["max_abs"]
    assert diff.close_frac == expected["close_frac"]
    assert diff.worst_index == expected["worst_index"]
    assert diff.worst_raw == expected["worst_raw"]
    assert math.isclose(diff.mean_abs, expected["mean_abs"], rel_tol=1e-6)
    assert math.isclose(diff.atol, expected["atol"], rel_tol=1e-6)


@pytest.mark.parametrize("size", [7, CHUNK, 3 * CHUNK + 11])
def test_chunked_metrics_equal_whole_array_metrics(size):
    base = RNG.standard_normal(size).astype(np.float32)
    raw = base + RNG.standard_normal(size).astype(np.float32) * 1e-3  # fails: every metric in play
    diff = compare_arrays(base, raw)
    assert not diff.passed
    _check(diff, _reference(base, raw))


def test_a_planted_difference_inside_a_later_chunk_is_found_at_its_element():
    base = RNG.standard_normal((40, 5000)).astype(np.float32)  # 200,000 elements: four chunks
    raw = base.copy()
    assert compare_arrays(base, raw).passed  # the control: the same values pass
    raw[31, 1234] += 1.0  # flat index 156,234: inside the third chunk, not at its edge
    diff = compare_arrays(base, raw)
    assert not diff.passed
    assert diff.worst_index == (31, 1234)
    assert diff.worst_raw == raw[31, 1234] and diff.worst_base == base[31, 1234]
    assert diff.close_frac == 1 - 1 / base.size


def test_a_tie_names_the_first_largest_difference_across_chunks():
    base = np.zeros(3 * CHUNK, dtype=np.float32)
    raw = base.copy()
    raw[[CHUNK + 5, 2 * CHUNK + 9]] = 2.0  # the same difference in two chunks: the first one is worst
    assert compare_arrays(base, raw).worst_index == (CHUNK + 5,)


def test_a_transposed_view_gives_the_metrics_of_its_contiguous_copy():
    """Raw's gradient of a transposed Linear is read against base's layout as a view, chunk by chunk."""
    base = RNG.standard_normal((700, 300)).astype(np.float32)
    raw_stored = (base + RNG.standard_normal(base.shape).astype(np.float32) * 1e-3).T.copy()
    view = raw_stored.T  # not contiguous
    assert not view.flags.c_contiguous
    assert compare_arrays(base, view) == compare_arrays(base, np.ascontiguousarray(view))


@pytest.mark.parametrize("shape", [(3 * CHUNK // 1000, 1000), (1000, 777), (5, CHUNK + 3)])
def test_a_transposed_matrix_read_in_tiles_across_chunks(shape):
    """Rows that straddle chunk boundaries, a row longer than a chunk: the tiled copy of each chunk gives
    exactly the metrics of the contiguous copy, and a planted element is found where it was planted."""
    stored = RNG.standard_normal(shape[::-1]).astype(np.float32)
    view = stored.T
    base = np.ascontiguousarray(view) + RNG.standard_normal(shape).astype(np.float32) * 1e-3
    assert not view.flags.c_contiguous
    assert compare_arrays(base, view) == compare_arrays(base, np.ascontiguousarray(view))
    clean = np.ascontiguousarray(view)
    assert compare_arrays(clean, view).passed  # the control: the same values pass
    where = (shape[0] - 2, shape[1] - 3)
    stored[where[::-1]] += 1.0
    diff = compare_arrays(clean, view)
    assert not diff.passed and diff.worst_index == where


def test_sums_that_overflow_float32_are_taken_in_float64():
    """An additive mask of finfo.min values: a chunk's float32 sum would be inf; the mean stays exact."""
    base = np.zeros(2 * CHUNK, dtype=np.float32)
    base[::3] = np.finfo(np.float32).min
    raw = base.copy()
    raw[6] = 0.0  # one masked position open on raw's side
    diff = compare_arrays(base, raw)
    assert not diff.passed and diff.worst_index == (6,)
    assert math.isclose(diff.mean_abs, float(np.finfo(np.float32).max) / base.size, rel_tol=1e-12)
    assert math.isfinite(diff.atol) and diff.atol > 0


def test_float16_and_integer_pairs_in_chunks():
    base = RNG.standard_normal(2 * CHUNK + 3).astype(np.float16)
    raw = base.copy()
    raw[CHUNK + 1] += np.float16(0.5)
    diff = compare_arrays(base, raw)
    assert not diff.passed and diff.worst_index == (CHUNK + 1,)
    ids = RNG.integers(0, 1000, 2 * CHUNK + 3)
    assert compare_arrays(ids, ids.copy()).passed
    changed = ids.copy()
    changed[-1] += 1
    exact = compare_arrays(ids, changed)
    assert not exact.passed and exact.close_frac == 1 - 1 / ids.size and exact.max_abs == 1.0


def test_memory_of_a_large_pair_is_bounded_by_a_few_chunks():
    """A 16M-element pair (64 MB each) compared with a few chunks of temporaries, not whole-size ones;
    the control (a whole-array subtraction) shows that tracemalloc sees such temporaries."""
    base = RNG.standard_normal(16 * 2**20).astype(np.float32)
    raw = base.copy()
    raw[12_345_678] += 1.0
    tracemalloc.start()
    try:
        diff = compare_arrays(base, raw)
        chunked_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        whole = np.abs(raw - base)
        whole_peak = tracemalloc.get_traced_memory()[1]
        del whole
    finally:
        tracemalloc.stop()
    assert diff.worst_index == (12_345_678,) and not diff.passed
    assert whole_peak >= base.nbytes  # the control
    assert chunked_peak <= 8 * CHUNK * 8  # a few float32 / float64 chunks, whatever the pair's size


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_mean_abs_over_chunks_is_the_mean_of_the_magnitudes(dtype: str) -> None:
    values = np.random.default_rng(3).standard_normal(2 * CHUNK + 17).astype(dtype)
    exact = float(np.abs(values.astype(np.float64)).mean())
    assert mean_abs(values) == pytest.approx(exact, rel=1e-3 if dtype == "float16" else 1e-6)
    matrix = values[: 500 * 1000].reshape(500, 1000).T  # stored transposed: read in its C order
    assert mean_abs(matrix) == pytest.approx(float(np.abs(matrix.astype(np.float64)).mean()), rel=1e-3)
    assert mean_abs(values[:0]) == 0.0


def test_same_reads_every_chunk_and_tells_any_difference() -> None:
    a = np.random.default_rng(4).standard_normal(3 * CHUNK).astype(np.float32)
    b = a.copy()
    assert same(a, b)
    b[-1] += 1.0  # in the last chunk
    assert not same(a, b)
    assert not same(a, a.reshape(3, CHUNK))  # another shape
    c = a.copy()
    c[0] = np.nan
    assert not same(c, c.copy())  # NaN is no value
