"""LayerMap: map (differently structured blocks), ignore_class, auto, rename_params."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
import padiff.weights.registry
from padiff import LayerMap
from padiff.judge.records import Phase

RNG = np.random.default_rng(23)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _grads_of(report, raw_path: str) -> list[str]:
    return sorted(d.leaf for d in report.diffs if d.phase is Phase.GRAD and d.raw_path == raw_path)


# --- map: a block whose inside differs ---------------------------------------------------------------


class TorchTwoLinears(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.act = torch.nn.ReLU()
        self.fc2 = torch.nn.Linear(8, 8)  # square: only the layer rule knows it needs a transpose

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class PaddleFusedMLP(paddle.nn.Layer):
    """The same math in one layer with four parameters of its own, stored as paddle's [in, out]."""

    def __init__(self, relu: bool = True):
        super().__init__()
        self.w1 = self.create_parameter([4, 8])
        self.b1 = self.create_parameter([8], is_bias=True)
        self.w2 = self.create_parameter([8, 8])
        self.b2 = self.create_parameter([8], is_bias=True)
        self.relu = relu

    def forward(self, x):
        hidden = paddle.matmul(x, self.w1) + self.b1
        hidden = paddle.nn.functional.relu(hidden) if self.relu else hidden
        return paddle.matmul(hidden, self.w2) + self.b2


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = TorchTwoLinears()
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.block(x))


class PaddleNet(paddle.nn.Layer):
    def __init__(self, relu: bool = True):
        super().__init__()
        self.block = PaddleFusedMLP(relu)
        self.head = paddle.nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.block(x))


def test_mapped_block_with_a_different_inside_passes_with_its_gradients_compared():
    module, layer = TorchNet(), PaddleNet()
    layer_map = LayerMap()
    layer_map.map = {layer.block: module.block}
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert report.passed, str(report)
    assert np.array_equal(layer.block.w2.numpy(), module.block.fc2.weight.detach().numpy().T)
    expected = ["fc1.bias <-> b1", "fc1.weight <-> w1", "fc2.bias <-> b2", "fc2.weight <-> w2"]
    assert _grads_of(report, "block") == expected


def test_without_the_map_the_block_does_not_transfer():
    with pytest.raises(padiff.WeightTransferError, match="layers with parameters"):
        padiff.compare(TorchNet(), PaddleNet(), _x(3, 4))


def test_a_mapped_block_that_computes_something_else_is_named():
    module, layer = TorchNet(), PaddleNet(relu=False)
    layer_map = LayerMap()
    layer_map.map = {module.block: layer.block}  # either order
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert not report.passed
    assert (report.first_diff.phase, report.first_diff.raw_path) == (Phase.FORWARD, "block")


# --- ignore_class -----------------------------------------------------------------------------------


class Trace(paddle.nn.Layer):
    """A wrapper only the port has (say, for logging)."""

    def __init__(self, inner: paddle.nn.Layer):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


class TorchMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 6)
        self.act = torch.nn.Tanh()
        self.head = torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.act(self.fc(x)))


class PaddleTracedMLP(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.fc = Trace(paddle.nn.Linear(4, 6))
        self.act = Trace(paddle.nn.Tanh())
        self.head = paddle.nn.Linear(6, 2)

    def forward(self, x):
        return self.head(self.act(self.fc(x)))


def test_ignore_class_makes_every_wrapper_of_that_class_transparent():
    module, layer = TorchMLP(), PaddleTracedMLP()
    plain = padiff.compare(module, layer, _x(3, 4))
    assert any("without counterpart" in note for note in plain.notes), plain.notes  # negative control
    layer_map = LayerMap()
    layer_map.ignore_class(layer, Trace)
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert report.passed, str(report)
    assert not any("without counterpart" in note for note in report.notes), report.notes
    pairs = {(d.base_path, d.raw_path) for d in report.diffs}
    assert ("fc", "fc.inner") in pairs and ("act", "act.inner") in pairs


def test_ignore_class_without_classes_ignores_nothing():
    module, layer = TorchMLP(), PaddleTracedMLP()
    layer_map = LayerMap()
    layer_map.ignore_class(layer)
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert any("without counterpart" in note for note in report.notes), report.notes


# --- auto ---------------------------------------------------------------------------------------------


class TorchSeq(torch.nn.Module):
    def __init__(self, recurrent: type = torch.nn.LSTM):
        super().__init__()
        self.embed = torch.nn.Linear(3, 8)
        self.attn = torch.nn.MultiheadAttention(8, 2, batch_first=True)
        self.rnn = recurrent(8, 4, batch_first=True)

    def forward(self, x):
        h = self.embed(x)
        h = self.attn(h, h, h, need_weights=False)[0]
        return self.rnn(h)[0]


class PaddleSeq(paddle.nn.Layer):
    def __init__(self, extra_lstm: bool = False):
        super().__init__()
        self.embed = paddle.nn.Linear(3, 8)
        self.attn = paddle.nn.MultiHeadAttention(8, 2)
        self.rnn = paddle.nn.LSTM(8, 4)
        self.extra = paddle.nn.LSTM(4, 4) if extra_lstm else None

    def forward(self, x):
        h = self.embed(x)
        out = self.rnn(self.attn(h, h, h))[0]
        return self.extra(out)[0] if self.extra is not None else out


@pytest.mark.parametrize("order", ["paddle first", "torch first"])
def test_auto_maps_attention_and_recurrent_layers_in_definition_order(order):
    module, layer = TorchSeq(), PaddleSeq()
    layer_map = LayerMap()
    layer_map.auto(layer, module) if order == "paddle first" else layer_map.auto(module, layer)
    assert layer_map.map == {layer.attn: module.attn, layer.rnn: module.rnn}
    report = padiff.compare(module, layer, _x(2, 5, 3), layer_map=layer_map)
    assert report.passed, str(report)
    assert len(_grads_of(report, "attn")) == 8 and len(_grads_of(report, "rnn")) == 4


def test_auto_with_one_recurrent_layer_more_raises_structure_error():
    layer_map = LayerMap()
    with pytest.raises(padiff.StructureError, match="3 paddle layers") as caught:
        layer_map.auto(PaddleSeq(extra_lstm=True), TorchSeq())
    assert "extra (LSTM)" in str(caught.value)
    assert layer_map.map == {}


def test_auto_with_different_classes_at_the_same_place_raises_structure_error():
    with pytest.raises(padiff.StructureError, match="'rnn' \\(LSTM\\) with torch 'rnn' \\(GRU\\)"):
        LayerMap().auto(PaddleSeq(), TorchSeq(recurrent=torch.nn.GRU))


def test_auto_includes_classes_with_a_registered_special_init(monkeypatch):
    monkeypatch.setattr(padiff.weights.registry, "_SPECIAL_INITS", {})
    module, layer = TorchNet(), PaddleNet()
    layer_map = LayerMap()
    layer_map.auto(layer, module)
    assert layer_map.map == {}  # negative control: nothing registered for these classes
    padiff.add_special_init("PaddleFusedMLP", "TorchTwoLinears", lambda p, t: None)
    layer_map.auto(layer, module)
    assert layer_map.map == {layer.block: module.block}


def test_auto_skips_layers_ignored_recursively():
    module, layer = TorchSeq(), PaddleSeq(extra_lstm=True)
    layer_map = LayerMap()
    layer_map.ignore_recursively(layer.extra)
    layer_map.auto(layer, module)
    assert layer_map.map == {layer.attn: module.attn, layer.rnn: module.rnn}


# --- rename_params --------------------------------------------------------------------------------


class TorchEncDec(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
        self.decoder = torch.nn.Linear(8, 8)
        self.norm = torch.nn.BatchNorm1d(8)
        self.out = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.norm(self.decoder(self.encoder(x))))


class PaddleEncDec(paddle.nn.Layer):
    """The same network, its layers named and defined in another order."""

    def __init__(self):
        super().__init__()
        self.out_proj = paddle.nn.Linear(8, 2)
        self.norm = paddle.nn.BatchNorm1D(8)
        self.dec = paddle.nn.Linear(8, 8)
        self.enc_fc = paddle.nn.Linear(4, 8)

    def forward(self, x):
        return self.out_proj(self.norm(self.dec(paddle.nn.functional.relu(self.enc_fc(x)))))


RENAMES = {
    "enc_fc.weight": "encoder.0.weight",
    "enc_fc.bias": "encoder.0.bias",
    "dec.weight": "decoder.weight",
    "dec.bias": "decoder.bias",
    "out_proj.weight": "out.weight",
    "out_proj.bias": "out.bias",
}  # norm.* keep their names; paddle's norm._mean finds torch's norm.running_mean by itself


def _enc_dec() -> tuple[TorchEncDec, PaddleEncDec]:
    module, layer = TorchEncDec(), PaddleEncDec()
    with torch.no_grad():
        module.norm.running_mean.uniform_(-1, 1)
        module.norm.running_var.uniform_(0.5, 2)
    module.eval()
    layer.eval()
    return module, layer


def test_without_renames_the_reordered_model_does_not_transfer():
    module, layer = _enc_dec()
    with pytest.raises(padiff.WeightTransferError, match="shape mismatch"):
        padiff.compare(module, layer, _x(3, 4))


@pytest.mark.parametrize("form", ["dict", "function"])
def test_renamed_params_pair_by_name(form):
    module, layer = _enc_dec()
    layer_map = LayerMap()
    layer_map.rename_params(RENAMES if form == "dict" else lambda name: RENAMES.get(name, name))
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert report.passed, str(report)
    assert np.array_equal(layer.dec.weight.numpy(), module.decoder.weight.detach().numpy().T)
    assert np.array_equal(layer.norm._mean.numpy(), module.norm.running_mean.numpy())
    assert len([d for d in report.diffs if d.phase is Phase.GRAD]) == 8


def test_a_rename_to_a_name_base_lacks_raises_naming_both():
    module, layer = _enc_dec()
    layer_map = LayerMap()
    layer_map.rename_params({**RENAMES, "dec.weight": "decoder.kernel"})
    with pytest.raises(padiff.WeightTransferError) as caught:
        padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    message = str(caught.value)
    assert "'dec.weight'" in message and "'decoder.kernel'" in message and "decoder.weight" in message
    assert "hint:" in message


def test_a_rename_to_a_state_of_another_shape_raises():
    module, layer = _enc_dec()
    layer_map = LayerMap()
    layer_map.rename_params({**RENAMES, "enc_fc.weight": "out.weight"})
    with pytest.raises(padiff.WeightTransferError, match="shape mismatch: 'out.weight'"):
        padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)


def test_rename_params_rejects_other_types():
    with pytest.raises(padiff.InputError):
        LayerMap().rename_params(["enc_fc.weight"])


class PaddleSquare(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.w = self.create_parameter([8, 8])  # [in, out], used as x @ w
        self.b = self.create_parameter([8], is_bias=True)

    def forward(self, x):
        return paddle.matmul(x, self.w) + self.b


class PaddleSquareNet(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.block = PaddleSquare()

    def forward(self, x):
        return self.block(x)


class TorchSquareNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = torch.nn.Linear(8, 8)

    def forward(self, x):
        return self.block(x)


def test_renamed_square_linear_weight_into_a_user_layer_is_transposed():
    module, layer = TorchSquareNet(), PaddleSquareNet()
    layer_map = LayerMap()
    layer_map.rename_params({"block.w": "block.weight", "block.b": "block.bias"})
    report = padiff.compare(module, layer, _x(3, 8), layer_map=layer_map)
    assert report.passed, str(report)
    assert np.array_equal(layer.block.w.numpy(), module.block.weight.detach().numpy().T)
