"""add_special_init registrations: for the process as in padiff 0.2.0, or scoped to a `with` block."""

from __future__ import annotations

import numpy as np
import paddle
import torch

import padiff
from padiff.weights.registry import special_init_for
from tests.checks import assert_compared
from tests.models import fc_act_head


def _models():
    torch.manual_seed(0)
    paddle.seed(1)
    x = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    return fc_act_head("torch"), fc_act_head("paddle"), x


def _mapped_fc(module, layer) -> padiff.LayerMap:
    layer_map = padiff.LayerMap()
    layer_map.map = {layer.fc: module.fc}
    return layer_map


def _copy(calls: list):
    def init(paddle_layer, torch_module):
        calls.append(type(torch_module).__name__)
        paddle_layer.weight.set_value(torch_module.weight.detach().numpy().T)
        paddle_layer.bias.set_value(torch_module.bias.detach().numpy())

    return init


def test_a_scoped_registration_is_used_inside_its_block_only():
    calls: list = []
    module, layer, x = _models()
    with padiff.add_special_init("Linear", "Linear", _copy(calls)):
        assert special_init_for("Linear", "Linear") is not None
        report = padiff.compare(module, layer, x, layer_map=_mapped_fc(module, layer))
        assert report.passed and calls  # fc (mapped) and head (its classes) are copied by it
        assert_compared(report, module)
    used = len(calls)
    assert special_init_for("Linear", "Linear") is None
    padiff.compare(module, layer, x, layer_map=_mapped_fc(module, layer))
    assert len(calls) == used  # not called again once the block is left


def test_leaving_an_inner_block_brings_back_the_outer_registration():
    outer_calls: list = []
    with padiff.add_special_init("Linear", "Linear", _copy(outer_calls)) as outer:
        with padiff.add_special_init("Linear", "Linear", _copy([])):
            assert special_init_for("Linear", "Linear").func is not outer.init.func
        assert special_init_for("Linear", "Linear") is outer.init
    assert special_init_for("Linear", "Linear") is None


def test_an_unscoped_registration_lasts_until_removed():
    registration = padiff.add_special_init("Conv2D", "Conv2d", _copy([]))
    try:
        assert special_init_for("Conv2D", "Conv2d") is registration.init
    finally:
        registration.remove()
    assert special_init_for("Conv2D", "Conv2d") is None
    registration.remove()  # a second removal changes nothing
    assert special_init_for("Conv2D", "Conv2d") is None
