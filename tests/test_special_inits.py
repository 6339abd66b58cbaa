"""Built-in layer conversions (padiff.weights.layer_rules) and add_special_init, in both directions.

Each built-in conversion is checked end to end: after padiff's transfer the pair's outputs and parameter
gradients agree, every raw parameter has a state pair, and with the rule taken out of the registry the
same pair fails or raises (the negative control).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import paddle
import pytest
import torch

import padiff
import padiff.match.kinds
import padiff.weights.layer_rules
from padiff.frameworks.base import adapter_for
from padiff.judge.records import Phase
from padiff.weights.plan import plan_state_pairs
from tests.checks import PHASES, assert_compared
from tests.models import block_head, paddle_fused, torch_blocks, wrappers

RNG = np.random.default_rng(5)


def _holder(framework: str, layer: Any, call: Callable) -> Any:
    """A root that calls ``layer`` through ``call`` (to pick what is compared)."""
    return wrappers(framework).Holder(layer, call)


def _randomize(model: Any) -> Any:
    """Non-default values in every parameter and statistic (defaults often agree by chance)."""
    adapter = adapter_for(model)
    for name, tensor in adapter.all_state(model):
        shape = adapter.shape(tensor)
        if not adapter.is_float(tensor):
            continue
        low = 0.5 if name.endswith(("running_var", "_variance")) else -1.0
        adapter.assign(tensor, RNG.uniform(low, low + 1.5, size=shape).astype(np.float32))
    return model


def _call(*args: str, index: int | None = None) -> Callable:
    def call(layer, x):
        out = layer(*[x for _ in args]) if args else layer(x)
        return out if index is None else out[index]

    return call


@dataclass(frozen=True)
class Case:
    """One built-in layer pair, as torch and paddle twins, and the rule that converts it."""

    name: str
    kind: str
    torch_layer: Callable[[], torch.nn.Module]
    paddle_layer: Callable[[], paddle.nn.Layer]
    torch_call: Callable
    paddle_call: Callable
    shape: tuple[int, ...]
    eval_mode: bool = False

    def models(self, base: str) -> tuple[Any, Any]:
        torch_model = _holder("torch", self.torch_layer(), self.torch_call)
        paddle_model = _holder("paddle", self.paddle_layer(), self.paddle_call)
        if self.eval_mode:
            torch_model.eval()
            paddle_model.eval()
        pair = (torch_model, paddle_model) if base == "torch" else (paddle_model, torch_model)
        return _randomize(pair[0]), pair[1]

    def input(self) -> np.ndarray:
        return RNG.standard_normal(self.shape).astype(np.float32)


def _mha_torch(**options) -> Callable:
    return lambda: torch.nn.MultiheadAttention(8, 2, batch_first=True, **options)


def _qkv_call(torch_side: bool) -> Callable:
    def call(layer, x):
        key, value = x[..., :4], x[..., :6]
        return layer(x, key, value, need_weights=False)[0] if torch_side else layer(x, key, value)

    return call


CASES = [
    Case(
        "mha",
        "multiheadattention",
        _mha_torch(),
        lambda: paddle.nn.MultiHeadAttention(8, 2),
        lambda m, x: m(x, x, x, need_weights=False)[0],
        _call("q", "k", "v"),
        (2, 5, 8),
    ),
    Case(
        "mha_no_bias",
        "multiheadattention",
        _mha_torch(bias=False),
        lambda: paddle.nn.MultiHeadAttention(8, 2, bias_attr=False),
        lambda m, x: m(x, x, x, need_weights=False)[0],
        _call("q", "k", "v"),
        (2, 5, 8),
    ),
    Case(
        "mha_kdim_vdim",
        "multiheadattention",
        _mha_torch(kdim=4, vdim=6),
        lambda: paddle.nn.MultiHeadAttention(8, 2, kdim=4, vdim=6),
        _qkv_call(True),
        _qkv_call(False),
        (2, 5, 8),
    ),
    Case(
        "lstm",
        "lstm",
        lambda: torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True),
        lambda: paddle.nn.LSTM(3, 4, num_layers=2, direction="bidirect"),
        _call(),
        _call(),
        (2, 5, 3),
    ),
    Case(
        "gru",
        "gru",
        lambda: torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True),
        lambda: paddle.nn.GRU(3, 4, num_layers=2, direction="bidirect"),
        _call(),
        _call(),
        (2, 5, 3),
    ),
    Case(
        "rnn",
        "rnn",
        lambda: torch.nn.RNN(3, 4, num_layers=2, batch_first=True),
        lambda: paddle.nn.SimpleRNN(3, 4, num_layers=2),
        _call(),
        _call(),
        (2, 5, 3),
    ),
]


def _grad_pairs(report) -> list[str]:
    return [d.leaf for d in report.diffs if d.phase is Phase.GRAD]


def _raw_params_without_pair(base: Any, raw: Any) -> list[str]:
    base_adapter, raw_adapter = adapter_for(base), adapter_for(raw)
    plan, _ = plan_state_pairs(base_adapter, base, raw_adapter, raw)
    paired = {id(p.raw_tensor) for p in plan}
    params = [(n, t) for n, t in raw_adapter.all_state(raw) if raw_adapter.requires_grad(t)]
    return [n for n, t in params if id(t) not in paired]


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_builtin_conversion_passes_forward_and_gradients(case, base):
    base_model, raw_model = case.models(base)
    assert _raw_params_without_pair(base_model, raw_model) == []
    report = padiff.compare(base_model, raw_model, case.input())
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"])
    assert len(_grad_pairs(report)) == len([p for p in raw_model.parameters()]), _grad_pairs(report)
    assert not any("without counterpart" in note for note in report.notes), report.notes


RNN_KINDS = {"lstm", "gru", "rnn"}


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("case", [c for c in CASES if c.kind not in RNN_KINDS], ids=lambda c: c.name)
def test_without_the_rule_the_pair_fails_or_raises(case, base, monkeypatch):
    raw_framework = "paddle" if base == "torch" else "torch"
    monkeypatch.delitem(padiff.weights.layer_rules.LAYER_RULES, (case.kind, base, raw_framework))
    base_model, raw_model = case.models(base)
    try:
        report = padiff.compare(base_model, raw_model, case.input())
    except padiff.WeightTransferError:
        return
    assert not report.passed


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("case", [c for c in CASES if c.kind in RNN_KINDS], ids=lambda c: c.name)
def test_rnns_also_pair_without_their_rule(case, base, monkeypatch):
    """Same names, shapes and gate order in both frameworks: once the tensors paddle's cell sublayers
    hold a second time are skipped (tied states belong to their first owner), the generic pairing is
    the rule. Negative control: an RNN of another hidden size does not pair."""
    raw_framework = "paddle" if base == "torch" else "torch"
    monkeypatch.delitem(padiff.weights.layer_rules.LAYER_RULES, (case.kind, base, raw_framework))
    base_model, raw_model = case.models(base)
    report = padiff.compare(base_model, raw_model, case.input())
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"])
    assert any(d.phase.value == "grad" for d in report.diffs)
    other = torch.nn.LSTM(8, 6, batch_first=True) if raw_framework == "torch" else paddle.nn.LSTM(8, 6)
    raw_model.layer = other
    with pytest.raises(padiff.WeightTransferError):
        padiff.compare(base_model, raw_model, case.input())


def test_mha_packed_in_proj_goes_to_q_k_v_projections_transposed():
    torch_model, paddle_model = CASES[0].models("torch")
    padiff.assign_weight(paddle_model, torch_model)
    packed = torch_model.layer.in_proj_weight.detach().numpy()
    bias = torch_model.layer.in_proj_bias.detach().numpy()
    for index, name in enumerate(["q_proj", "k_proj", "v_proj"]):
        projection = getattr(paddle_model.layer, name)
        assert np.array_equal(projection.weight.numpy(), packed[8 * index : 8 * (index + 1)].T)
        assert np.array_equal(projection.bias.numpy(), bias[8 * index : 8 * (index + 1)])


def test_mha_with_bias_on_one_side_only_raises_naming_the_states():
    torch_model = _randomize(_holder("torch", _mha_torch(bias=False)(), CASES[0].torch_call))
    paddle_model = _holder("paddle", paddle.nn.MultiHeadAttention(8, 2), CASES[0].paddle_call)
    with pytest.raises(padiff.WeightTransferError, match="q_proj.bias") as caught:
        padiff.compare(torch_model, paddle_model, CASES[0].input())
    assert "'layer'" in str(caught.value) and "hint:" in str(caught.value)


def test_lstm_final_states_are_compared_too():
    torch_model, paddle_model = CASES[3].models("torch")
    report = padiff.compare(torch_model, paddle_model, CASES[3].input())
    outputs = [d.leaf for d in report.diffs if d.where == "output" and d.base_path == "layer"]
    assert len(outputs) == 3, outputs  # output, h, c


# --- norms: affine defaults differ ------------------------------------------------------------------

NORMS = {
    "batchnorm1d": (lambda: torch.nn.BatchNorm1d(4), lambda: paddle.nn.BatchNorm1D(4), (3, 4, 5)),
    "batchnorm2d": (lambda: torch.nn.BatchNorm2d(4), lambda: paddle.nn.BatchNorm2D(4), (2, 4, 3, 3)),
    "batchnorm3d": (lambda: torch.nn.BatchNorm3d(4), lambda: paddle.nn.BatchNorm3D(4), (2, 4, 2, 3, 3)),
    "instancenorm1d": (
        lambda: torch.nn.InstanceNorm1d(4, affine=True),
        lambda: paddle.nn.InstanceNorm1D(4),  # weight is called `scale` here
        (2, 4, 6),
    ),
    "groupnorm": (lambda: torch.nn.GroupNorm(2, 4), lambda: paddle.nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "layernorm": (lambda: torch.nn.LayerNorm(4), lambda: paddle.nn.LayerNorm(4), (2, 3, 4)),
}

# torch without affine parameters, paddle with its defaults (which have them, initialised to ones/zeros)
ONE_SIDED = {
    "instancenorm2d": (lambda: torch.nn.InstanceNorm2d(4), lambda: paddle.nn.InstanceNorm2D(4), (2, 4, 3, 3)),
    "batchnorm2d": (
        lambda: torch.nn.BatchNorm2d(4, affine=False),
        lambda: paddle.nn.BatchNorm2D(4),
        (2, 4, 3, 3),
    ),
    "groupnorm": (
        lambda: torch.nn.GroupNorm(2, 4, affine=False),
        lambda: paddle.nn.GroupNorm(2, 4),
        (2, 4, 3, 3),
    ),
    "layernorm": (
        lambda: torch.nn.LayerNorm(4, elementwise_affine=False),
        lambda: paddle.nn.LayerNorm(4),
        (2, 3, 4),
    ),
}


def _first_column(layer, x):
    """A normalised output's mean has (almost) no gradient: keep one column so the backward means something."""
    return layer(x)[..., :1]


def _norm_models(factories, base: str, randomize: bool = True) -> tuple[Any, Any, np.ndarray]:
    torch_factory, paddle_factory, shape = factories
    torch_model = _holder("torch", torch_factory(), _first_column)
    paddle_model = _holder("paddle", paddle_factory(), _first_column)
    torch_model.eval()
    paddle_model.eval()
    base_model, raw_model = (torch_model, paddle_model) if base == "torch" else (paddle_model, torch_model)
    if randomize:
        _randomize(base_model)
    return base_model, raw_model, RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("kind", sorted(NORMS))
def test_norm_states_transfer_both_directions(kind, base):
    base_model, raw_model, x = _norm_models(NORMS[kind], base)
    assert _raw_params_without_pair(base_model, raw_model) == []
    report = padiff.compare(base_model, raw_model, x)
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"])
    assert len(_grad_pairs(report)) == 2


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("kind", sorted(ONE_SIDED))
def test_affine_on_one_side_only_passes_when_it_is_the_identity(kind, base):
    # paddle's affine parameters keep their default ones/zeros; only statistics are randomised
    base_model, raw_model, x = _norm_models(ONE_SIDED[kind], base, randomize=False)
    stats = [
        t for n, t in adapter_for(base_model).all_state(base_model) if n.endswith(("_mean", "running_mean"))
    ]
    for tensor in stats:
        adapter_for(base_model).assign(
            tensor, np.full(adapter_for(base_model).shape(tensor), 0.25, np.float32)
        )
    report = padiff.compare(base_model, raw_model, x)
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"], phases=["forward", "backward"])  # torch's side: no parameters


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("kind", sorted(ONE_SIDED))
def test_affine_on_one_side_only_without_the_rule_raises(kind, base, monkeypatch):
    raw_framework = "paddle" if base == "torch" else "torch"
    monkeypatch.delitem(padiff.weights.layer_rules.LAYER_RULES, (kind, base, raw_framework))
    base_model, raw_model, x = _norm_models(ONE_SIDED[kind], base, randomize=False)
    with pytest.raises(padiff.WeightTransferError):
        padiff.compare(base_model, raw_model, x)


@pytest.mark.parametrize("base", ["torch", "paddle"])
def test_affine_on_one_side_only_that_is_not_the_identity_raises_with_a_hint(base):
    base_model, raw_model, x = _norm_models(ONE_SIDED["instancenorm2d"], base, randomize=False)
    paddle_model = raw_model if base == "torch" else base_model
    paddle_model.layer.scale.set_value(np.full([4], 2.0, np.float32))
    with pytest.raises(padiff.WeightTransferError) as caught:
        padiff.compare(base_model, raw_model, x)
    message = str(caught.value)
    assert "'layer'" in message and "scale" in message and "InstanceNorm2d" in message, message
    assert "affine=True" in message and "weight_attr=False" in message, message


# --- ConvTranspose: the same layout, a different class name --------------------------------------

CONV_TRANSPOSE = {
    1: (
        lambda: torch.nn.ConvTranspose1d(4, 6, 3, stride=2),
        lambda: paddle.nn.Conv1DTranspose(4, 6, 3, stride=2),
    ),
    2: (
        lambda: torch.nn.ConvTranspose2d(4, 6, 3, groups=2, stride=2, padding=1, output_padding=1),
        lambda: paddle.nn.Conv2DTranspose(4, 6, 3, groups=2, stride=2, padding=1, output_padding=1),
    ),
    3: (lambda: torch.nn.ConvTranspose3d(4, 6, 2), lambda: paddle.nn.Conv3DTranspose(4, 6, 2)),
}


def _conv_transpose_models(dims: int, base: str) -> tuple[Any, Any, np.ndarray]:
    torch_factory, paddle_factory = CONV_TRANSPOSE[dims]
    x = RNG.standard_normal((2, 4, *([4] * dims))).astype(np.float32)
    return (*_norm_models((torch_factory, paddle_factory, ()), base)[:2], x)


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("dims", [1, 2, 3])
def test_conv_transpose_copies_weight_as_is(dims, base):
    base_model, raw_model, x = _conv_transpose_models(dims, base)
    report = padiff.compare(base_model, raw_model, x, keep_weights=True)
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"])
    assert np.array_equal(
        adapter_for(raw_model).to_numpy(raw_model.layer.weight),
        adapter_for(base_model).to_numpy(base_model.layer.weight),
    )


def test_conv_transpose_without_its_kind_alias_raises(monkeypatch):
    monkeypatch.delitem(padiff.match.kinds.KIND_ALIASES, "conv2dtranspose")
    base_model, raw_model, x = _conv_transpose_models(2, "torch")
    with pytest.raises(padiff.WeightTransferError, match="ConvTranspose2d but its counterpart"):
        padiff.compare(base_model, raw_model, x)


# --- Embedding(padding_idx) -------------------------------------------------------------------------


def _embedding_models(base: str, padding_row: float) -> tuple[Any, Any, np.ndarray]:
    torch_model = _holder("torch", torch.nn.Embedding(10, 3, padding_idx=0), _call())
    paddle_model = _holder("paddle", paddle.nn.Embedding(10, 3, padding_idx=0), _call())
    base_model, raw_model = (torch_model, paddle_model) if base == "torch" else (paddle_model, torch_model)
    adapter = adapter_for(base_model)
    weight = RNG.standard_normal((10, 3)).astype(np.float32)
    weight[0] = padding_row
    adapter.assign(base_model.layer.weight, weight)
    return base_model, raw_model, np.array([[0, 3, 0, 7], [1, 0, 2, 9]], dtype=np.int64)


def test_paddle_base_with_a_stored_padding_row_gives_torch_a_zero_row():
    """paddle outputs zeros for padding tokens whatever its row holds; torch outputs its row."""
    base_model, raw_model, ids = _embedding_models("paddle", padding_row=0.7)
    report = padiff.compare(base_model, raw_model, ids)
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"])
    assert np.all(raw_model.layer.weight.detach().numpy()[0] == 0)
    assert len(_grad_pairs(report)) == 1


def test_paddle_base_padding_row_without_the_rule_fails(monkeypatch):
    monkeypatch.delitem(padiff.weights.layer_rules.LAYER_RULES, ("embedding", "paddle", "torch"))
    base_model, raw_model, ids = _embedding_models("paddle", padding_row=0.7)
    report = padiff.compare(base_model, raw_model, ids)
    assert not report.passed
    assert report.first_diff.raw_path == "layer"


def test_torch_base_with_its_zero_padding_row_passes():
    base_model, raw_model, ids = _embedding_models("torch", padding_row=0.0)
    report = padiff.compare(base_model, raw_model, ids)
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"])


def test_torch_base_with_a_non_zero_padding_row_is_a_difference_of_that_layer():
    """paddle zeroes padding tokens in forward; a torch model that stores a row there really differs."""
    base_model, raw_model, ids = _embedding_models("torch", padding_row=0.7)
    report = padiff.compare(base_model, raw_model, ids)
    assert not report.passed
    assert (report.first_diff.phase, report.first_diff.raw_path) == (Phase.FORWARD, "layer")


# --- add_special_init (0.2.0 API) on generic pairs ----------------------------------------------------


def _torch_net() -> Any:
    """TorchFusedBlock (Linear + ReLU) -> head."""
    return block_head("torch", torch_blocks().TorchFusedBlock())


def _paddle_net() -> Any:
    """PaddleFused (Linear + ReLU in one layer, its weight stored [out, in]) -> head."""
    return block_head("paddle", paddle_fused().PaddleFused())


def _copy_fused(calls: list | None = None, sign: float = 1.0) -> Callable:
    def init(paddle_layer, torch_module):
        if calls is not None:
            calls.append((paddle_layer, torch_module))
        paddle_layer.w.set_value(sign * torch_module.fc.weight.detach().numpy())
        paddle_layer.b.set_value(torch_module.fc.bias.detach().numpy())

    return init


def _fused_input() -> np.ndarray:
    return RNG.standard_normal((3, 4)).astype(np.float32)


def test_without_a_special_init_the_fused_block_is_fitted_by_shape_and_says_so(special_inits):
    """torch Linear -> PaddleFused has no rule; its [8, 4] weight fits only as is (PaddleFused keeps
    [out, in]), so it is copied so, and the report says the weight was fitted by shape."""
    module, layer = _torch_net(), _paddle_net()
    report = padiff.compare(module, layer, _fused_input(), keep_weights=True)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block", "head"])
    assert np.array_equal(layer.block.w.numpy(), module.block.fc.weight.detach().numpy())
    fitted = [n for n in report.notes if n.startswith("weights: fitted by shape")]
    assert fitted == [
        "weights: fitted by shape (no rule for torch Linear -> paddle PaddleFused; only one orientation fits "
        "each): 'block.fc.weight' -> 'block.w' as is"
    ], report.notes


def test_special_init_copies_a_generic_pair_and_its_gradients_are_compared(special_inits):
    calls: list = []
    special_inits("PaddleFused", "TorchFusedBlock", _copy_fused(calls))
    module, layer = _torch_net(), _paddle_net()
    report = padiff.compare(module, layer, _fused_input())
    assert report.passed, str(report)
    assert_compared(report, pairs=["block", "head"])
    assert calls == [(layer.block, module.block)]  # paddle layer first, as in 0.2.0
    block_grads = [d.leaf for d in report.diffs if d.phase is Phase.GRAD and d.raw_path == "block"]
    assert sorted(block_grads) == ["bias <-> b", "weight <-> w"], block_grads


def test_a_wrong_special_init_is_what_lands_and_is_found(special_inits):
    special_inits("PaddleFused", "TorchFusedBlock", _copy_fused(sign=-1.0))
    module, layer = _torch_net(), _paddle_net()
    report = padiff.compare(module, layer, _fused_input(), keep_weights=True)
    assert not report.passed
    assert (report.first_diff.phase, report.first_diff.raw_path) == (Phase.FORWARD, "block")
    assert np.array_equal(layer.block.w.numpy(), -module.block.fc.weight.detach().numpy())
    # the function's copy does not satisfy padiff's own pairing of w: that gradient is not judged
    block_grads = [d.leaf for d in report.diffs if d.phase is Phase.GRAD and d.raw_path == "block"]
    assert block_grads == ["bias <-> b"], block_grads


def test_special_init_cannot_copy_from_a_paddle_base(special_inits):
    special_inits("PaddleFused", "TorchFusedBlock", _copy_fused())
    with pytest.raises(padiff.WeightTransferError) as caught:
        padiff.compare(_paddle_net(), _torch_net(), _fused_input())
    message = str(caught.value)
    assert "'block'" in message and "PaddleFused" in message and "TorchFusedBlock" in message, message
    assert "torch -> paddle" in message and "hint: make the torch model the base" in message, message


def test_special_init_for_a_builtin_pair_gives_way_to_the_builtin_rule_from_a_paddle_base(special_inits):
    calls: list = []
    special_inits("MultiHeadAttention", "MultiheadAttention", lambda p, t: calls.append(p))
    base_model, raw_model = CASES[0].models("paddle")
    report = padiff.compare(base_model, raw_model, CASES[0].input())
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"])
    assert calls == []


def test_a_special_init_that_raises_is_reported_with_both_layers(special_inits):
    def broken(paddle_layer, torch_module):
        raise KeyError("weight")

    special_inits("PaddleFused", "TorchFusedBlock", broken)
    with pytest.raises(
        padiff.WeightTransferError, match="special init for paddle PaddleFused 'block'"
    ) as caught:
        padiff.compare(_torch_net(), _paddle_net(), _fused_input())
    assert isinstance(caught.value.__cause__, KeyError)


# --- the same conversion serves weights after optimizer steps -----------------------------------------


@pytest.mark.parametrize("base", ["torch", "paddle"])
@pytest.mark.parametrize("case", [CASES[0], CASES[3]], ids=lambda c: c.name)
def test_updates_after_optimizer_steps_are_compared_through_the_conversion(case, base):
    base_model, raw_model = case.models(base)
    torch_model, paddle_model = (base_model, raw_model) if base == "torch" else (raw_model, base_model)
    # lr 1: an update (after - before) carries the rounding of the weight (~6e-8 for weights near 1),
    # which must stay below the update tolerance (rtol times the mean update)
    torch_opt = torch.optim.SGD(torch_model.parameters(), lr=1.0)
    paddle_opt = paddle.optimizer.SGD(1.0, parameters=paddle_model.parameters())
    optimizers = (torch_opt, paddle_opt) if base == "torch" else (paddle_opt, torch_opt)
    report = padiff.compare(base_model, raw_model, case.input(), optimizers=optimizers, steps=2)
    assert report.passed, str(report)
    assert_compared(report, pairs=["layer"], phases=(*PHASES, "weight"))
    updates = [d for d in report.diffs if d.phase is Phase.WEIGHT]
    assert len(updates) == 2 * len(list(raw_model.parameters()))


def test_a_raw_parameter_no_base_state_is_paired_with_is_named_in_a_note(special_inits):
    """The wrong special init's copy of w matches none of base's states (the pairing checks the values),
    so w's gradient and updates are not compared: a note names it. With the right copy every raw
    parameter has its pair, and no such note appears."""
    unpaired = "gradients and updates not compared for"
    special_inits("PaddleFused", "TorchFusedBlock", _copy_fused(sign=-1.0))
    report = padiff.compare(_torch_net(), _paddle_net(), _fused_input())
    notes = [n for n in report.notes if n.startswith(unpaired)]
    assert notes == [
        f"{unpaired} 1 of raw's parameters that no base state is paired with (a special init's copy padiff "
        "could not match, for one): block.w"
    ], report.notes


def test_with_every_raw_parameter_paired_there_is_no_such_note(special_inits):
    special_inits("PaddleFused", "TorchFusedBlock", _copy_fused())
    report = padiff.compare(_torch_net(), _paddle_net(), _fused_input())
    assert report.passed and not any("gradients and updates not compared" in n for n in report.notes)
