"""The base trace's overflow file: arrays come back bit-identical, and verdicts do not depend on it;
`memory_budget=` decides what spills, and by default it is a share of the available RAM."""

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


def test_spilled_arrays_are_writable_maps_of_the_file_and_stay_valid():
    store = ArrayStore(memory_budget=0)
    arrays = [np.full((3, 1000), i, dtype=np.float32) for i in range(5)]  # offsets not on page bounds
    handles = [store.put(a) for a in arrays]
    back = [store.get(h) for h in handles]
    for got, original in zip(back, arrays):
        assert np.array_equal(got, original)
    back[2][0, 0] = 99.0  # a private copy-on-write view: the stored bytes do not change
    assert store.get(handles[2])[0, 0] == 2.0
    assert store.get(store.put(np.empty((0, 4), dtype=np.float32))).shape == (0, 4)
    store.close()


def test_the_budget_decides_what_stays_in_memory():
    store = ArrayStore(memory_budget=100)
    first, second, third = (np.zeros(10, dtype=np.float32) for _ in range(3))  # 40 bytes each
    assert store.put(first) is first and store.put(second) is second
    assert not isinstance(store.put(third), np.ndarray)  # 120 bytes would pass the budget
    assert (store.in_memory, store.spilled) == (80, 40)
    store.close()


def test_the_default_budget_is_a_share_of_the_available_memory(monkeypatch):
    monkeypatch.setattr(spill, "available_memory", lambda: 8 * 2**30)
    assert spill.default_memory_budget() == int(spill.BUDGET_SHARE * 8 * 2**30) == 2 * 2**30
    assert ArrayStore().memory_budget == 2 * 2**30


def test_available_memory_is_read_from_the_os():
    assert 0 < spill.available_memory() < 1 << 50


@pytest.mark.parametrize("budget", [-1, 1.5, "1GB", True])
def test_a_bad_budget_is_an_input_error(budget):
    import padiff

    with pytest.raises(padiff.InputError, match="memory_budget"):
        padiff.compare(
            build("mlp", "torch"), build("mlp", "paddle"), example_input("mlp"), memory_budget=budget
        )


@pytest.mark.parametrize("plant", [None, "activation"])
def test_verdict_is_the_same_when_everything_spills(plant):
    import padiff

    x = example_input("mlp")
    reports = []
    for budget in (None, 0):
        base = build("mlp", "torch")
        raw = build("mlp", "paddle", plant=plant, seed=1)
        reports.append(padiff.compare(base, raw, x, memory_budget=budget))
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


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_parameter_gradients_count_towards_the_budget_and_spill(framework):
    """Base's parameter gradients are part of its trace: past the budget they go to the file too (a
    model's gradients weigh as much as its weights), and read back the same."""
    from padiff.capture.run import capture_run
    from padiff.frameworks.base import adapter_for
    from padiff.judge.base_trace import BaseTrace
    from padiff.match.policy import LayerPolicy
    from padiff.weights.plan import plan_state_pairs

    model = build("mlp", framework)
    adapter = adapter_for(model)
    pairs, _ = plan_state_pairs(adapter, model, adapter, model)
    recorded = []
    for budget in (None, 0):
        adapter.take_grads(list(adapter.parameters(model)))  # each run's gradients from zero
        trace = BaseTrace(adapter, budget)
        x = adapter.from_numpy(example_input("mlp"), requires_grad=True)
        capture_run(adapter, model, (x,), {}, trace, LayerPolicy(), None, "base")
        spilled = trace.store.spilled
        trace.record_param_grads(pairs)
        grads = {key: np.array(value) for key, value in trace.param_grads().items()}
        recorded.append((trace.store.spilled - spilled, grads))
        trace.close()
    (kept, in_memory), (written, on_disk) = recorded
    assert kept == 0 and written == sum(a.nbytes for a in in_memory.values()) > 0
    assert in_memory.keys() == on_disk.keys() and len(in_memory) == len(list(adapter.parameters(model)))
    for key, value in in_memory.items():
        np.testing.assert_array_equal(on_disk[key], value)
