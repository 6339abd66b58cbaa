"""Memory while comparing two dumps is bounded by the largest tensor pair, not by the run.

Peak allocations (tracemalloc, which sees numpy's buffers) of `compare_dumps` on a run four times longer
(more layers, more steps) stay about where they are for the short run, and within a small multiple of
the largest tensor; the dump files themselves are only mapped.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

import padiff
from tests.dumps import dump_pair
from tests.models import deep_tanh

WIDTH, BATCH = 256, 512  # activations of 512 KB, weights of 256 KB


def _peak(tmp_path, depth: int, steps: int) -> tuple[int, int]:
    """(peak bytes allocated while comparing, bytes of raw's tensor data)."""
    x = np.random.default_rng(0).standard_normal((BATCH, WIDTH)).astype(np.float32)
    base, raw = deep_tanh("torch", depth=depth, width=WIDTH), deep_tanh("paddle", depth=depth, width=WIDTH)
    folders = dump_pair(base, raw, x, tmp_path / f"{depth}-{steps}", steps=steps)
    padiff.compare_dumps(*folders)  # warm up: imports, caches
    tracemalloc.start()
    report = padiff.compare_dumps(*folders)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert report.passed, str(report)
    from padiff.dump.reader import open_dump

    return peak, open_dump(folders[1]).tensor_bytes()


def test_peak_memory_does_not_grow_with_the_run(tmp_path):
    short_peak, short_bytes = _peak(tmp_path, depth=2, steps=1)
    long_peak, long_bytes = _peak(tmp_path, depth=8, steps=4)
    largest = BATCH * WIDTH * 4
    assert long_bytes > 10 * short_bytes  # the long run holds far more tensor data ...
    assert long_peak < 1.5 * short_peak + 4 * largest  # ... but the comparison does not hold it
    assert long_peak < 16 * largest and long_peak < long_bytes / 3, (long_peak, largest, long_bytes)


def test_the_peak_measure_sees_held_arrays():
    """Negative control: tracemalloc sees numpy buffers, so holding the run would show."""
    tracemalloc.start()
    held = [np.ones(BATCH * WIDTH, np.float32) for _ in range(8)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak >= sum(a.nbytes for a in held)
