"""Capture keeps nothing alive that the run itself would free.

A layer's output that autograd does not save (it only feeds a product with a constant) is freed by a
bare run as soon as the next op has read it. padiff watches each output's gradient with a hook on that
tensor; the hook must not hold the tensor, or every such output (dropout outputs, residual sums, whole
attention outputs) stays in memory until the run ends.
"""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from padiff.capture.run import capture_run
from padiff.capture.sink import NullSink
from padiff.frameworks.base import adapter_for
from padiff.match.policy import LayerPolicy


def _chain(framework: str, seen: list[bool]):
    """Two Linears; between them the first's output is only scaled. `seen` gets, after the second layer
    has run, whether the first's output tensor is still alive."""
    if framework == "torch":
        import torch.nn as nn

        base, linear = nn.Module, nn.Linear
    else:
        import paddle.nn as nn

        base, linear = nn.Layer, nn.Linear

    class Chain(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = linear(4, 4), linear(4, 4)
            self.first: list = []

        def forward(self, x):
            out = self.b(self.a(x) * 2.0)  # autograd keeps no reference to a's output
            seen.append(self.first.pop()() is not None)
            return out

    model = Chain()
    hook = lambda layer, args, output: model.first.append(weakref.ref(output))  # noqa: E731
    if framework == "torch":
        model.a.register_forward_hook(hook)
    else:
        model.a.register_forward_post_hook(hook)
    return model


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_layer_output_autograd_does_not_keep_is_freed_during_the_run(framework):
    seen: list[bool] = []
    model = _chain(framework, seen)
    adapter = adapter_for(model)
    x = adapter.from_numpy(np.ones((2, 4), dtype=np.float32), requires_grad=True)
    model(x)  # control: a bare forward frees it
    capture_run(adapter, model, (x,), {}, NullSink(), LayerPolicy(), None, "base")
    assert seen == [False, False]
