"""The padiff 0.2.0 API: auto_diff, add_special_init, LayerMap.map / ignore."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from padiff import LayerMap
from tests.checks import assert_compared, spy_reports
from tests.models import (
    block_head,
    build,
    example_input,
    fc_act_head,
    norm_block,
    paddle_fused,
    torch_blocks,
    wrapped_act,
)

RNG = np.random.default_rng(11)


def _inputs_for(twin: str, name: str) -> tuple[dict, dict]:
    """(paddle_kwargs, torch_kwargs), keyed by the forward argument name, as 0.2.0 users wrote them."""
    array = example_input(twin)
    return {name: paddle.to_tensor(array)}, {name: torch.tensor(array)}


# --- auto_diff ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("twin, arg, plant", [("mlp", "x", "activation"), ("embedding", "ids", "pool_sum")])
def test_auto_diff_true_for_clean_twin_and_false_for_planted(capsys, monkeypatch, twin, arg, plant):
    reports = spy_reports(monkeypatch)
    module = build(twin, "torch")
    layer = build(twin, "paddle", seed=5)
    assert padiff.auto_diff(layer, module, _inputs_for(twin, arg), options={"atol": 1e-5}) is True
    assert_compared(reports[-1], module)
    clean = capsys.readouterr().out
    assert "PASSED" in clean and "FAILED" not in clean
    planted = build(twin, "paddle", plant=plant, seed=5)
    assert padiff.auto_diff(planted, module, _inputs_for(twin, arg), options={"atol": 1e-5}) is False
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "<--- HERE" in printed


def test_auto_diff_without_auto_weights_fails_for_differently_initialised_twins(capsys, monkeypatch):
    reports = spy_reports(monkeypatch)
    module, layer = build("mlp", "torch", seed=1), build("mlp", "paddle", seed=2)
    assert padiff.auto_diff(layer, module, _inputs_for("mlp", "x"), auto_weights=False) is False
    assert padiff.auto_diff(layer, module, _inputs_for("mlp", "x"), auto_weights=True) is True
    assert_compared(reports[-1], module)
    capsys.readouterr()


def test_auto_diff_atol_option_is_used(capsys, monkeypatch):
    """A huge absolute tolerance passes even a planted activation; the default does not."""
    reports = spy_reports(monkeypatch)
    module = build("mlp", "torch")
    planted = build("mlp", "paddle", plant="activation")
    assert padiff.auto_diff(planted, module, _inputs_for("mlp", "x"), options={"atol": 1e3}) is True
    assert_compared(reports[-1], module)
    assert padiff.auto_diff(planted, module, _inputs_for("mlp", "x"), options={}) is False
    capsys.readouterr()


def test_auto_diff_unknown_option_raises_input_error():
    module, layer = build("mlp", "torch"), build("mlp", "paddle")
    with pytest.raises(padiff.InputError, match="unknown auto_diff options") as caught:
        padiff.auto_diff(layer, module, _inputs_for("mlp", "x"), options={"atoll": 1e-5})
    assert isinstance(caught.value, padiff.PadiffError)
    assert "atoll" in str(caught.value)


def test_auto_diff_diff_phase_option_selects_what_is_judged(capsys, monkeypatch):
    """A wrong custom backward is invisible to a forward-only check and caught by a backward one."""
    reports = spy_reports(monkeypatch)
    module = build("custom_grad", "torch")
    planted = build("custom_grad", "paddle", plant="wrong_backward")
    inputs = _inputs_for("custom_grad", "x")
    inputs[0]["x"].stop_gradient = False
    inputs[1]["x"].requires_grad_(True)
    assert padiff.auto_diff(planted, module, inputs, options={"diff_phase": "forward"}) is True
    assert_compared(reports[-1], module, phases=["forward"])
    assert padiff.auto_diff(planted, module, inputs, options={"diff_phase": "backward"}) is False
    assert padiff.auto_diff(planted, module, inputs, options={"diff_phase": "both"}) is False
    capsys.readouterr()


def test_auto_diff_unknown_diff_phase_raises_input_error(capsys):
    module, planted = build("mlp", "torch"), build("mlp", "paddle", plant="activation")
    with pytest.raises(padiff.InputError):
        padiff.auto_diff(planted, module, _inputs_for("mlp", "x"), options={"diff_phase": "fwd"})


def test_auto_diff_unknown_compare_mode_raises_input_error():
    module, layer = build("mlp", "torch"), build("mlp", "paddle")
    with pytest.raises(padiff.InputError):
        padiff.auto_diff(layer, module, _inputs_for("mlp", "x"), options={"compare_mode": "median"})


def test_auto_diff_with_numpy_inputs_given_once(capsys, monkeypatch):
    reports = spy_reports(monkeypatch)
    module, layer = build("mlp", "torch"), build("mlp", "paddle")
    assert padiff.auto_diff(layer, module, example_input("mlp")) is True
    assert_compared(reports[-1], module)
    assert "PASSED" in capsys.readouterr().out


# --- add_special_init with LayerMap.map ---------------------------------------------------------------


def _models():
    """fc is square: a by-shape copy cannot tell it needs a transpose."""
    torch.manual_seed(0)
    paddle.seed(1)
    return fc_act_head("torch"), fc_act_head("paddle"), RNG.standard_normal((3, 6)).astype(np.float32)


def test_special_init_is_called_for_a_mapped_pair(special_inits):
    calls = []

    def init(paddle_layer, torch_module):
        calls.append((paddle_layer, torch_module))
        paddle_layer.weight.set_value(torch_module.weight.detach().numpy().T)
        paddle_layer.bias.set_value(torch_module.bias.detach().numpy())

    special_inits("Linear", "Linear", init)
    module, layer, x = _models()
    layer_map = LayerMap()
    layer_map.map = {layer.fc: module.fc}
    report = padiff.compare(module, layer, x, layer_map=layer_map, keep_weights=True)
    assert (layer.fc, module.fc) in [(p, t) for p, t in calls]  # paddle first
    assert report.passed, str(report)
    assert_compared(report, module)
    assert np.array_equal(layer.fc.weight.numpy(), module.fc.weight.detach().numpy().T)


def test_special_init_effect_is_visible(special_inits):
    """A rule that copies wrongly (negated) is really the one used: its values land and compare fails."""

    def negated(paddle_layer, torch_module):
        paddle_layer.weight.set_value(-torch_module.weight.detach().numpy().T)
        paddle_layer.bias.set_value(torch_module.bias.detach().numpy())

    special_inits("Linear", "Linear", negated)
    module, layer, x = _models()
    layer_map = LayerMap()
    layer_map.map = {layer.fc: module.fc}
    report = padiff.compare(module, layer, x, layer_map=layer_map, keep_weights=True)
    assert np.array_equal(layer.fc.weight.numpy(), -module.fc.weight.detach().numpy().T)
    assert not report.passed
    assert report.first_diff.raw_path == "fc"


def test_special_init_is_used_for_unmapped_pairs_of_its_classes_too(special_inits):
    calls = []

    def init(paddle_layer, torch_module):
        calls.append(paddle_layer)
        paddle_layer.weight.set_value(torch_module.weight.detach().numpy().T)
        paddle_layer.bias.set_value(torch_module.bias.detach().numpy())

    special_inits("Linear", "Linear", init)
    module, layer, x = _models()
    report = padiff.compare(module, layer, x)
    assert report.passed, str(report)
    assert_compared(report, module)
    assert calls == [layer.fc, layer.head]


def test_special_init_registered_for_other_class_names_is_not_used(special_inits):
    calls = []
    special_inits("Conv2D", "Conv2d", lambda p, t: calls.append(p))
    module, layer, x = _models()
    layer_map = LayerMap()
    layer_map.map = {module.head: layer.head}  # either order; head is not square, so by-position works
    report = padiff.compare(module, layer, x, layer_map=layer_map)
    assert report.passed, str(report)
    assert_compared(report, module)
    assert calls == []


def test_mapped_square_linear_without_special_init_is_transposed(special_inits):
    module, layer, x = _models()
    layer_map = LayerMap()
    layer_map.map = {layer.fc: module.fc}
    report = padiff.compare(module, layer, x, layer_map=layer_map, keep_weights=True)
    assert np.array_equal(layer.fc.weight.numpy(), module.fc.weight.detach().numpy().T)
    assert report.passed, str(report)
    assert_compared(report, module)


# --- LayerMap.ignore ------------------------------------------------------------------------------------


def _pairs(report) -> set[tuple[str, str]]:
    return {(d.base_path, d.raw_path) for d in report.diffs}


def test_ignore_a_layer_present_on_one_side_only():
    module, _, x = _models()
    layer = wrapped_act("paddle")
    unmapped = padiff.compare(module, layer, x)
    # without ignore padiff looks through the wrapper by itself, and says so
    assert any("looked through" in note and "wrap" in note for note in unmapped.notes), unmapped.notes
    assert ("act", "wrap.act") in _pairs(unmapped)
    layer_map = LayerMap()
    layer_map.ignore(layer.wrap)
    report = padiff.compare(module, layer, x, layer_map=layer_map)
    assert report.passed, str(report)
    assert_compared(report, pairs=["fc", ("act", "wrap.act"), "head"])
    assert not any("counterpart" in note for note in report.notes), report.notes
    assert ("act", "wrap.act") in _pairs(report)


def test_ignore_still_reports_a_planted_difference_inside():
    module, _, x = _models()
    layer = wrapped_act("paddle")
    layer.wrap.act = paddle.nn.Tanh()
    layer_map = LayerMap()
    layer_map.ignore(layer.wrap)
    report = padiff.compare(module, layer, x, layer_map=layer_map)
    assert not report.passed
    assert (report.first_diff.base_path, report.first_diff.raw_path) == ("act", "wrap.act")


# --- LayerMap.map on differently structured blocks ---------------------------------------------------


def _fused_nets(relu: bool = True):
    """The torch block (Linear + ReLU) and the paddle layer fusing them, each followed by a head."""
    module = block_head("torch", torch_blocks().TorchFusedBlock())
    return module, block_head("paddle", paddle_fused().FusedLinearRelu(relu))


def test_map_pairs_differently_structured_blocks():
    torch.manual_seed(0)
    module, layer = _fused_nets()
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    # negative control: without the map the torch block's inner layers are reported as unmatched
    unmapped = padiff.compare(module, layer, x)
    assert any("block.fc" in note and "block.act" in note for note in unmapped.notes), unmapped.notes
    layer_map = LayerMap()
    layer_map.map = {layer.block: module.block}
    report = padiff.compare(module, layer, x, layer_map=layer_map, keep_weights=True)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block", "head"])
    assert [n for n in report.notes if not n.startswith("weights:")] == []
    assert ("block", "block") in _pairs(report)
    assert np.array_equal(layer.block.w.numpy(), module.block.fc.weight.detach().numpy().T)


def test_map_reports_a_mapped_block_that_differs():
    torch.manual_seed(0)
    module, layer = _fused_nets(relu=False)
    layer_map = LayerMap()
    layer_map.map = {module.block: layer.block}
    report = padiff.compare(
        module, layer, RNG.standard_normal((3, 4)).astype(np.float32), layer_map=layer_map
    )
    assert not report.passed
    assert (report.first_diff.base_path, report.first_diff.raw_path) == ("block", "block")


def _norm_block_models():
    module, layer = norm_block("torch"), norm_block("paddle")
    module.eval()
    layer.eval()
    return module, layer, RNG.standard_normal((5, 4)).astype(np.float32)


def test_same_norm_blocks_unmapped_pass():
    """Control for the test below: the generic transfer handles BatchNorm + Linear."""
    module, layer, x = _norm_block_models()
    report = padiff.compare(module, layer, x)
    assert report.passed, str(report)
    assert_compared(report, module)


def test_mapped_blocks_with_batchnorm_and_linear_transfer(special_inits):
    module, layer, x = _norm_block_models()
    layer_map = LayerMap()
    layer_map.map = {layer.block: module.block}
    report = padiff.compare(module, layer, x, layer_map=layer_map)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block"])


def test_map_with_a_layer_of_neither_model_raises_input_error():
    module, layer = _fused_nets()
    layer_map = LayerMap()
    layer_map.map = {torch.nn.Linear(2, 2): layer.block}
    with pytest.raises(padiff.InputError):
        padiff.compare(module, layer, np.ones((1, 4), dtype=np.float32), layer_map=layer_map)


# --- what auto_diff leaves behind, and every 0.2.0 argument form -------------------------------------------


def test_auto_diff_keeps_base_weights_in_the_paddle_layer_and_says_so(capsys):
    """0.2.0's documented effect: the paddle layer keeps the torch module's (initial) weights; optimizer
    steps are undone on both. padiff.compare, by contrast, puts raw's own weights back."""
    module, layer = build("mlp", "torch"), build("mlp", "paddle", seed=5)
    module_own = {n: p.detach().clone() for n, p in module.named_parameters()}
    layer_own = layer.fc1.weight.numpy()
    optimizer = (
        paddle.optimizer.SGD(learning_rate=0.5, parameters=layer.parameters()),
        torch.optim.SGD(module.parameters(), lr=0.5),
    )
    assert padiff.auto_diff(layer, module, _inputs_for("mlp", "x"), optimizer=optimizer, steps=2) is True
    printed = capsys.readouterr().out
    assert "raw keeps them (keep_weights=True)" in printed
    assert "padiff.auto_diff: the paddle layer keeps the weights copied from the torch module" in printed
    assert all(torch.equal(module_own[n], p) for n, p in module.named_parameters())  # steps undone
    assert np.array_equal(layer.fc1.weight.numpy(), module_own["fc1.weight"].numpy().T)  # base's, unstepped
    # negative control: padiff.compare on the same pair puts the layer's own weights back
    layer = build("mlp", "paddle", seed=5)
    padiff.compare(module, layer, example_input("mlp"))
    assert np.array_equal(layer.fc1.weight.numpy(), layer_own)


def test_auto_diff_takes_a_plain_dict_layer_map(capsys, monkeypatch):
    """0.2.0 documented layer_map={layer.block: module.block}: a dict, not a LayerMap."""
    reports = spy_reports(monkeypatch)
    torch.manual_seed(0)
    module, layer = _fused_nets()
    inputs = RNG.standard_normal((3, 4)).astype(np.float32)
    assert padiff.auto_diff(layer, module, inputs, layer_map={layer.block: module.block}) is True
    assert_compared(reports[-1], pairs=["block", "head"])
    # negative controls: the mapped block that computes something else fails there; a wrong type is named
    module, layer = _fused_nets(relu=False)
    assert padiff.auto_diff(layer, module, inputs, layer_map={layer.block: module.block}) is False
    assert (reports[-1].first_diff.base_path, reports[-1].first_diff.raw_path) == ("block", "block")
    with pytest.raises(padiff.InputError, match="layer_map must be a padiff.LayerMap or a dict"):
        padiff.auto_diff(layer, module, inputs, layer_map=[(layer.block, module.block)])
    capsys.readouterr()


def _mapped(layer, module) -> LayerMap:
    layer_map = LayerMap()
    layer_map.map = {layer.fc1: module.fc1}
    return layer_map


def _tensor_pair(layer, module) -> tuple:
    array = example_input("mlp")
    return paddle.to_tensor(array), torch.tensor(array)


MEAN = (lambda out: out.mean(), lambda out: out.mean())
# each form of every auto_diff argument padiff 0.2.0 documented, as a call's extra arguments
FORMS = {
    "positional": lambda layer, module: ((_inputs_for("mlp", "x"), True, {}, None, None, None, 1), {}),
    "input-dicts": lambda layer, module: ((_inputs_for("mlp", "x"),), {}),
    "input-tensors": lambda layer, module: ((_tensor_pair(layer, module),), {}),
    "input-numpy": lambda layer, module: ((example_input("mlp"),), {}),
    "atol-rtol": lambda layer, module: ((example_input("mlp"),), {"options": {"atol": 1e-5, "rtol": 1e-4}}),
    "compare-mode-mean": lambda layer, module: (
        (example_input("mlp"),),
        {"options": {"compare_mode": "mean"}},
    ),
    "diff-phase": lambda layer, module: ((example_input("mlp"),), {"options": {"diff_phase": "forward"}}),
    "single-step": lambda layer, module: ((example_input("mlp"),), {"options": {"single_step": True}}),
    "layer-map": lambda layer, module: ((example_input("mlp"),), {"layer_map": _mapped(layer, module)}),
    "layer-map-dict": lambda layer, module: ((example_input("mlp"),), {"layer_map": {layer.fc1: module.fc1}}),
    "loss-fn": lambda layer, module: ((example_input("mlp"),), {"loss_fn": MEAN}),
    "optimizer-steps": lambda layer, module: (
        (example_input("mlp"),),
        {
            "optimizer": (
                paddle.optimizer.SGD(learning_rate=0.1, parameters=layer.parameters()),
                torch.optim.SGD(module.parameters(), lr=0.1),
            ),
            "steps": 2,
        },
    ),
    "optimizer-lambdas": lambda layer, module: (
        (example_input("mlp"),),
        {
            "optimizer": (
                paddle.optimizer.SGD(learning_rate=0.1, parameters=layer.parameters()).step,
                torch.optim.SGD(module.parameters(), lr=0.1).step,
            ),
            "loss_fn": MEAN,
        },
    ),
}


@pytest.mark.parametrize("form", FORMS)
def test_every_0_2_0_argument_form(form, capsys, monkeypatch):
    reports = spy_reports(monkeypatch)
    module, layer = build("mlp", "torch"), build("mlp", "paddle", seed=5)
    args, kwargs = FORMS[form](layer, module)
    assert padiff.auto_diff(layer, module, *args, **kwargs) is True, capsys.readouterr().out
    assert_compared(reports[-1], module, phases=["forward"] if form == "diff-phase" else ["forward", "grad"])
    # negative control: the same call on a port with a planted activation is False
    planted = build("mlp", "paddle", plant="activation", seed=5)
    args, kwargs = FORMS[form](planted, module)
    assert padiff.auto_diff(planted, module, *args, **kwargs) is False
    capsys.readouterr()
