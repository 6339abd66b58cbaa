"""Compare two arrays: rich metrics and a verdict under dtype-aware tolerances.

Verdict ("strict" mode): every element must satisfy |raw - base| <= atol + rtol * |base|.
Defaults when the caller passes None:
  rtol = DEFAULT_RTOL[dtype of base]      (float32: 1e-4, float16: 5e-3, bfloat16: 3e-2, float64: 1e-7)
  atol = rtol * max(scale, floor)
    scale: the mean |base| over its non-zero elements (the zeros a ReLU or a max-pool backward leaves
           say nothing about the scale), so tiny gradients are judged as strictly as large activations;
    floor: a scale shared by a group of tensors (all gradients of a run; the rounding of the loss
           gradient; for updates, the rounding of the weight), so a mathematically-zero tensor holding
           only rounding noise is not judged against its own noise.
An explicit atol is absolute. In "mean" mode (padiff 0.2.0's default) only the means are compared.
NaN agrees with NaN and +/-Inf with the same Inf; any other non-finite value is a difference.
Integer and bool tensors must be equal. Shapes that differ are aligned by `shapes.align` (merged axes,
a unique permutation where allowed, broadcasting, padding masks) or fail as a shape mismatch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .chunks import PairSums, count_close, scaled_dots, scan
from .shapes import align
from .tolerance import CompareMode, default_rtol

__all__ = ["TensorDiff", "compare_arrays"]


@dataclass(frozen=True)
class TensorDiff:
    """Metrics of one pair of tensors. max_rel is max |raw - base| over max |base|."""

    passed: bool
    max_abs: float
    max_rel: float
    mean_abs: float
    cosine: float
    close_frac: float  # fraction of elements within tolerance
    atol: float
    rtol: float
    base_shape: tuple[int, ...]
    raw_shape: tuple[int, ...]
    dtype: str
    note: str = ""
    # the element with the largest |raw - base|: its index in base's shape (empty when the comparison
    # was not elementwise in base's layout) and both values
    worst_index: tuple[int, ...] = ()
    worst_base: float = math.nan
    worst_raw: float = math.nan

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TensorDiff:
        data = dict(data)
        data["base_shape"] = tuple(data["base_shape"])
        data["raw_shape"] = tuple(data["raw_shape"])
        data["worst_index"] = tuple(data.get("worst_index", ()))
        return cls(**data)


@dataclass(frozen=True)
class _Context:
    """What every verdict of one pair carries besides its numbers."""

    atol: float | None  # None: rtol times the tensor's own scale (or the floor)
    rtol: float
    base_shape: tuple[int, ...]
    raw_shape: tuple[int, ...]
    dtype: str
    note: str
    floor: float = 0.0

    def record(self, **metrics: Any) -> TensorDiff:
        metrics.setdefault("atol", self.atol or 0.0)
        metrics.setdefault("rtol", self.rtol)
        metrics.setdefault("note", self.note)
        return TensorDiff(**metrics, base_shape=self.base_shape, raw_shape=self.raw_shape, dtype=self.dtype)


def _agreeing(context: _Context) -> TensorDiff:
    return context.record(passed=True, max_abs=0.0, max_rel=0.0, mean_abs=0.0, cosine=1.0, close_frac=1.0)


def compare_arrays(
    base: np.ndarray,
    raw: np.ndarray,
    atol: float | None = None,
    rtol: float | None = None,
    dtype: str | None = None,
    mode: CompareMode | str = CompareMode.STRICT,
    floor: float = 0.0,
    permute: bool = False,
) -> TensorDiff:
    """`permute`: shapes that are a unique permutation of each other are compared under it (see `shapes`)."""
    dtype = dtype or _dtype_name(base.dtype)
    rtol_used = default_rtol(dtype) if rtol is None else float(rtol)
    aligned = align(base, raw, permute)
    note = aligned if isinstance(aligned, str) else aligned.note
    context = _Context(atol, rtol_used, tuple(base.shape), tuple(raw.shape), dtype, note, floor)
    if isinstance(aligned, str):
        nan = float("nan")
        return context.record(
            passed=False, max_abs=nan, max_rel=nan, mean_abs=nan, cosine=nan, close_frac=0.0
        )
    b, r, note = aligned.base, aligned.raw, aligned.note
    if b.size == 0:
        return _agreeing(context)
    if b.dtype.kind != "f" and r.dtype.kind != "f":
        return _exact(b, r, context)
    if mode is not CompareMode.STRICT and CompareMode(mode) is CompareMode.MEAN:
        b, r = np.asarray([b.mean(dtype=np.float64)]), np.asarray([r.mean(dtype=np.float64)])
        context = replace(context, note=(note + " means").strip())
    work = np.dtype(np.float64 if b.dtype == np.float64 else np.float32)  # raw is cast to base's
    sums = scan(b, r, work)
    if sums is None:
        return _nonfinite(b.astype(work, copy=False), r.astype(work, copy=False), context)
    return _finite(b, r, work, sums, context)


_DTYPE_NAMES: dict[np.dtype, str] = {}


def _dtype_name(dtype: np.dtype) -> str:
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = str(dtype)
    return name


def _finite(b: np.ndarray, r: np.ndarray, work: np.dtype, sums: PairSums, context: _Context) -> TensorDiff:
    """The record of a pair whose differences are all finite, from one pass's sums (`chunks.scan`)."""
    nonzero = sums.nonzero_base
    scale = max(sums.sum_abs_base / nonzero if nonzero else 0.0, context.floor)
    rtol = context.rtol
    atol_used = rtol * scale if context.atol is None else float(context.atol)
    max_abs, max_b = sums.max_abs, sums.max_base
    if max_abs <= atol_used:
        close_frac = 1.0
    else:
        close_frac = float(count_close(b, r, work, atol_used, rtol)) / b.size
    in_layout = b.shape == context.base_shape  # else (means, a subset) an index would mislead
    return context.record(
        passed=close_frac == 1.0,
        max_abs=max_abs,
        max_rel=max_abs / max_b if max_b > 0 else (0.0 if max_abs == 0 else math.inf),
        mean_abs=sums.sum_abs_diff / b.size,
        cosine=_cosine(b, r, sums, max_b + max_abs),  # |r| <= |b| + |r - b|
        close_frac=close_frac,
        atol=atol_used,
        worst_index=tuple(int(i) for i in np.unravel_index(sums.worst, b.shape)) if in_layout else (),
        worst_base=sums.worst_base if in_layout else math.nan,
        worst_raw=sums.worst_raw if in_layout else math.nan,
    )


def _cosine(b: np.ndarray, r: np.ndarray, sums: PairSums, scale: float) -> float:
    """Cosine similarity from the pass's dot products; `scale` bounds max(|b|, |r|)."""
    if scale == 0.0:
        return 1.0
    nb, nr, nbr = sums.dot_bb, sums.dot_rr, sums.dot_br
    if not 1e-15 < scale < 1e15:  # float32 dot products would underflow or overflow
        nb, nr, nbr = scaled_dots(b, r, scale)
    if nb == 0.0 or nr == 0.0:
        return 0.0
    return min(1.0, max(-1.0, nbr / math.sqrt(nb * nr)))  # rounding can step past +-1


def _nonfinite(b: np.ndarray, r: np.ndarray, context: _Context) -> TensorDiff:
    finite = np.isfinite(b) & np.isfinite(r)
    same_special = (np.isnan(b) & np.isnan(r)) | (np.isinf(b) & (b == r))
    mismatched = int(np.count_nonzero(~finite & ~same_special))
    if finite.any():
        fb, fr = b[finite], r[finite]  # finite values only; their difference may still overflow float32
        work = fb.dtype
        sums = scan(fb, fr, work)
        if sums is None:
            work = np.dtype(np.float64)
            sums = scan(fb, fr, work)
        inner = _agreeing(context) if sums is None else _finite(fb, fr, work, sums, context)
    else:
        inner = _agreeing(context)
    agree = b.size - mismatched - int(np.count_nonzero(finite)) * (1 - inner.close_frac)
    words = f"{int(np.count_nonzero(~finite))} non-finite values"
    if mismatched:
        words += f", {mismatched} differ (NaN/Inf on one side only)"
    return context.record(
        passed=inner.passed and mismatched == 0,
        max_abs=inner.max_abs if mismatched == 0 else math.inf,
        max_rel=inner.max_rel if mismatched == 0 else math.inf,
        mean_abs=inner.mean_abs,
        cosine=inner.cosine,
        close_frac=float(agree) / b.size,
        atol=inner.atol,
        note=(context.note + " " + words).strip(),
    )


def _exact(b: np.ndarray, r: np.ndarray, context: _Context) -> TensorDiff:
    """Integer and bool tensors: equal or not, element by element (metrics in float64, chunk by chunk)."""
    sums = scan(b, r, np.dtype(np.float64), exact=True)
    assert sums is not None  # integers are finite, and their float64 differences too
    max_abs, max_b, same = sums.max_abs, sums.max_base, sums.equal == b.size
    return context.record(
        passed=same,
        max_abs=max_abs,
        max_rel=max_abs / max_b if max_b > 0 else (0.0 if max_abs == 0 else math.inf),
        mean_abs=sums.sum_abs_diff / b.size,
        cosine=1.0 if same else _cosine(b, r, sums, max(max_b, max_b + max_abs)),
        close_frac=float(sums.equal) / b.size,
        atol=0.0,
        rtol=0.0,
        note=(context.note + " exact").strip(),
    )
