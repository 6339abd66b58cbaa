"""The Trace query API: what a recorded base run answers, and that the comparer needs nothing else.

A recorded call's arguments are enough to call that layer again alone; parameter gradients, buffers and
optimizer state are answered by name; and a trace that answers the same questions from .npy files (a
stand-in for a dump on disk) gives the comparer exactly the verdicts the in-memory trace gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from padiff.capture.leaves import fill
from padiff.capture.optim import optimizer_record
from padiff.capture.run import capture_run
from padiff.frameworks.base import adapter_for
from padiff.judge.base_trace import BaseTrace
from padiff.judge.records import Where
from padiff.judge.stream import RawComparer
from padiff.judge.tolerance import Tolerances
from padiff.judge.trace import AFTER, BEFORE, Stored
from padiff.match.align import Aligner
from padiff.match.policy import LayerPolicy
from padiff.options import Side
from padiff.weights.plan import plan_state_pairs
from tests.models import build, example_input


def _record(model, x: np.ndarray) -> tuple[object, BaseTrace]:
    adapter = adapter_for(model)
    trace = BaseTrace(adapter)
    capture_run(
        adapter, model, (adapter.from_numpy(x, requires_grad=True),), {}, trace, LayerPolicy(), None, "base"
    )
    trace.finish()
    return adapter, trace


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("twin", ["transformer", "cnn"])
def test_each_call_can_be_made_again_alone_from_its_recorded_arguments(twin, framework):
    model = build(twin, framework)
    model.eval()
    adapter, trace = _record(model, example_input(twin))
    layers = dict(adapter.named_sublayers(model))
    called = 0
    for node in trace.tree:
        arguments = trace.arguments(node.id)
        if node.transparent or arguments is None or node.parent is None:
            continue
        inputs = [trace.tensor(Where.INPUT, node.id, i) for i in range(len(node.inputs))]
        tensors = [adapter.from_numpy(trace.array(stored)) for stored in inputs]
        args, kwargs = fill((arguments.args, arguments.kwargs), tensors)
        output = layers[node.path](*args, **kwargs)
        recorded = trace.array(trace.tensor(Where.OUTPUT, node.id, 0))
        np.testing.assert_allclose(
            adapter.to_numpy(output), recorded, rtol=1e-5, atol=1e-6, err_msg=node.path
        )
        called += 1
    assert called >= 8
    trace.close()


def test_parameter_gradients_are_answered_by_state_name():
    base, raw = build("mlp", "torch"), build("mlp", "paddle")
    adapter, trace = _record(base, example_input("mlp"))
    pairs, _ = plan_state_pairs(adapter, base, adapter_for(raw), raw)
    trace.record_param_grads(pairs)
    grads = trace.param_grads()
    assert set(grads) == {name for name, _ in base.named_parameters()}
    for name, param in base.named_parameters():
        np.testing.assert_array_equal(grads[name], param.grad.numpy())


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_buffers_before_and_after_show_what_a_train_mode_run_moved(framework):
    model = build("cnn", framework)
    adapter, trace = _record(model, example_input("cnn"))
    trace.record_buffers(BEFORE, model)  # after the run: as it is now
    model.eval()
    _, again = _record(model, example_input("cnn"))
    again.record_buffers(AFTER, model)
    names = [n for n in again.buffers(AFTER) if "mean" in n]
    assert names and all(np.array_equal(trace.buffers(BEFORE)[n], again.buffers(AFTER)[n]) for n in names)
    model.train()
    adapter, moved = _record(model, example_input("cnn"))
    before = {n: v.copy() for n, v in again.buffers(AFTER).items()}
    moved.record_buffers(AFTER, model)
    assert any(not np.array_equal(before[n], moved.buffers(AFTER)[n]) for n in names)  # train mode moves them


def _adamw(framework: str, model):
    if framework == "torch":
        import torch

        return torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    import paddle

    return paddle.optimizer.AdamW(learning_rate=1e-3, parameters=model.parameters(), weight_decay=0.01)


@pytest.mark.parametrize("framework, settings, moments", [
    ("torch", {"lr": 1e-3, "weight_decay": 0.01, "eps": 1e-8}, {"exp_avg", "exp_avg_sq"}),
    ("paddle", {"learning_rate": 1e-3, "weight_decay": 0.01, "epsilon": 1e-8}, {"moment1", "moment2"}),
])  # fmt: skip
def test_the_optimizer_is_recorded_with_its_settings_and_per_parameter_state(framework, settings, moments):
    model = build("mlp", framework)
    optimizer = _adamw(framework, model)
    adapter, trace = _record(model, example_input("mlp"))
    adapter.optimizer_step(optimizer)
    pairs, _ = plan_state_pairs(adapter, model, adapter, model)
    record = optimizer_record(Side("base", adapter, model, None, LayerPolicy(), optimizer), pairs)
    assert record is not None and record.kind == "AdamW"
    for key, value in settings.items():
        assert record.settings[key] == pytest.approx(value), (key, record.settings)
    shapes = {name: tuple(adapter.shape(t)) for name, t in adapter.all_state(model)}
    assert set(record.state) == set(shapes)
    for name, state in record.state.items():
        assert moments <= set(state), (name, sorted(state))
        assert all(state[m].shape == shapes[name] for m in moments)


class NpyTrace:
    """The Trace questions answered from .npy files, written through the Trace questions themselves."""

    def __init__(self, trace: BaseTrace, folder: Path):
        self.tree, self.loss_grad_scale, self._source = trace.tree, trace.loss_grad_scale, trace
        self._stored: dict[tuple, Stored] = {}
        self._counts = {node.id: trace.output_count(node.id) for node in trace.tree}
        for node in trace.tree:
            events = [(Where.INPUT, i) for i in range(len(node.inputs))]
            events += [(w, i) for w in (Where.OUTPUT, Where.GRAD_OUT) for i in range(self._counts[node.id])]
            events += [(Where.GRAD_IN, i) for i in range(len(node.inputs))]
            for where, index in events:
                stored = trace.tensor(where, node.id, index)
                if stored is not None:
                    path = folder / f"{where.value}-{node.id}-{index}.npy"
                    np.save(path, trace.array(stored), allow_pickle=False)
                    self._stored[(where, node.id, index)] = Stored(
                        stored.key, path, stored.dtype, stored.shared, stored.order
                    )

    def tensor(self, where, node_id, index):
        return self._stored.get((where, node_id, index))

    def array(self, stored):
        return np.load(stored.handle, allow_pickle=False)

    def release(self, where, node_id, index):
        return None

    def output_count(self, node_id):
        return self._counts.get(node_id, 0)

    def arguments(self, node_id):
        return None

    def grad_floor(self, rtol):
        return self._source.grad_floor(rtol)

    def param_grads(self):
        return {}

    def buffers(self, when):
        return {}

    def weights_before_update(self):
        return {}

    def updates(self):
        return {}

    def optimizer(self):
        return None


def _compared(trace, raw, x) -> list:
    adapter = adapter_for(raw)
    comparer = RawComparer(adapter, trace, Aligner(trace.tree), Tolerances(), keep_base=True)
    capture_run(
        adapter, raw, (adapter.from_numpy(x, requires_grad=True),), {}, comparer, LayerPolicy(), None, "raw"
    )
    comparer.finish()
    return comparer.forward + comparer.backward


@pytest.mark.parametrize("plant", [None, "softmax_axis"])
def test_the_comparer_reads_base_only_through_the_trace_questions(tmp_path, plant):
    base = build("transformer", "torch")
    raw = build("transformer", "paddle", plant=plant, seed=1)
    x = example_input("transformer")
    pairs, _ = plan_state_pairs(adapter_for(base), base, adapter_for(raw), raw)
    for pair in pairs:
        adapter_for(raw).assign(pair.raw_tensor, pair.base_value(adapter_for(base)))
    _, trace = _record(base, x)
    from_memory = _compared(trace, raw, x)
    from_files = _compared(NpyTrace(trace, tmp_path), raw, x)
    assert len(from_memory) >= 40 and len(from_files) == len(from_memory)
    for memory, files in zip(from_memory, from_files):
        assert (memory.key, memory.diff.passed, memory.diff.max_abs) == (
            files.key,
            files.diff.passed,
            files.diff.max_abs,
        )
    assert all(d.passed for d in from_files) is (plant is None)  # negative control: the plant is seen
