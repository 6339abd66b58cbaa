"""Raw's tensors are read in place, without a copy, when they are compared at once (`Adapter.peek`);
what is kept past that moment (a failing pair's raw value, for the float64 judge) is a copy.

A model may change a layer's output in place after the layer has returned (`h.mul_(0)` below): a kept
view would then hand the judge values raw never computed at that layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from padiff.capture.run import capture_run
from padiff.frameworks.base import PEEK_MIN, adapter_for
from padiff.judge.base_trace import BaseTrace
from padiff.judge.records import Where
from padiff.judge.stream import RawComparer
from padiff.judge.tolerance import Tolerances
from padiff.match.align import Aligner
from padiff.match.policy import LayerPolicy

WIDTH = 256  # a's output, [WIDTH, WIDTH], is large enough to be read in place
X = np.random.default_rng(0).standard_normal((WIDTH, WIDTH)).astype(np.float32)


def _pair(framework: str, scale: float, zero_after: bool):
    """`a` then `b`; `scale` plants a difference in `a`'s weight; `zero_after` zeroes `a`'s output in
    place once `b` has read a copy of it."""
    if framework == "torch":
        import torch.nn as nn

        base, linear = nn.Module, nn.Linear
    else:
        import paddle.nn as nn

        base, linear = nn.Layer, nn.Linear

    class Pair(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = linear(WIDTH, WIDTH), linear(WIDTH, 2)

        def forward(self, x):
            h = self.a(x)
            out = self.b(h * 1.0)
            if zero_after:
                _zero(h)
            return out

    model = Pair()
    adapter = adapter_for(model)
    for name, tensor in adapter.all_state(model):  # the same weights in both frameworks' layouts
        shape = adapter.shape(tensor)
        values = np.linspace(-0.1, 0.1, int(np.prod(shape)), dtype=np.float32).reshape(shape)
        adapter.assign(tensor, values * (scale if name == "a.weight" else 1.0))
    return model


def _zero(tensor) -> None:
    """Zero a tensor's values in place, behind autograd's back."""
    tensor.detach().scale_(0.0) if hasattr(tensor, "scale_") else tensor.detach().mul_(0)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_peek_reads_a_large_cpu_tensor_in_place_and_copies_a_small_one(framework):
    adapter = adapter_for(_pair(framework, 1.0, False))
    assert X.size >= PEEK_MIN
    large, small = adapter.from_numpy(X.copy()), adapter.from_numpy(X[:2].copy())
    views = adapter.peek(large), adapter.peek(small)
    np.testing.assert_array_equal(views[0], X)
    copy = adapter.to_numpy(large)
    _zero(large)
    _zero(small)
    assert not views[0].any() and copy.any()  # the view follows the tensor, to_numpy's copy does not
    np.testing.assert_array_equal(views[1], X[:2])  # a small tensor: a copy costs less than a view


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_failing_raw_value_is_kept_as_raw_computed_it(framework):
    base = _pair(framework, 1.0, False)
    adapter = adapter_for(base)
    trace = BaseTrace(adapter)
    capture_run(
        adapter, base, (adapter.from_numpy(X, requires_grad=True),), {}, trace, LayerPolicy(), None, "base"
    )
    trace.finish()
    kept = {}
    for zero_after in (False, True):
        raw = _pair(framework, 1.5, zero_after)
        comparer = RawComparer(adapter, trace, Aligner(trace.tree), Tolerances(), keep_base=True)
        comparer.failing = {}
        capture_run(
            adapter,
            raw,
            (adapter.from_numpy(X, requires_grad=True),),
            {},
            comparer,
            LayerPolicy(),
            None,
            "raw",
        )
        comparer.finish()
        kept[zero_after] = next(
            v for k, v in comparer.failing.items() if k[0] is Where.OUTPUT and k[3] == "out"
        )
    assert kept[False].any()
    np.testing.assert_array_equal(kept[True], kept[False])  # zeroed afterwards, kept as it was
