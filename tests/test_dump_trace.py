"""A dumped step answers the `Trace` questions exactly as the in-memory BaseTrace of the same run does.

Same entries (key, dtype, shared, gradient order), same arrays, output counts, gradient floor, loss
gradient scale and call arguments; parameter gradients, buffers before and after, updates and the
optimizer by state name. A LayerMap applied to a dump rewrites its calls as a run under that map would
have made them (ignored layers transparent, mapped layers opaque with their insides dropped).
"""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from padiff.capture.leaves import Slot
from padiff.capture.optim import optimizer_record
from padiff.capture.run import capture_run
from padiff.dump.reader import open_dump
from padiff.dump.trace import DumpStep, DumpTrace, PathPolicy
from padiff.frameworks.base import adapter_for
from padiff.judge.base_trace import BaseTrace
from padiff.judge.records import Where
from padiff.judge.trace import AFTER, BEFORE
from padiff.match.policy import LayerPolicy, with_sealed
from padiff.options import Side
from padiff.weights.plan import plan_state_pairs
from tests.models import build, example_input


def _live_trace(model, x):
    adapter = adapter_for(model)
    trace = BaseTrace(adapter)
    policy = with_sealed(adapter, LayerPolicy(), list(adapter.named_sublayers(model)))
    trace.record_buffers(BEFORE, model)
    capture_run(adapter, model, (adapter.from_numpy(x, requires_grad=True),), {}, trace, policy, None, "base")
    trace.finish()
    pairs, _ = plan_state_pairs(adapter, model, adapter, model)
    trace.record_param_grads(pairs)
    trace.record_buffers(AFTER, model)
    return adapter, trace, pairs


def _dumped_trace(folder) -> DumpTrace:
    return DumpTrace(DumpStep(open_dump(folder), 0, PathPolicy(), summary=False))


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("twin", ["cnn", "transformer"])
def test_a_dumped_step_answers_as_the_live_trace(twin, framework, tmp_path):
    x = example_input(twin)
    folder = padiff.dump(build(twin, framework), x, tmp_path / "d")
    _, live, _ = _live_trace(build(twin, framework), x)
    dumped = _dumped_trace(folder)

    def calls(trace):  # the root's call site is the line that called padiff, which differs here
        return [{**n.to_dict(), "site": n.site if n.parent is not None else ""} for n in trace.tree]

    assert calls(dumped) == calls(live)
    checked = 0
    for node in live.tree:
        assert dumped.output_count(node.id) == live.output_count(node.id)
        for where in Where:
            for index in range(8):
                a, b = live.tensor(where, node.id, index), dumped.tensor(where, node.id, index)
                assert (a is None) == (b is None), (node.path, where, index)
                if a is None:
                    continue
                assert (a.key, a.dtype, a.shared, a.order) == (b.key, b.dtype, b.shared, b.order)
                np.testing.assert_array_equal(live.array(a), dumped.array(b))
                checked += 1
        args = dumped.arguments(node.id)
        if live.arguments(node.id) is not None and not node.transparent:
            assert args is not None and any(
                isinstance(v, Slot) for v in args.args + tuple(args.kwargs.values())
            )
    assert checked > 30
    assert dumped.loss_grad_scale == live.loss_grad_scale
    assert dumped.grad_floor(None) == live.grad_floor(None) and dumped.grad_floor(1e-3) == live.grad_floor(
        1e-3
    )
    for when in (BEFORE, AFTER):
        assert set(dumped.buffers(when)) == set(live.buffers(when))
        for name, value in live.buffers(when).items():
            np.testing.assert_array_equal(dumped.buffers(when)[name], value)
    assert set(dumped.param_grads()) == set(live.param_grads())
    for name, value in live.param_grads().items():
        np.testing.assert_array_equal(dumped.param_grads()[name], value)


def test_updates_and_the_optimizer_by_state_name(tmp_path):
    import torch

    x = example_input("mlp")
    model = build("mlp", "torch")
    folder = padiff.dump(model, x, tmp_path / "d", optimizer=lambda ps: torch.optim.AdamW(ps, lr=1e-2))
    dumped = _dumped_trace(folder)
    twin = build("mlp", "torch")
    optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-2)
    adapter, live, pairs = _live_trace(twin, x)
    before = {n: p.detach().numpy().copy() for n, p in twin.named_parameters()}
    optimizer.step()
    after = {n: p.detach().numpy().copy() for n, p in twin.named_parameters()}
    live.record_update(
        before, after, optimizer_record(Side("base", adapter, twin, None, LayerPolicy(), optimizer), pairs)
    )
    assert set(dumped.updates()) == set(live.updates())
    for name, value in live.updates().items():
        np.testing.assert_array_equal(dumped.updates()[name], value)
        np.testing.assert_array_equal(
            dumped.weights_before_update()[name], live.weights_before_update()[name]
        )
    record, expected = dumped.optimizer(), live.optimizer()
    assert record is not None and expected is not None and record.kind == expected.kind == "AdamW"
    assert record.settings["lr"] == pytest.approx(1e-2)
    for name, state in expected.state.items():
        for key, value in state.items():
            np.testing.assert_array_equal(record.state[name][key], value)


def test_a_layer_map_rewrites_the_dumped_calls(tmp_path):
    folder = padiff.dump(build("transformer", "torch"), example_input("transformer"), tmp_path / "d")
    dump = open_dump(folder)
    plain = DumpTrace(DumpStep(dump, 0, PathPolicy(), summary=False))
    policy = PathPolicy(skipped=frozenset({"blocks.0.attn.q", "blocks.0.attn.k"}), transparent=frozenset({"blocks.0.ln1"}),
                        opaque=frozenset({"blocks.0.attn"}))  # fmt: skip
    mapped = DumpTrace(DumpStep(dump, 0, policy, summary=False))
    paths = [n.path for n in mapped.tree]
    assert "blocks.0.attn.q" not in paths and "blocks.0.attn.v" in paths and len(paths) == len(plain.tree) - 2
    attn = next(n for n in mapped.tree if n.path == "blocks.0.attn")
    ln1 = next(n for n in mapped.tree if n.path == "blocks.0.ln1")
    assert attn.opaque and ln1.transparent
    assert mapped.tensor(Where.OUTPUT, ln1.id, 0) is None  # a transparent call keeps no tensors
    assert all(mapped.tree[c].parent == attn.id for c in attn.children)
    assert [mapped.tree[i].path for i in range(len(mapped.tree))] == paths  # ids renumbered in call order
