"""padiff.compare end to end (engine.py): twins and plants over every framework pair, train mode, what a
run leaves behind (also when the model raises), structure mismatches, input and output forms, weight
sharing, and diff_phase."""

from __future__ import annotations

import dataclasses
import functools
from contextlib import nullcontext
from typing import Any

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.models import PLANTS, TWINS, build, example_input

PAIRS = [("torch", "paddle"), ("paddle", "torch"), ("torch", "torch"), ("paddle", "paddle")]
PAIR_IDS = [f"{base}->{raw}" for base, raw in PAIRS]
RNG = np.random.default_rng(11)


# --- helpers -------------------------------------------------------------------------------------------


def _np(tensor: Any) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().cpu().numpy().copy()
    return np.array(tensor.numpy(), copy=True)


def _lib(framework: str) -> tuple[Any, type]:
    """(nn namespace, layer base class) of a framework."""
    return (torch.nn, torch.nn.Module) if framework == "torch" else (paddle.nn, paddle.nn.Layer)


def _sublayers(model: Any) -> list[tuple[str, Any]]:
    if isinstance(model, torch.nn.Module):
        return list(model.named_modules())
    return list(model.named_sublayers(include_self=True))


def _state(model: Any) -> dict[str, np.ndarray]:
    """Every parameter and buffer (BatchNorm statistics, torch's num_batches_tracked included)."""
    if isinstance(model, torch.nn.Module):
        return {k: _np(v) for k, v in model.state_dict(keep_vars=True).items()}
    return {k: _np(v) for k, v in model.state_dict().items()}


def _stats(model: Any) -> dict[str, np.ndarray]:
    """BatchNorm running statistics, under torch's names on both frameworks."""
    names = {"_mean": "running_mean", "_variance": "running_var"}
    out = {}
    for key, value in _state(model).items():
        prefix, _, leaf = key.rpartition(".")
        leaf = names.get(leaf, leaf)
        if leaf in ("running_mean", "running_var"):
            out[f"{prefix}.{leaf}"] = value
    return out


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def _float_values(model: Any) -> np.ndarray:
    """All float parameter and buffer values, sorted: equal for two models holding the same weights in
    either framework's layout (a transpose keeps the multiset of values)."""
    arrays = [v.ravel() for v in _state(model).values() if np.issubdtype(v.dtype, np.floating)]
    return np.sort(np.concatenate(arrays))


def _hooks_left(model: Any) -> list[str]:
    """'path: attribute' for every hook dict that is not empty, on every sublayer."""
    if isinstance(model, torch.nn.Module):
        attrs = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    else:
        attrs = ("_forward_pre_hooks", "_forward_post_hooks")
    return [f"{path}: {a}" for path, layer in _sublayers(model) for a in attrs if len(getattr(layer, a))]


def _training(model: Any) -> dict[str, bool]:
    return {path: bool(layer.training) for path, layer in _sublayers(model)}


def _set_mode(model: Any, mode: str) -> Any:
    model.train() if mode == "train" else model.eval()
    return model


def _grad_enabled() -> tuple[bool, bool]:
    return torch.is_grad_enabled(), paddle.is_grad_enabled()


# --- 1. clean twins pass; 2. plants are found -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("base_fw, raw_fw", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("twin", TWINS)
def test_clean_twin_passes(twin, base_fw, raw_fw, mode):
    base = _set_mode(build(twin, base_fw, seed=0), mode)
    raw = _set_mode(build(twin, raw_fw, seed=1), mode)
    assert not np.array_equal(_float_values(base), _float_values(raw)), "seeds must give different weights"
    report = padiff.compare(base, raw, example_input(twin))
    assert report.passed, str(report)
    assert report.first_diff is None
    assert report.diffs and all(d.passed for d in report.diffs)
    assert {"forward", "backward", "grad"} <= {d.phase.value for d in report.diffs}
    assert (report.base_framework, report.raw_framework) == (base_fw, raw_fw)
    assert np.array_equal(_float_values(base), _float_values(raw)), "raw must now hold base's weights"


def _check_plant(report: padiff.Report, plant) -> None:
    assert not report.passed, str(report)
    culprit = report.first_diff
    assert culprit is not None
    assert culprit.phase.value == plant.phase, str(report)
    assert culprit.base_path == culprit.raw_path == plant.path, str(report)


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("base_fw, raw_fw", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: f"{p.twin}.{p.name}")
def test_plant_on_raw_side_is_found(plant, base_fw, raw_fw, mode):
    base = _set_mode(build(plant.twin, base_fw, seed=0), mode)
    raw = _set_mode(build(plant.twin, raw_fw, plant=plant.name, seed=1), mode)
    _check_plant(padiff.compare(base, raw, example_input(plant.twin)), plant)


@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: f"{p.twin}.{p.name}")
def test_plant_on_base_side_is_found(plant):
    base = build(plant.twin, "torch", plant=plant.name, seed=0).eval()
    raw = build(plant.twin, "paddle", seed=1)
    raw.eval()
    _check_plant(padiff.compare(base, raw, example_input(plant.twin)), plant)


# --- 3. train mode: dropout is switched off and the report says so ------------------------------------


def _dropout_notes(report: padiff.Report) -> list[str]:
    return [n for n in report.notes if "dropout" in n]


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_train_mode_notes_that_dropout_was_switched_off(base_fw, raw_fw):
    base = build("transformer", base_fw, seed=0)
    raw = build("transformer", raw_fw, seed=1)
    base.train()
    raw.train()
    report = padiff.compare(base, raw, example_input("transformer"))
    assert report.passed, str(report)
    notes = _dropout_notes(report)
    assert any(n.startswith("base") and "2 dropout" in n and "switched off" in n for n in notes), notes
    assert any(n.startswith("raw") and "2 dropout" in n and "switched off" in n for n in notes), notes
    dropouts = [layer for model in (base, raw) for path, layer in _sublayers(model) if "drop" in path]
    assert len(dropouts) == 4 and all(layer.training for layer in dropouts), "dropout must be back on"


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_eval_mode_has_no_dropout_note(base_fw, raw_fw):
    base = build("transformer", base_fw, seed=0)
    raw = build("transformer", raw_fw, seed=1)
    base.eval()
    raw.eval()
    report = padiff.compare(base, raw, example_input("transformer"))
    assert report.passed, str(report)
    assert _dropout_notes(report) == []


# --- 4. everything is restored after a forward that raises -----------------------------------------------


class BoomError(RuntimeError):
    pass


@functools.cache
def _faulty_class(framework: str) -> type:
    nn, Layer = _lib(framework)

    class Boom(Layer):
        """Raises when armed; keeps the exception so the test can check the chain."""

        def __init__(self) -> None:
            super().__init__()
            self.armed = False
            self.raised: BaseException | None = None

        def forward(self, x: Any) -> Any:
            if self.armed:
                self.raised = BoomError("boom in the middle of the forward")
                raise self.raised
            return x * 2

    class InplaceRelu(Layer):
        """paddle has no ReLU(inplace=True): a user layer with the same flag."""

        def __init__(self) -> None:
            super().__init__()
            self.inplace = True

        def forward(self, x: Any) -> Any:
            return nn.functional.relu_(x) if self.inplace else nn.functional.relu(x)

    def relu() -> Any:
        return nn.ReLU(inplace=True) if framework == "torch" else InplaceRelu()

    class Inner(Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.relu = relu()
            self.boom = Boom()
            self.drop = nn.Dropout(0.5)

        def forward(self, x: Any) -> Any:
            return self.drop(self.boom(self.relu(self.fc(x))))

    class Faulty(Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 8)
            self.act = relu()
            self.inner = Inner()
            self.drop = nn.Dropout(0.5)
            self.head = nn.Linear(8, 2)

        def forward(self, x: Any) -> Any:
            return self.head(self.drop(self.inner(self.act(self.fc(x)))))

    return Faulty


def _faulty(framework: str) -> Any:
    model = _faulty_class(framework)()
    model.train()
    model.head.eval()  # a mix: root (and both dropouts) in train mode, one child in eval mode
    return model


def _inplace_flags(model: Any) -> dict[str, bool]:
    return {path: layer.inplace for path, layer in _sublayers(model) if hasattr(layer, "inplace")}


GRAD_CONTEXTS = {"grad-on": nullcontext, "torch.no_grad": torch.no_grad, "paddle.no_grad": paddle.no_grad}


@pytest.mark.parametrize(
    "base_fw, raw_fw, armed, grad_context",
    [
        ("torch", "paddle", "base", "grad-on"),
        ("torch", "paddle", "raw", "grad-on"),
        ("paddle", "torch", "base", "paddle.no_grad"),
        ("paddle", "torch", "raw", "torch.no_grad"),
        ("torch", "paddle", "base", "torch.no_grad"),
        ("torch", "paddle", "raw", "torch.no_grad"),
        ("torch", "torch", "raw", "grad-on"),
    ],
    ids=lambda v: str(v),
)
def test_everything_is_restored_after_a_forward_that_raises(base_fw, raw_fw, armed, grad_context):
    base, raw = _faulty(base_fw), _faulty(raw_fw)
    failing = (base if armed == "base" else raw).inner.boom
    failing.armed = True
    models = {"base": base, "raw": raw}
    training = {role: _training(m) for role, m in models.items()}
    inplace = {role: _inplace_flags(m) for role, m in models.items()}
    base_state = _state(base)
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    with GRAD_CONTEXTS[grad_context]():
        grad_before = _grad_enabled()
        with pytest.raises(padiff.RunError) as caught:
            padiff.compare(base, raw, x)
        grad_after = _grad_enabled()
    error = caught.value
    assert isinstance(error, padiff.PadiffError)
    assert "inner.boom" in str(error), str(error)
    assert f"{armed} model" in str(error), str(error)
    assert failing.raised is not None and error.__cause__ is failing.raised
    assert grad_after == grad_before
    if grad_context != "grad-on":
        assert False in grad_after, "the test must really run padiff with grad disabled"
    for role, model in models.items():
        assert _hooks_left(model) == [], role
        assert _training(model) == training[role], role
        assert not model.head.training and model.training and model.inner.drop.training
        assert _inplace_flags(model) == inplace[role], role
        assert inplace[role]["act"] is inplace[role]["inner.relu"] is True
    assert _same(base_state, _state(base))
    # the models still work under padiff once the fault is gone
    failing.armed = False
    report = padiff.compare(base, raw, x)
    assert report.passed, str(report)
    assert any("dropout" in n for n in report.notes)


# --- 5. what a normal run leaves behind ----------------------------------------------------------------


def _train_forward(model: Any, x: np.ndarray) -> Any:
    return model(torch.tensor(x) if isinstance(model, torch.nn.Module) else paddle.to_tensor(x))


@pytest.mark.parametrize("outcome", ["pass", "fail"])
@pytest.mark.parametrize("base_fw, raw_fw", PAIRS, ids=PAIR_IDS)
def test_a_run_leaves_models_as_it_found_them(base_fw, raw_fw, outcome):
    base = build("cnn", base_fw, seed=0)
    raw = build("cnn", raw_fw, plant="bn_eps" if outcome == "fail" else None, seed=1)
    x = example_input("cnn")
    for model in (base, raw):  # train mode (BatchNorm statistics move), one BatchNorm in eval mode
        model.train()
        model.block.bn2.eval()
    _train_forward(base, x * 3 + 1)  # base's statistics are no longer the initial ones raw has
    assert not _same(_stats(base), _stats(raw))
    training = {"base": _training(base), "raw": _training(raw)}
    before = _state(base)
    report = padiff.compare(base, raw, x)
    assert report.passed is (outcome == "pass"), str(report)
    for role, model in (("base", base), ("raw", raw)):
        assert _hooks_left(model) == [], role
        assert _training(model) == training[role], role
    assert _same(before, _state(base)), "base parameters and buffers must be bit-identical"
    assert _same(_stats(base), _stats(raw)), (
        "raw's statistics are base's after transfer, not moved by the run"
    )
    # negative control: a plain train-mode forward does move the statistics padiff put back
    _train_forward(base, x)
    assert not _same(before, _state(base))


def _grads(model: Any) -> dict[str, np.ndarray | None]:
    return {n: None if p.grad is None else _np(p.grad) for n, p in model.named_parameters()}


def _trainable(model: Any) -> list[str]:
    if isinstance(model, torch.nn.Module):
        return [n for n, p in model.named_parameters() if p.requires_grad]
    return [n for n, p in model.named_parameters() if not p.stop_gradient]


PADDLE_CLEARED_GRADS = (
    "paddle 3.3.1: clear_gradient(set_to_zero=False) on a parameter that padiff's run gave a gradient leaves a "
    "zero tensor, not None, until the caller clears it again after padiff returns"
)


@pytest.mark.parametrize(
    "base_fw, raw_fw, user_grads",
    [
        ("torch", "paddle", "set"),
        ("torch", "torch", "set"),
        ("paddle", "torch", "set"),
        ("paddle", "paddle", "set"),
        ("torch", "paddle", "none"),
        pytest.param(
            "paddle", "torch", "none", marks=pytest.mark.xfail(strict=True, reason=PADDLE_CLEARED_GRADS)
        ),
    ],
    ids=lambda v: str(v),
)
def test_user_gradients_on_base_are_restored(base_fw, raw_fw, user_grads):
    base, raw = build("cnn", base_fw, seed=0), build("cnn", raw_fw, seed=1)
    x = example_input("cnn")
    if user_grads == "set":
        (_train_forward(base, x * 2) ** 2).mean().backward()
    before = _grads(base)
    assert all((g is not None) is (user_grads == "set") for n, g in before.items() if n in _trainable(base))
    report = padiff.compare(base, raw, x)
    assert report.passed, str(report)
    after = _grads(base)
    assert after.keys() == before.keys()
    for name, grad in before.items():
        assert (grad is None) is (after[name] is None), name
        assert grad is None or np.array_equal(grad, after[name]), f"{name}: the user's .grad must be restored"


@pytest.mark.parametrize(
    "framework, no_grad", [("torch", torch.no_grad), ("paddle", paddle.no_grad)], ids=["torch", "paddle"]
)
def test_compare_under_no_grad_still_checks_the_backward(framework, no_grad):
    with no_grad():
        report = padiff.compare(
            build("mlp", framework), build("mlp", framework, seed=1), example_input("mlp")
        )
        assert not _grad_enabled()[0 if framework == "torch" else 1], "grad mode must stay disabled"
    assert report.passed, str(report)
    assert {"forward", "backward", "grad"} <= {d.phase.value for d in report.diffs}


# --- 6. structure mismatch ---------------------------------------------------------------------------------


class PaddleShortMlp(paddle.nn.Layer):
    """The mlp twin with one Linear fewer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = paddle.nn.Linear(16, 32)
        self.act1 = paddle.nn.ReLU()
        self.fc2 = paddle.nn.Linear(32, 8)

    def forward(self, x: Any) -> Any:
        return self.fc2(self.act1(self.fc1(x)))


def _transfer_error(base: Any, raw: Any, x: np.ndarray) -> str:
    raw_before = _state(raw)
    with pytest.raises(padiff.WeightTransferError) as caught:
        padiff.compare(base, raw, x)
    assert isinstance(caught.value, padiff.PadiffError)
    assert _same(raw_before, _state(raw)), "nothing may be written before the check fails"
    assert _hooks_left(base) == [] and _hooks_left(raw) == []
    return str(caught.value)


def test_one_linear_fewer_raises_weight_transfer_error_naming_both_sides():
    message = _transfer_error(build("mlp", "torch"), PaddleShortMlp(), example_input("mlp"))
    assert "'fc3'" in message and "'fc2'" in message, message
    assert "<--- HERE" in message
    assert "base (torch) tree" in message and "raw (paddle) tree" in message, message


class PaddleConvFirst(paddle.nn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.first = paddle.nn.Conv2D(4, 4, 1)
        self.second = paddle.nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        return self.second(self.first(x))


class TorchLinearFirst(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Linear(4, 4)
        self.second = torch.nn.Linear(4, 4)

    def forward(self, x: Any) -> Any:
        return self.second(self.first(x))


def test_conv_against_linear_at_the_same_position_raises_weight_transfer_error():
    x = RNG.standard_normal((2, 4, 3, 4)).astype(np.float32)
    message = _transfer_error(PaddleConvFirst(), TorchLinearFirst(), x)
    assert "'first'" in message and "Conv2D" in message and "Linear" in message, message
    assert "<--- HERE" in message


# --- 7. input forms ----------------------------------------------------------------------------------------


@functools.cache
def _two_input_classes(framework: str) -> dict[tuple[str, str], type]:
    """forward(<a>, <b>) computing fc(a) * tanh(b) - b, under several parameter names: order matters."""
    nn, Layer = _lib(framework)

    class TwoInputs(Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(5, 5)
            self.act = nn.Tanh()

        def body(self, a: Any, b: Any) -> Any:
            return self.fc(a) * self.act(b) - b

    class XY(TwoInputs):
        def forward(self, x: Any, y: Any) -> Any:
            return self.body(x, y)

    class YX(TwoInputs):
        def forward(self, y: Any, x: Any) -> Any:  # the same parameters declared in the other order
            return self.body(x, y)

    class InputsOther(TwoInputs):
        def forward(self, inputs: Any, other: Any) -> Any:
            return self.body(inputs, other)

    return {("x", "y"): XY, ("y", "x"): YX, ("inputs", "other"): InputsOther}


def _two_inputs(framework: str, *names: str) -> Any:
    return _two_input_classes(framework)[names]()


A = RNG.standard_normal((3, 5)).astype(np.float32)
B = RNG.standard_normal((3, 5)).astype(np.float32)


def test_tuple_of_arrays_goes_positionally_to_differently_named_parameters():
    report = padiff.compare(_two_inputs("torch", "x", "y"), _two_inputs("paddle", "inputs", "other"), (A, B))
    assert report.passed, str(report)


def test_dict_of_arrays_goes_by_keyword():
    # raw declares the parameters in the other order: only passing by keyword makes the models agree
    base, raw = _two_inputs("torch", "x", "y"), _two_inputs("paddle", "y", "x")
    report = padiff.compare(base, raw, {"x": A, "y": B})
    assert report.passed, str(report)
    # negative control: the same call positionally hands raw its inputs swapped
    assert not padiff.compare(base, raw, (A, B)).passed


def test_pair_of_framework_tensors_is_used_as_given():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    x = example_input("mlp")
    report = padiff.compare(base, raw, (torch.tensor(x), paddle.to_tensor(x)))
    assert report.passed, str(report)
    # negative control: different values on the two sides are seen
    report = padiff.compare(base, raw, (torch.tensor(x), paddle.to_tensor(x + 0.5)))
    assert not report.passed and report.first_diff.base_path == ""


def test_float64_input_is_cast_to_float32_models_with_a_note():
    x = example_input("mlp").astype(np.float64)
    report = padiff.compare(build("mlp", "torch"), build("mlp", "paddle", seed=1), x)
    assert report.passed, str(report)
    casts = [n for n in report.notes if "cast" in n]
    assert casts and "float64" in casts[0] and "float32" in casts[0], report.notes


def test_int64_token_ids_pass_without_a_cast():
    ids = example_input("embedding")
    assert ids.dtype == np.int64
    report = padiff.compare(build("embedding", "torch"), build("embedding", "paddle", seed=1), ids)
    assert report.passed, str(report)
    assert not any("cast" in n for n in report.notes), report.notes
    assert any(d.where == "input" and d.base_path == "" and d.diff.dtype == "int64" for d in report.diffs)


# --- 8. output forms ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Output:
    hidden: Any
    logits: Any
    count: int
    cache: Any = None


def _pack(form: str, hidden: Any, logits: Any) -> Any:
    if form == "dict":
        return {"hidden": hidden, "logits": logits, "count": 3, "cache": None}
    if form == "tuple":
        return (hidden, 3, logits, None)
    if form == "plain_dict":
        return {"hidden": hidden, "logits": logits}
    if form == "plain_tuple":
        return (hidden, logits)
    return Output(hidden, logits, 3)


@functools.cache
def _outputs_class(framework: str) -> type:
    nn, Layer = _lib(framework)

    class Outputs(Layer):
        def __init__(self, form: str, plant: bool) -> None:
            super().__init__()
            self.form, self.plant = form, plant
            self.fc = nn.Linear(6, 4)
            self.head = nn.Linear(4, 3)

        def forward(self, x: Any) -> Any:
            hidden = self.fc(x).tanh()
            logits = self.head(hidden)
            if self.plant:
                logits = logits * 1.01  # the root's own code changes one leaf only
            return _pack(self.form, hidden, logits)

    return Outputs


def _outputs(framework: str, form: str, plant: bool = False, seed: int = 0) -> Any:
    (torch.manual_seed if framework == "torch" else paddle.seed)(seed)
    return _outputs_class(framework)(form, plant)


X6 = RNG.standard_normal((4, 6)).astype(np.float32)


@pytest.mark.parametrize("form", ["dict", "tuple", "dataclass"])
def test_nested_outputs_with_non_tensors_pass_and_a_changed_leaf_is_found(form):
    report = padiff.compare(_outputs("torch", form), _outputs("paddle", form, seed=1), X6)
    assert report.passed, str(report)
    assert any("non-tensor" in n for n in report.notes), report.notes
    root_outputs = [d for d in report.diffs if d.base_path == "" and d.where == "output"]
    assert len(root_outputs) == 2  # hidden and logits; the int and None are not compared

    report = padiff.compare(_outputs("torch", form), _outputs("paddle", form, plant=True, seed=1), X6)
    assert not report.passed
    culprit = report.first_diff
    assert culprit.phase.value == "forward" and culprit.base_path == culprit.raw_path == ""
    assert culprit.evidence.where == "output"
    failed = [d for d in report.diffs if d.phase.value == "forward" and not d.passed]
    assert len(failed) == 1 and failed[0] is culprit.evidence
    leaf = {"dict": "['logits']", "tuple": "[2]", "dataclass": ".logits"}[form]
    assert culprit.evidence.leaf == leaf


def test_dict_against_tuple_of_the_same_tensors_passes():
    report = padiff.compare(_outputs("torch", "plain_dict"), _outputs("paddle", "plain_tuple", seed=1), X6)
    assert report.passed, str(report)
    assert len([d for d in report.diffs if d.base_path == "" and d.where == "output"]) == 2
    # negative control: the leaves are still compared
    planted = _outputs("paddle", "plain_tuple", plant=True, seed=1)
    assert not padiff.compare(_outputs("torch", "plain_dict"), planted, X6).passed


# --- 9. a layer called twice -------------------------------------------------------------------------------


@functools.cache
def _shared_class(framework: str) -> type:
    nn, Layer = _lib(framework)

    class Proj(Layer):
        """A user layer wrapping a Linear; planted, it changes its own output on every second call."""

        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 8)
            self.plant = plant
            self.calls = 0

        def forward(self, x: Any) -> Any:
            out = self.lin(x)
            if self.plant == "inside_second" and self.calls % 2 == 1:
                out = out * 1.01
            self.calls += 1
            return out

    class Block(Layer):
        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.fc = Proj(plant)  # applied twice: weight sharing
            self.act = nn.Tanh()
            self.plant = plant

        def forward(self, x: Any) -> Any:
            h = self.act(self.fc(x))
            if self.plant == "before_second":
                h = h * 1.01
            out = self.fc(h)
            if self.plant == "after_second":
                out = out + 0.01
            return out

    class Shared(Layer):
        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.block = Block(plant)
            self.head = nn.Linear(8, 2)

        def forward(self, x: Any) -> Any:
            return self.head(self.block(x))

    return Shared


def _shared(framework: str, plant: str | None = None, seed: int = 0) -> Any:
    (torch.manual_seed if framework == "torch" else paddle.seed)(seed)
    return _shared_class(framework)(plant)


X8 = RNG.standard_normal((3, 8)).astype(np.float32)


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_layer_called_twice_passes(base_fw, raw_fw):
    report = padiff.compare(_shared(base_fw), _shared(raw_fw, seed=1), X8)
    assert report.passed, str(report)
    calls = {d.call for d in report.diffs if d.raw_path == "block.fc" and d.where == "output"}
    assert calls == {0, 1}, "both calls of the shared layer are compared"
    shared_grads = [d for d in report.diffs if d.phase.value == "grad" and d.raw_path == "block.fc.lin"]
    assert len(shared_grads) == 2, "the shared weight's gradient (both calls summed) is compared"


@pytest.mark.parametrize(
    "plant, culprit_path, where, evidence_path",
    [
        # the parent's own code changes the input of the second call: the parent is the culprit
        ("before_second", "block", "input", "block.fc"),
        # the parent's own code changes the second call's output afterwards: the parent again
        ("after_second", "block", "output", "block"),
        # the shared layer itself differs on its second call only: it is the culprit, at call 1
        ("inside_second", "block.fc", "output", "block.fc"),
    ],
)
@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_change_on_the_second_call_names_the_culprit_localize_promises(
    base_fw, raw_fw, plant, culprit_path, where, evidence_path
):
    report = padiff.compare(_shared(base_fw), _shared(raw_fw, plant=plant, seed=1), X8)
    assert not report.passed
    culprit = report.first_diff
    assert culprit.phase.value == "forward"
    assert culprit.base_path == culprit.raw_path == culprit_path, str(report)
    assert culprit.evidence.where == where
    assert culprit.evidence.raw_path == evidence_path
    if evidence_path == "block.fc":
        assert culprit.evidence.call == 1, "the first call agrees; the second one is where they part"
    # every check before the culprit's evidence agreed, including the first call of the shared layer
    forward = [d for d in report.diffs if d.phase.value == "forward"]
    before = forward[: forward.index(culprit.evidence)]
    assert all(d.passed for d in before)
    assert any(d.raw_path == "block.fc" and d.call == 0 and d.where == "output" for d in before)
    if where == "input":
        assert "its own code" in culprit.reason and "'block.fc'" in culprit.reason


# --- 10. diff_phase ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_diff_phase_forward_ignores_a_wrong_backward(base_fw, raw_fw):
    x = example_input("custom_grad")

    def run(diff_phase: str) -> padiff.Report:
        base = build("custom_grad", base_fw, seed=0)
        raw = build("custom_grad", raw_fw, plant="wrong_backward", seed=1)
        return padiff.compare(base, raw, x, diff_phase=diff_phase)

    forward = run("forward")
    assert forward.passed, str(forward)
    assert forward.diffs and {d.phase.value for d in forward.diffs} == {"forward"}
    for diff_phase in ("both", "backward"):  # negative control
        report = run(diff_phase)
        assert not report.passed
        assert report.first_diff.phase.value == "backward"
        assert report.first_diff.base_path == report.first_diff.raw_path == "custom"


def test_an_error_inside_padiffs_own_hooks_is_not_blamed_on_the_model(monkeypatch):
    from padiff.judge import stream

    # a builtin in the wrong place fails inside padiff's hook (the innermost Python frame is padiff's)
    monkeypatch.setattr(stream.RawComparer, "on_call", dict.__getitem__)
    with pytest.raises(padiff.PadiffError, match="padiff itself failed") as caught:
        padiff.compare(build("mlp", "torch"), build("mlp", "paddle", seed=1), example_input("mlp"))
    assert not isinstance(caught.value, padiff.RunError)
    # negative control: an error in the model's own code is the model's (RunError)
    monkeypatch.undo()
    raw = build("mlp", "paddle", seed=1)
    raw.fc2.forward = lambda x: (_ for _ in ()).throw(ValueError("model bug"))
    with pytest.raises(padiff.RunError, match="model bug"):
        padiff.compare(build("mlp", "torch"), raw, example_input("mlp"))
