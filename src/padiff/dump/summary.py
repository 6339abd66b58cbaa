"""Per-tensor statistics kept instead of tensors (`summary_only=True`), and the rule that judges them.

A summary of a tensor of n elements is, in float64: its values at up to SAMPLES flat indices, then its
min, max, mean and L2 norm. The indices are drawn from a generator seeded with (SEED, n), so both sides
of a comparison sample the same positions of tensors of the same size, in any process. An empty tensor
has an empty summary.

Rule: a summarised pair is judged exactly as a pair of tensors would be (`metrics.compare_arrays`, the
dtype's tolerance, the run's floors), applied to the vector [samples..., min, max, mean, rms] of each
side, where rms = L2 / sqrt(n) puts the norm on the scale of the values. The pair's shapes are the
tensors' real shapes; a pair whose element counts differ (and do not broadcast) fails as a shape
mismatch. The pair's note says it was judged on summary statistics. A summary misses differences at
positions it did not sample that leave the statistics within tolerance: it is a screen, not a proof.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SAMPLES", "SEED", "sample_indices", "summarize", "judging_vector", "STATS"]

SAMPLES = 64
SEED = 0x9ADDF
STATS = 4  # min, max, mean, L2 norm


def sample_indices(count: int) -> np.ndarray:
    """The flat indices sampled in a tensor of `count` elements (all of them when it is small)."""
    if count <= SAMPLES:
        return np.arange(count)
    rng = np.random.default_rng([SEED, count])
    return np.sort(rng.choice(count, SAMPLES, replace=False))


def summarize(array: np.ndarray) -> np.ndarray:
    """The stored summary of `array` (see the module docstring)."""
    flat = np.asarray(array).reshape(-1)
    if flat.size == 0:
        return np.zeros(0, np.float64)
    values = flat.astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        stats = [values.min(), values.max(), values.mean(), np.sqrt(np.dot(values, values))]
    return np.concatenate([values[sample_indices(flat.size)], np.asarray(stats, np.float64)])


def judging_vector(summary: np.ndarray, count: int) -> np.ndarray:
    """The vector a summarised tensor of `count` elements is judged on: the norm replaced by the rms."""
    if summary.size == 0 or count == 0:
        return np.zeros(0, np.float64)
    out = np.array(summary, dtype=np.float64, copy=True)
    with np.errstate(all="ignore"):
        out[-1] = out[-1] / np.sqrt(count)
    return out
