"""Weight transfer: padiff.assign_weight (0.2.0 API) and padiff.compare(init_weights=True)."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.harm import same_state, state_of
from tests.models import build, example_input, kit, named_apart, tagged

RNG = np.random.default_rng(7)


def _t2n(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def _p2n(tensor: paddle.Tensor) -> np.ndarray:
    return np.array(tensor.numpy())


def _randomize_torch(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Non-default values everywhere (default inits of norms/PReLU are equal in both frameworks)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.rand(param.shape, generator=gen) * 2 - 1)
        for name, buffer in module.named_buffers():
            if name.endswith("running_var"):
                buffer.copy_(torch.rand(buffer.shape, generator=gen) + 0.5)
            elif buffer.is_floating_point():
                buffer.copy_(torch.rand(buffer.shape, generator=gen) - 0.5)
    return module


def test_square_linear_is_transposed_by_type():
    module = _randomize_torch(torch.nn.Linear(16, 16))
    layer = paddle.nn.Linear(16, 16)
    assert padiff.assign_weight(layer, module) is True
    torch_weight = _t2n(module.weight)
    assert np.array_equal(_p2n(layer.weight), torch_weight.T)
    assert np.array_equal(_p2n(layer.bias), _t2n(module.bias))
    # negative control: an untransposed copy (what transposing by shape does for a square matrix) differs
    assert not np.array_equal(torch_weight, torch_weight.T)
    assert not np.array_equal(_p2n(layer.weight), torch_weight)
    x = RNG.standard_normal((3, 16)).astype(np.float32)
    np.testing.assert_allclose(
        _p2n(layer(paddle.to_tensor(x))), _t2n(module(torch.tensor(x))), rtol=1e-5, atol=1e-6
    )


def test_compare_transposes_the_square_linear_of_the_mlp_twin():
    base, raw = build("mlp", "torch", seed=1), build("mlp", "paddle", seed=2)
    report = padiff.compare(base, raw, example_input("mlp"), keep_weights=True)  # to see the copy
    assert report.passed, str(report)
    assert_compared(report, base)
    assert np.array_equal(_p2n(raw.fc2.weight), _t2n(base.fc2.weight).T)
    # negative control: without the transfer the twins (different seeds) disagree
    base, raw = build("mlp", "torch", seed=1), build("mlp", "paddle", seed=2)
    assert not padiff.compare(base, raw, example_input("mlp"), init_weights=False).passed


# --- other layer types: exact copies ---------------------------------------------------------------


def _pair(kind: str):
    """(torch module, paddle layer, input array) for one layer kind."""
    if kind == "conv2d":
        pair = torch.nn.Conv2d(3, 4, 3, padding=1), paddle.nn.Conv2D(3, 4, 3, padding=1)
        x = RNG.standard_normal((2, 3, 6, 6)).astype(np.float32)
    elif kind == "embedding":
        pair = torch.nn.Embedding(20, 6), paddle.nn.Embedding(20, 6)
        x = RNG.integers(0, 20, size=(2, 5)).astype(np.int64)
    elif kind == "layernorm":
        pair = torch.nn.LayerNorm(8), paddle.nn.LayerNorm(8)
        x = RNG.standard_normal((3, 8)).astype(np.float32)
    elif kind == "groupnorm":
        pair = torch.nn.GroupNorm(2, 6), paddle.nn.GroupNorm(2, 6)
        x = RNG.standard_normal((2, 6, 4, 4)).astype(np.float32)
    elif kind == "prelu":
        pair = torch.nn.PReLU(5), paddle.nn.PReLU(5)
        x = RNG.standard_normal((2, 5, 3)).astype(np.float32)
    elif kind == "batchnorm2d":
        pair = torch.nn.BatchNorm2d(4), paddle.nn.BatchNorm2D(4)
        x = RNG.standard_normal((2, 4, 3, 3)).astype(np.float32)
    else:
        raise ValueError(kind)
    module, layer = pair
    module.eval()
    layer.eval()
    return _randomize_torch(module, seed=len(kind)), layer, x


def _outputs(module, layer, x):
    return _t2n(module(torch.tensor(x))), _p2n(layer(paddle.to_tensor(x)))


KINDS = ["conv2d", "embedding", "layernorm", "groupnorm", "prelu", "batchnorm2d"]


@pytest.mark.parametrize("kind", KINDS)
def test_layer_weights_copied_exactly(kind):
    module, layer, x = _pair(kind)
    torch_out, paddle_out = _outputs(module, layer, x)
    assert not np.allclose(torch_out, paddle_out, rtol=1e-3, atol=1e-4)  # negative control: before transfer
    padiff.assign_weight(layer, module)
    torch_values = [_t2n(p) for p in module.parameters()]
    paddle_values = [_p2n(p) for p in layer.parameters() if not p.stop_gradient]
    assert len(torch_values) == len(paddle_values)
    for torch_value, paddle_value in zip(torch_values, paddle_values):
        assert np.array_equal(torch_value.reshape(paddle_value.shape), paddle_value)
    torch_out, paddle_out = _outputs(module, layer, x)
    np.testing.assert_allclose(paddle_out, torch_out, rtol=1e-5, atol=1e-5)


def test_batchnorm_running_stats_go_to_mean_and_variance():
    module, layer, _ = _pair("batchnorm2d")
    assert not np.array_equal(_p2n(layer._mean), _t2n(module.running_mean))
    padiff.assign_weight(layer, module)
    assert np.array_equal(_p2n(layer._mean), _t2n(module.running_mean))
    assert np.array_equal(_p2n(layer._variance), _t2n(module.running_var))
    assert np.array_equal(_p2n(layer.weight), _t2n(module.weight))
    assert np.array_equal(_p2n(layer.bias), _t2n(module.bias))


@pytest.mark.parametrize("kind", ["conv2d", "layernorm", "batchnorm2d"])
def test_compare_passes_after_transfer_and_fails_without(kind):
    module, layer, x = _pair(kind)
    assert not padiff.compare(module, layer, x, init_weights=False).passed
    report = padiff.compare(module, layer, x)
    assert report.passed, str(report)
    assert_compared(report, module)


# --- same framework on both sides -------------------------------------------------------------------


def _set_running_means(model, value: float) -> None:
    """Non-default BatchNorm statistics (running_mean in torch, _mean in paddle)."""
    k = kit("torch" if isinstance(model, torch.nn.Module) else "paddle")
    for layer in k.sublayers(model):
        for name, tensor in k.direct_state(layer):
            if name in ("running_mean", "_mean"):
                k.assign(tensor, np.full(tuple(tensor.shape), value, dtype=np.float32))


@pytest.mark.parametrize("twin", ["mlp", "cnn"])
@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_copy_within_one_framework_is_not_transposed(framework, twin):
    base = build(twin, framework, seed=1)
    raw = build(twin, framework, seed=2)
    if twin == "cnn":
        base.eval()
        raw.eval()
        _set_running_means(base, 0.3)
    x = example_input(twin)
    assert not padiff.compare(base, raw, x, init_weights=False).passed
    report = padiff.compare(base, raw, x, keep_weights=True)  # to see the copy
    assert report.passed, str(report)
    assert_compared(report, base)
    assert same_state(state_of(base), state_of(raw))
    if twin == "mlp":  # square: a transposed copy would differ
        assert np.array_equal(state_of(raw)["fc2.weight"], state_of(base)["fc2.weight"])


# --- mismatches ---------------------------------------------------------------------------------------


def _expect_transfer_error(module, layer, base_path: str, raw_path: str, *words: str) -> str:
    before = state_of(layer)
    with pytest.raises(padiff.WeightTransferError) as caught:
        padiff.assign_weight(layer, module)
    message = str(caught.value)
    assert f"'{base_path}'" in message and f"'{raw_path}'" in message, message
    for word in words:
        assert word in message, message
    assert "hint:" in message
    assert isinstance(caught.value, padiff.PadiffError)
    assert same_state(before, state_of(layer)), "nothing may be written before the check fails"
    return message


def test_different_layer_counts_raise():
    module = tagged("torch", torch.nn.Linear(4, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    layer = tagged("paddle", paddle.nn.Linear(4, 4), paddle.nn.Linear(4, 4))
    message = _expect_transfer_error(module, layer, "t_extra", "p_second", "3 layers", "has 2")
    assert "<--- HERE" in message


def test_missing_bias_on_one_side_raises():
    module = tagged("torch", torch.nn.Linear(4, 4, bias=False), torch.nn.Linear(4, 4))
    layer = tagged("paddle", paddle.nn.Linear(4, 4), paddle.nn.Linear(4, 4))
    _expect_transfer_error(module, layer, "t_first", "p_first", "bias")
    module = tagged("torch", torch.nn.Linear(4, 4), torch.nn.Linear(4, 4))
    layer = tagged("paddle", paddle.nn.Linear(4, 4), paddle.nn.Linear(4, 4, bias_attr=False))
    _expect_transfer_error(module, layer, "t_second", "p_second", "bias")


def test_weight_shape_mismatch_raises():
    module = tagged("torch", torch.nn.Linear(4, 6), torch.nn.Linear(6, 2))
    layer = tagged("paddle", paddle.nn.Linear(4, 5), paddle.nn.Linear(5, 2))
    _expect_transfer_error(
        module, layer, "t_first.weight", "p_first.weight", "shape mismatch", "[4, 6]", "[4, 5]"
    )


def test_conv_versus_linear_at_the_same_position_raises():
    module = tagged("torch", torch.nn.Conv2d(4, 4, 1), torch.nn.Linear(4, 4))
    layer = tagged("paddle", paddle.nn.Linear(4, 4), paddle.nn.Linear(4, 4))
    _expect_transfer_error(module, layer, "t_first", "p_first", "Conv2d", "Linear")


def test_matching_models_do_not_raise():
    """Negative control for the mismatch tests: the same containers with matching layers transfer."""
    module = _randomize_torch(tagged("torch", torch.nn.Linear(4, 6), torch.nn.Linear(6, 2)))
    layer = tagged("paddle", paddle.nn.Linear(4, 6), paddle.nn.Linear(6, 2))
    assert padiff.assign_weight(layer, module)
    assert np.array_equal(_p2n(layer.p_first.weight), _t2n(module.t_first.weight).T)


def test_compare_raises_weight_transfer_error_too():
    module = tagged("torch", torch.nn.Linear(4, 6), torch.nn.Linear(6, 2))
    layer = tagged("paddle", paddle.nn.Linear(4, 5), paddle.nn.Linear(5, 2))
    with pytest.raises(padiff.WeightTransferError):
        padiff.compare(module, layer, np.ones((2, 4), dtype=np.float32))


# --- base untouched; pairing by definition order --------------------------------------------------


def test_base_parameters_and_buffers_are_bit_identical_after_transfer_and_compare():
    base = _randomize_torch(build("cnn", "torch", seed=3))
    base.train()  # BatchNorm updates its running stats in train mode; padiff must put them back
    before = state_of(base)
    raw = build("cnn", "paddle", seed=4)
    padiff.assign_weight(raw, base)
    assert same_state(before, state_of(base))
    report = padiff.compare(base, raw, example_input("cnn"))
    assert report.passed, str(report)
    assert_compared(report, base)
    assert same_state(before, state_of(base))
    assert all(p.grad is None for p in base.parameters())
    assert base.training and all(m.training for m in base.modules())
    # negative control: a plain train-mode forward does move the statistics that padiff restored
    base(torch.tensor(example_input("cnn")))
    assert not same_state(before, state_of(base))


def test_differently_named_layers_pair_by_definition_order():
    module = _randomize_torch(named_apart("torch"))
    layer = named_apart("paddle")
    padiff.assign_weight(layer, module)
    assert np.array_equal(_p2n(layer.first.weight), _t2n(module.zeta.weight).T)
    assert np.array_equal(_p2n(layer.second.weight), _t2n(module.alpha.weight).T)
    assert np.array_equal(_p2n(layer.second.bias), _t2n(module.alpha.bias))
    report = padiff.compare(module, named_apart("paddle"), RNG.standard_normal((2, 4)).astype(np.float32))
    assert report.passed, str(report)
    assert_compared(report, pairs=[("zeta", "first"), ("alpha", "second")])
    # negative control: swapping the definition order on one side breaks the pairing (shapes differ)
    swapped = named_apart("paddle")
    swapped._sub_layers = dict(reversed(list(swapped._sub_layers.items())))
    with pytest.raises(padiff.WeightTransferError):
        padiff.assign_weight(swapped, module)
