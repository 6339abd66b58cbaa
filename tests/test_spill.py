"""The base trace's overflow file: arrays come back bit-identical, and verdicts do not depend on it."""

from __future__ import annotations

import numpy as np
import pytest

from padiff.judge import spill
from padiff.judge.spill import ArrayStore
from tests.checks import assert_compared
from tests.models import build, example_input


def test_arrays_round_trip_through_the_file():
    store = ArrayStore(memory_budget=80)
    small = np.arange(10, dtype=np.int64)  # 80 bytes: stays in memory
    big = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    half = np.linspace(0, 1, 9, dtype=np.float16).reshape(3, 3)
    handles = [store.put(a) for a in (small, big, half)]
    assert handles[0] is small
    assert store.spilled == big.nbytes + half.nbytes
    for handle, original in zip(handles, (small, big, half)):
        back = store.get(handle)
        assert back.dtype == original.dtype and back.shape == original.shape
        assert np.array_equal(back, original)
    store.close()
    with pytest.raises(ValueError):
        store.get(handles[1])


@pytest.mark.parametrize("plant", [None, "activation"])
def test_verdict_is_the_same_when_everything_spills(monkeypatch, plant):
    import padiff

    x = example_input("mlp")
    reports = []
    for budget in (spill.DEFAULT_MEMORY_BUDGET, 0):
        monkeypatch.setattr(spill, "DEFAULT_MEMORY_BUDGET", budget)
        base = build("mlp", "torch")
        reports.append(padiff.compare(base, build("mlp", "paddle", plant=plant, seed=1), x))
    in_memory, on_disk = reports
    assert in_memory.passed == on_disk.passed == (plant is None)
    if plant is None:
        assert_compared(in_memory, base)
        assert_compared(on_disk, base)
    assert [d.diff.max_abs for d in in_memory.diffs] == [d.diff.max_abs for d in on_disk.diffs]
    assert any("temporary file" in note for note in on_disk.notes)
    assert not any("temporary file" in note for note in in_memory.notes)
    if plant:
        assert on_disk.first_diff.raw_path == "act1"
