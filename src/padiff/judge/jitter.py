"""The values a float64 judge unit reads, moved as rounding would move them: multiplied by (1 + u r)
(rounded once more in a dtype of unit roundoff u), or rounded to float16 or bfloat16 (for a dtype the
framework has no kernels in); see `units`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Jitter", "rounded_to"]


def rounded_to(array: np.ndarray, dtype: str) -> np.ndarray:
    """`array` rounded to float16 or bfloat16 (to nearest, ties to even), as float64."""
    if dtype == "float16":
        return np.asarray(array).astype(np.float16).astype(np.float64)
    if dtype != "bfloat16":
        return np.asarray(array, dtype=np.float64)
    bits = np.asarray(array, dtype=np.float32).view(np.uint32).astype(np.uint64)
    kept = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16  # bfloat16 is float32's top 16 bits
    return kept.astype(np.uint32).view(np.float32).astype(np.float64)


class Jitter:
    """Multiplies floating arrays by (1 + u r), r uniform in [-1, 1], from one seeded stream per unit run;
    or, with `round_to`, rounds them to that dtype (as float64 values)."""

    def __init__(self, u: float, round_to: str | None = None):
        self.u, self.round_to = u, round_to
        self.rng = np.random.default_rng(0)

    def __bool__(self) -> bool:
        return self.u != 0.0 or self.round_to is not None

    def __call__(self, array: np.ndarray) -> np.ndarray:
        if not np.issubdtype(array.dtype, np.floating):
            return array
        if self.round_to is not None:
            return rounded_to(array, self.round_to)
        if self.u == 0.0:
            return array
        factor = 1.0 + self.u * self.rng.uniform(-1.0, 1.0, array.shape)
        return array.astype(np.float64) * factor  # the unit runs in float64: keep the perturbation
