"""Is a difference rounding? Judged against a float64 reference, by how far each side is from it.

For one pair whose unit (a layer's forward, its backward, or its parameters' gradients) can be run
again alone: `ref` is base's unit computed in float64 on base's recorded inputs; `base` is what base
computed; `base_low` is base's unit computed in the less precise of the two dtypes (base itself when the
two dtypes agree); `rounded` is the float64 unit on inputs, parameters and incoming gradient each rounded
once more in that dtype (multiplied by 1 + u r, u its unit roundoff, r uniform in [-1, 1]); `raw` is
raw's *local* value (raw's layer fed base's inputs). With e = max(|base - ref|, |base_low - ref|,
|rounded - ref|), elementwise:

    |raw - ref| <= K * max(e, rms(e)) + ulp(lower dtype, max(|ref|, rms(ref)))

raw agrees when it is no further from the exact result than K times the error base's implementation
makes, or rounding the operands once makes, plus one unit in the last place of the less precise dtype
at the tensor's scale. The third estimate matters where base is unusually accurate: torch sums a bias
gradient pairwise, paddle in one running sum, and a correct port is then many times further from
float64 than base although it rounds as any float32 sum may. Base's error is taken at each element, and
at least at its root-mean-square over the tensor: where base happens to round exactly, or where the
value is rounding noise around an exact zero (a gradient that cancels), raw's independent rounding is
judged against the typical error, not against zero; the ulp term likewise at the tensor's RMS magnitude.
K = 8, chosen from measurements (docs/rounding.md, bench/judge.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .shapes import align

__all__ = ["K", "Judgement", "judge_arrays", "not_judged", "roundoff", "ulp"]

K = 8.0


@dataclass(frozen=True)
class Judgement:
    """What the float64 judge found for one pair; `excused` None when it could not judge (see reason)."""

    excused: bool | None
    base_error: float = float("nan")  # max of e: base's, base_low's or rounding's error, whichever is larger
    raw_error: float = float("nan")  # max |raw - ref|
    worst_ratio: float = float("nan")  # max over elements of |raw - ref| / (K * base's error + ulp)
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Judgement:
        return cls(**data)


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values)))) if values.size else 0.0


def not_judged(reason: str) -> Judgement:
    return Judgement(excused=None, reason=reason)


def ulp(values: np.ndarray, dtype: str) -> np.ndarray:
    """The spacing of floating-point numbers of `dtype` at each of `values` (float64 out)."""
    magnitude = np.abs(values)
    if dtype == "bfloat16":  # 8 significant bits where float32 has 24
        return np.spacing(magnitude.astype(np.float32)).astype(np.float64) * 2.0**16
    try:
        numpy_dtype = np.dtype(dtype)
    except TypeError:
        numpy_dtype = np.dtype(np.float32)
    return np.spacing(magnitude.astype(numpy_dtype)).astype(np.float64)


def roundoff(dtype: str) -> float:
    """The unit roundoff of `dtype`: half the spacing of its numbers at 1."""
    bits = {"bfloat16": 8, "float16": 11, "float32": 24, "float64": 53}.get(dtype, 24)
    return 2.0**-bits


def judge_arrays(
    raw: np.ndarray,
    base: np.ndarray,
    ref: np.ndarray,
    base_low: np.ndarray,
    lower: str,
    rounded: np.ndarray | None = None,
) -> Judgement:
    """The rule of the module docstring; raw is aligned to base's layout first (as the comparison did)."""
    if any(isinstance(a, np.ma.MaskedArray) for a in (raw, base)):
        return not_judged("a padded sequence (only its valid positions compare) is not judged")
    aligned = align(base, raw, permute=True)
    if isinstance(aligned, str) or aligned.raw.shape != base.shape:
        return not_judged(
            f"its shapes do not line up element by element ({aligned if isinstance(aligned, str) else aligned.note})"
        )
    if ref.shape != base.shape or base_low.shape != base.shape:
        return not_judged(f"the float64 re-run gave shape {list(ref.shape)} for {list(base.shape)}")
    ref64 = ref.astype(np.float64)
    raw_err = np.abs(aligned.raw.astype(np.float64) - ref64)
    base_err = np.maximum(
        np.abs(base.astype(np.float64) - ref64), np.abs(base_low.astype(np.float64) - ref64)
    )
    if rounded is not None and rounded.shape == base.shape:
        base_err = np.maximum(base_err, np.abs(rounded.astype(np.float64) - ref64))
    typical = _rms(base_err)
    bound = K * np.maximum(base_err, typical) + ulp(np.maximum(np.abs(ref64), _rms(ref64)), lower)
    finite = np.isfinite(raw_err) & np.isfinite(bound)
    if not finite.all():
        return not_judged("non-finite values")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(bound > 0, raw_err / bound, np.where(raw_err > 0, np.inf, 0.0))
    worst = float(ratio.max()) if ratio.size else 0.0
    return Judgement(
        excused=worst <= 1.0,
        base_error=float(base_err.max()) if base_err.size else 0.0,
        raw_error=float(raw_err.max()) if raw_err.size else 0.0,
        worst_ratio=worst,
        reason="within K times base's own error against float64"
        if worst <= 1.0
        else f"further from float64 than K={K:g} times base's own error",
    )
