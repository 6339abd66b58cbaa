"""One pass over a pair of arrays, in bounded chunks: every sum and extreme the metrics are made of.

Both arrays are read in the C order of base's (aligned) shape, `CHUNK` elements at a time: a view where
an array is contiguous, a copy of that chunk alone where it is not (raw's gradient of a transposed
Linear read against base's layout, a permuted attention tensor), and each chunk is cast to the dtype the
pair is compared in. While a chunk is in cache every metric takes what it needs from it, so a pair is read
once; memory grows by a few chunks, never by a whole tensor, and nothing larger than a chunk is ever
copied to float64. A chunk is summed in the dtype it is compared in (numpy sums pairwise: within about
log2(CHUNK) = 18 units of that dtype's rounding, 1e-6 relative in float32, far below the 3 digits a
mean is reported to and the rtol that scales it; in float64 where that would overflow) and the chunks'
sums are added in float64. Chunk boundaries depend on the number of elements only, so one pair gives
the same sums whatever the memory layout of its arrays.

Two quantities need a second pass, and only in rare cases: the share of elements within tolerance, when
the largest difference exceeds atol (the count needs atol, which needs base's mean magnitude, known only
after the first pass), and the cosine when the values are so large or small that float32 dot products
would overflow or underflow (recomputed in float64, chunk by chunk, scaled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["CHUNK", "PairSums", "chunk", "scan", "count_close", "scaled_dots", "mean_abs", "same"]

CHUNK = 1 << 18  # elements per chunk: 1 MiB of float32, which stays in the CPU's cache
TILE = 256  # columns of a transposed matrix copied at a time (see `chunk`)


@dataclass
class PairSums:
    """What one pass over a pair gives. `worst` is the flat index of the first largest |raw - base|."""

    size: int
    max_abs: float = -1.0
    worst: int = 0
    worst_base: float = math.nan
    worst_raw: float = math.nan
    sum_abs_diff: float = 0.0
    sum_abs_base: float = 0.0
    nonzero_base: int = 0
    max_base: float = 0.0
    dot_bb: float = 0.0
    dot_rr: float = 0.0
    dot_br: float = 0.0
    equal: int = 0  # elements equal on both sides (counted for exact comparisons only)


def chunk(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Elements [start, stop) of `array` in C order: a view when it is contiguous, else a copy of those."""
    if array.flags.c_contiguous:
        return array.reshape(-1)[start:stop]
    if array.ndim == 2 and array.T.flags.c_contiguous:
        return _transposed_rows(array, start, stop)
    return array.flat[start:stop]


def _transposed_rows(array: np.ndarray, start: int, stop: int) -> np.ndarray:
    """`chunk` of a matrix stored transposed (a Linear's weight or gradient in the other framework's
    layout): the rows it touches, copied tile by tile. Read element by element, each step would jump a
    whole stored row; a tile is read a few cache lines at a time."""
    cols, stop = array.shape[1], min(stop, array.size)
    first, last = start // cols, -(-stop // cols)
    stored = array.T  # C-contiguous, [cols, rows]
    rows = np.empty((last - first, cols), dtype=array.dtype)
    for j in range(0, cols, TILE):
        rows[:, j : j + TILE] = stored[j : j + TILE, first:last].T
    return rows.reshape(-1)[start - first * cols : stop - first * cols]


def scan(b: np.ndarray, r: np.ndarray, work: np.dtype, exact: bool = False) -> PairSums | None:
    """The sums of a pair of one shape, compared in `work` (float32 or float64); None as soon as a
    difference is not finite (NaN or Inf: the caller's slower path sorts those out). `exact` also counts
    the elements equal in their own dtypes (integer and bool tensors)."""
    sums = PairSums(b.size)
    for start in range(0, b.size, CHUNK):
        raw_b, raw_r = chunk(b, start, start + CHUNK), chunk(r, start, start + CHUNK)
        cb, cr = raw_b.astype(work, copy=False), raw_r.astype(work, copy=False)
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.subtract(cr, cb)
        np.abs(diff, out=diff)
        top = float(np.maximum.reduce(diff))
        if not math.isfinite(top):
            return None
        if top > sums.max_abs:
            at = int(diff.argmax())
            sums.max_abs, sums.worst = top, start + at
            sums.worst_base, sums.worst_raw = float(cb[at]), float(cr[at])
        sums.sum_abs_diff += _sum(diff)
        abs_b = np.abs(cb, out=diff)
        sums.sum_abs_base += _sum(abs_b)
        sums.max_base = max(sums.max_base, float(np.maximum.reduce(abs_b)))
        sums.nonzero_base += cb.size - int(np.count_nonzero(abs_b == 0))  # bools count fastest
        sums.dot_bb += float(np.dot(cb, cb))
        sums.dot_rr += float(np.dot(cr, cr))
        sums.dot_br += float(np.dot(cb, cr))
        if exact:
            sums.equal += int(np.count_nonzero(raw_b == raw_r))
    return sums


def _sum(values: np.ndarray) -> float:
    """A chunk's sum in its own dtype, or in float64 where that overflows (a mask of finfo.min values)."""
    with np.errstate(over="ignore"):
        total = float(np.add.reduce(values))
    return total if math.isfinite(total) else float(np.add.reduce(values, dtype=np.float64))


def count_close(b: np.ndarray, r: np.ndarray, work: np.dtype, atol: float, rtol: float) -> int:
    """How many elements satisfy |raw - base| <= atol + rtol * |base|, computed in `work` as one
    expression over the whole array would be."""
    close = 0
    for start in range(0, b.size, CHUNK):
        cb = chunk(b, start, start + CHUNK).astype(work, copy=False)
        cr = chunk(r, start, start + CHUNK).astype(work, copy=False)
        diff = np.abs(cr - cb)
        close += int(np.count_nonzero(diff <= atol + rtol * np.abs(cb)))
    return close


def scaled_dots(b: np.ndarray, r: np.ndarray, scale: float) -> tuple[float, float, float]:
    """(b.b, r.r, b.r) of b / scale and r / scale, in float64 chunk by chunk."""
    bb = rr = br = 0.0
    for start in range(0, b.size, CHUNK):
        cb = chunk(b, start, start + CHUNK).astype(np.float64) / scale
        cr = chunk(r, start, start + CHUNK).astype(np.float64) / scale
        bb, rr, br = bb + float(np.dot(cb, cb)), rr + float(np.dot(cr, cr)), br + float(np.dot(cb, cr))
    return bb, rr, br


_WORK: dict[np.dtype, np.ndarray] = {}  # one chunk-sized buffer per dtype, reused: no fresh pages per call


def mean_abs(array: np.ndarray) -> float:
    """The mean |element| of a floating array, chunk by chunk through a reused buffer (no temporary the
    size of the array); 0.0 when it is empty."""
    if not array.size:
        return 0.0
    work = _WORK.get(array.dtype)
    if work is None:
        work = _WORK[array.dtype] = np.empty(CHUNK, dtype=array.dtype)
    total = 0.0
    for start in range(0, array.size, CHUNK):
        part = chunk(array, start, start + CHUNK)
        total += _sum(np.abs(part, out=work[: part.size]))
    return total / array.size


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays of one shape hold the same values, read chunk by chunk, stopping at the first
    chunk that differs (NaN differs, as in np.array_equal)."""
    if a.shape != b.shape:
        return False
    for start in range(0, a.size, CHUNK):
        if not np.array_equal(chunk(a, start, start + CHUNK), chunk(b, start, start + CHUNK)):
            return False
    return True
