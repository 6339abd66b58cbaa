"""LayerMap: map (differently structured blocks), ignore_class, auto, rename_params."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import padiff
from padiff import LayerMap
from padiff.judge.records import Phase
from tests.checks import assert_compared
from tests.models import (
    block_head,
    enc_dec,
    fc_act_head,
    paddle_fused,
    reordered_enc_dec,
    seq,
    square_block,
    torch_blocks,
    traced_mlp,
    wrappers,
)

RNG = np.random.default_rng(23)


def _x(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def _grads_of(report, raw_path: str) -> list[str]:
    return sorted(d.leaf for d in report.diffs if d.phase is Phase.GRAD and d.raw_path == raw_path)


# --- map: a block whose inside differs ---------------------------------------------------------------


def _fused_mlps(relu: bool = True):
    """TorchTwoLinears (fc1, ReLU, fc2) and PaddleFusedMLP (the same in one layer), each before a head."""
    module = block_head("torch", torch_blocks().TorchTwoLinears())
    return module, block_head("paddle", paddle_fused().PaddleFusedMLP(relu))


def _fused_mlp_rule(layer_map: LayerMap) -> LayerMap:
    """PaddleFusedMLP keeps its weights [in, out]: its square w2 needs the rule to be told."""
    layer_map.weight_rule(torch.nn.Linear, paddle_fused().PaddleFusedMLP, transpose=True)
    return layer_map


def test_mapped_block_with_a_different_inside_passes_with_its_gradients_compared():
    module, layer = _fused_mlps()
    layer_map = _fused_mlp_rule(LayerMap())
    layer_map.map = {layer.block: module.block}
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map, keep_weights=True)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block", "head"])
    assert np.array_equal(layer.block.w2.numpy(), module.block.fc2.weight.detach().numpy().T)
    expected = ["fc1.bias <-> b1", "fc1.weight <-> w1", "fc2.bias <-> b2", "fc2.weight <-> w2"]
    assert _grads_of(report, "block") == expected


def test_without_the_map_the_block_does_not_transfer():
    with pytest.raises(padiff.WeightTransferError, match="layers with parameters"):
        padiff.compare(*_fused_mlps(), _x(3, 4))


def test_mapped_block_without_a_rule_for_its_square_weight_raises_naming_both_classes():
    module, layer = _fused_mlps()
    layer_map = LayerMap()
    layer_map.map = {layer.block: module.block}
    with pytest.raises(padiff.WeightTransferError) as error:
        padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    message = str(error.value)
    assert "'block.fc2.weight' [8, 8] (torch Linear)" in message and "(paddle PaddleFusedMLP)" in message
    assert "weight_rule(Linear, PaddleFusedMLP" in message, message


def test_a_mapped_block_that_computes_something_else_is_named():
    module, layer = _fused_mlps(relu=False)
    layer_map = _fused_mlp_rule(LayerMap())
    layer_map.map = {module.block: layer.block}  # either order
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert not report.passed
    assert (report.first_diff.phase, report.first_diff.raw_path) == (Phase.FORWARD, "block")


# --- ignore_class -----------------------------------------------------------------------------------


def test_ignore_class_makes_every_wrapper_of_that_class_transparent():
    module, layer = fc_act_head("torch", (4, 6, 2), "Tanh"), traced_mlp("paddle")
    plain = padiff.compare(module, layer, _x(3, 4))
    assert any("without counterpart" in note for note in plain.notes), plain.notes  # negative control
    layer_map = LayerMap()
    layer_map.ignore_class(layer, wrappers("paddle").Trace)
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert report.passed, str(report)
    assert_compared(report, pairs=[("fc", "fc.inner"), ("act", "act.inner"), "head"])
    assert not any("without counterpart" in note for note in report.notes), report.notes
    pairs = {(d.base_path, d.raw_path) for d in report.diffs}
    assert ("fc", "fc.inner") in pairs and ("act", "act.inner") in pairs


def test_ignore_class_without_classes_ignores_nothing():
    module, layer = fc_act_head("torch", (4, 6, 2), "Tanh"), traced_mlp("paddle")
    layer_map = LayerMap()
    layer_map.ignore_class(layer)
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map)
    assert any("without counterpart" in note for note in report.notes), report.notes


def test_ignore_class_takes_models_of_either_framework_and_refuses_anything_else():
    """LayerMap.ignore_class walks the model through its framework's adapter."""
    for framework in ("torch", "paddle"):
        model = fc_act_head(framework)
        layer_map = padiff.LayerMap()
        layer_map.ignore_class(model, type(model.act))
        assert layer_map._ignored == [model.act]
    try:
        padiff.LayerMap().ignore_class(object(), (int,))
    except padiff.InputError as error:
        assert "LayerMap.ignore_class argument" in str(error)
    else:
        raise AssertionError("a non-model was walked")


# --- auto ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["paddle first", "torch first"])
def test_auto_maps_attention_and_recurrent_layers_in_definition_order(order):
    module, layer = seq("torch"), seq("paddle")
    layer_map = LayerMap()
    layer_map.auto(layer, module) if order == "paddle first" else layer_map.auto(module, layer)
    assert layer_map.map == {layer.attn: module.attn, layer.rnn: module.rnn}
    report = padiff.compare(module, layer, _x(2, 5, 3), layer_map=layer_map)
    assert report.passed, str(report)
    assert_compared(report, pairs=["embed", "attn", "rnn"])
    assert len(_grads_of(report, "attn")) == 8 and len(_grads_of(report, "rnn")) == 4


def test_auto_with_one_recurrent_layer_more_raises_structure_error():
    layer_map = LayerMap()
    with pytest.raises(padiff.StructureError, match="3 paddle layers") as caught:
        layer_map.auto(seq("paddle", extra_lstm=True), seq("torch"))
    assert "extra (LSTM)" in str(caught.value)
    assert layer_map.map == {}


def test_auto_with_different_classes_at_the_same_place_raises_structure_error():
    with pytest.raises(padiff.StructureError, match="'rnn' \\(LSTM\\) with torch 'rnn' \\(GRU\\)"):
        LayerMap().auto(seq("paddle"), seq("torch", recurrent="GRU"))


def test_auto_includes_classes_with_a_registered_special_init(special_inits):
    module, layer = _fused_mlps()
    layer_map = LayerMap()
    layer_map.auto(layer, module)
    assert layer_map.map == {}  # negative control: nothing registered for these classes
    special_inits("PaddleFusedMLP", "TorchTwoLinears", lambda p, t: None)
    layer_map.auto(layer, module)
    assert layer_map.map == {layer.block: module.block}


def test_auto_skips_layers_ignored_recursively():
    module, layer = seq("torch"), seq("paddle", extra_lstm=True)
    layer_map = LayerMap()
    layer_map.ignore_recursively(layer.extra)
    layer_map.auto(layer, module)
    assert layer_map.map == {layer.attn: module.attn, layer.rnn: module.rnn}


# --- rename_params --------------------------------------------------------------------------------


RENAMES = {
    "enc_fc.weight": "encoder.0.weight",
    "enc_fc.bias": "encoder.0.bias",
    "dec.weight": "decoder.weight",
    "dec.bias": "decoder.bias",
    "out_proj.weight": "out.weight",
    "out_proj.bias": "out.bias",
}  # norm.* keep their names; paddle's norm._mean finds torch's norm.running_mean by itself


def _enc_dec() -> tuple:
    module, layer = enc_dec("torch"), reordered_enc_dec("paddle")
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
    report = padiff.compare(module, layer, _x(3, 4), layer_map=layer_map, keep_weights=True)
    assert report.passed, str(report)
    pairs = [("encoder.0", "enc_fc"), ("decoder", "dec"), ("norm", "norm"), ("out", "out_proj")]
    assert_compared(report, pairs=pairs)
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


def test_renamed_square_linear_weight_into_a_user_layer_needs_a_rule():
    module, layer = square_block("torch"), square_block("paddle")
    layer_map = LayerMap()
    layer_map.rename_params({"block.w": "block.weight", "block.b": "block.bias"})
    with pytest.raises(padiff.WeightTransferError, match=r"weight_rule\(Linear, PaddleSquare"):
        padiff.compare(module, layer, _x(3, 8), layer_map=layer_map)


def test_renamed_square_linear_weight_into_a_user_layer_is_transposed_by_the_rule():
    module, layer = square_block("torch"), square_block("paddle")
    layer_map = LayerMap()
    layer_map.rename_params({"block.w": "block.weight", "block.b": "block.bias"})
    layer_map.weight_rule("Linear", "PaddleSquare", transpose={"weight"})  # class names do as well
    report = padiff.compare(module, layer, _x(3, 8), layer_map=layer_map, keep_weights=True)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block"])
    assert np.array_equal(layer.block.w.numpy(), module.block.weight.detach().numpy().T)
