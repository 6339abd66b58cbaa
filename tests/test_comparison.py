"""padiff.compare end to end (comparison.py): twins and plants over every framework pair, train mode, what a
run leaves behind (also when the model raises), structure mismatches, input and output forms, weight
sharing, and diff_phase."""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.harm import checked_compare, hooks_left, same_state, state_of, sublayers, to_numpy, training_modes
from tests.models import (
    PLANTS,
    TWINS,
    build,
    example_input,
    faulty,
    net,
    outputs,
    shared,
    short_mlp,
    two_inputs,
)

PAIRS = [("torch", "paddle"), ("paddle", "torch"), ("torch", "torch"), ("paddle", "paddle")]
PAIR_IDS = [f"{base}->{raw}" for base, raw in PAIRS]
RNG = np.random.default_rng(11)


# --- helpers -------------------------------------------------------------------------------------------


def _stats(model: Any) -> dict[str, np.ndarray]:
    """BatchNorm running statistics, under torch's names on both frameworks."""
    names = {"_mean": "running_mean", "_variance": "running_var"}
    out = {}
    for key, value in state_of(model).items():
        prefix, _, leaf = key.rpartition(".")
        leaf = names.get(leaf, leaf)
        if leaf in ("running_mean", "running_var"):
            out[f"{prefix}.{leaf}"] = value
    return out


def _float_values(model: Any) -> np.ndarray:
    """All float parameter and buffer values, sorted: equal for two models holding the same weights in
    either framework's layout (a transpose keeps the multiset of values)."""
    arrays = [v.ravel() for v in state_of(model).values() if np.issubdtype(v.dtype, np.floating)]
    return np.sort(np.concatenate(arrays))


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
    raw_own = state_of(raw)
    report = padiff.compare(base, raw, example_input(twin))
    assert report.passed, str(report)
    assert report.first_diff is None
    assert report.diffs and all(d.passed for d in report.diffs)
    assert {"forward", "backward", "grad"} <= {d.phase.value for d in report.diffs}
    assert_compared(report, base)
    assert (report.base_framework, report.raw_framework) == (base_fw, raw_fw)
    # the copy of base's weights was for the run: raw holds its own again (keep_weights=True keeps it)
    assert same_state(state_of(raw), raw_own), "raw's own weights must be put back"


@pytest.mark.parametrize(
    "hollow",
    ["nothing compared", "no gradients", "a layer skipped"],
)
def test_the_compared_check_fails_on_a_hollow_pass(hollow):
    """Negative control for `assert_compared`, which every passing test calls."""
    base = build("mlp", "torch")
    report = padiff.compare(base, build("mlp", "paddle", seed=1), example_input("mlp"))
    assert_compared(report, base)
    keep = {
        "nothing compared": lambda d: False,
        "no gradients": lambda d: d.phase.value != "grad",
        "a layer skipped": lambda d: d.raw_path != "act2",
    }[hollow]
    with pytest.raises(AssertionError):
        assert_compared(SimpleNamespace(diffs=[d for d in report.diffs if keep(d)]), base)


def _check_plant(report: padiff.Report, plant) -> None:
    assert not report.passed, str(report)
    culprit = report.first_diff
    assert culprit is not None
    assert culprit.phase.value == plant.phase, str(report)
    assert culprit.base_path == culprit.raw_path == plant.path, str(report)


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("base_fw, raw_fw", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("side", ["raw", "base"])
@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: f"{p.twin}.{p.name}")
def test_a_plant_on_either_side_is_found(plant, side, base_fw, raw_fw, mode):
    base_plant, raw_plant = (None, plant.name) if side == "raw" else (plant.name, None)
    base = _set_mode(build(plant.twin, base_fw, plant=base_plant, seed=0), mode)
    raw = _set_mode(build(plant.twin, raw_fw, plant=raw_plant, seed=1), mode)
    _check_plant(padiff.compare(base, raw, example_input(plant.twin)), plant)


# --- 3. train mode: dropout is switched off and the report says so ------------------------------------


def _dropout_notes(report: padiff.Report) -> list[str]:
    return [n for n in report.notes if "dropout" in n]


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_dropout_is_switched_off_in_train_mode_and_the_report_says_so(base_fw, raw_fw, mode):
    base = _set_mode(build("transformer", base_fw, seed=0), mode)
    raw = _set_mode(build("transformer", raw_fw, seed=1), mode)
    report = padiff.compare(base, raw, example_input("transformer"))
    assert report.passed, str(report)
    assert_compared(report, base)
    notes = _dropout_notes(report)
    if mode == "eval":  # negative control: nothing switched off, nothing said
        assert notes == []
        return
    assert any(n.startswith("base") and "2 dropout" in n and "switched off" in n for n in notes), notes
    assert any(n.startswith("raw") and "2 dropout" in n and "switched off" in n for n in notes), notes
    dropouts = [layer for model in (base, raw) for path, layer in sublayers(model) if "drop" in path]
    assert len(dropouts) == 4 and all(layer.training for layer in dropouts), "dropout must be back on"


# --- 4. everything is restored after a forward that raises -----------------------------------------------


def _inplace_flags(model: Any) -> dict[str, bool]:
    return {path: layer.inplace for path, layer in sublayers(model) if hasattr(layer, "inplace")}


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
    base, raw = faulty(base_fw), faulty(raw_fw)
    failing = (base if armed == "base" else raw).inner.boom
    failing.armed = True
    models = {"base": base, "raw": raw}
    training = {role: training_modes(m) for role, m in models.items()}
    inplace = {role: _inplace_flags(m) for role, m in models.items()}
    base_state = state_of(base)
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
        assert hooks_left(model) == [], role
        assert training_modes(model) == training[role], role
        assert not model.head.training and model.training and model.inner.drop.training
        assert _inplace_flags(model) == inplace[role], role
        assert inplace[role]["act"] is inplace[role]["inner.relu"] is True
    assert same_state(base_state, state_of(base))
    # the models still work under padiff once the fault is gone
    failing.armed = False
    report = padiff.compare(base, raw, x)
    assert report.passed, str(report)
    assert_compared(report, base)
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
    assert not same_state(_stats(base), _stats(raw))
    training = {"base": training_modes(base), "raw": training_modes(raw)}
    before, raw_before = state_of(base), state_of(raw)
    report = padiff.compare(base, raw, x)
    assert report.passed is (outcome == "pass"), str(report)
    if outcome == "pass":
        assert_compared(report, base)
    for role, model in (("base", base), ("raw", raw)):
        assert hooks_left(model) == [], role
        assert training_modes(model) == training[role], role
    assert same_state(before, state_of(base)), "base parameters and buffers must be bit-identical"
    assert same_state(raw_before, state_of(raw)), "raw's own parameters and buffers must be put back"
    # keep_weights=True keeps the copy: raw's statistics are base's after transfer, not moved by the run
    padiff.compare(base, raw, x, keep_weights=True)
    assert same_state(_stats(base), _stats(raw))
    # negative control: a plain train-mode forward does move the statistics padiff put back
    _train_forward(base, x)
    assert not same_state(before, state_of(base))


def _trained(model: Any) -> Any:
    """`model` as a user holds it after training: weights no initialiser would give."""
    for name, value in state_of(model).items():
        if np.issubdtype(value.dtype, np.floating) and "running" not in name and "_mean" not in name:
            tensor = dict(model.state_dict())[name]
            update = (value * 1.5 + 0.25).astype(value.dtype)
            tensor.data.copy_(torch.from_numpy(update)) if isinstance(
                model, torch.nn.Module
            ) else tensor.set_value(update)
    return model


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS, ids=PAIR_IDS)
def test_swapped_arguments_leave_both_models_bit_identical(base_fw, raw_fw):
    """The order confused (a trained torch model given as raw): its weights are copied over for the run and
    put back afterwards, and the report says which way the copy went."""
    base, raw = build("cnn", base_fw, seed=0), _trained(build("cnn", raw_fw, seed=1))
    report = checked_compare(base, raw, example_input("cnn"))  # both models bit-identical afterwards
    assert report.passed, str(report)
    assert_compared(report, base)
    count = len([name for name in state_of(base) if not name.endswith("num_batches_tracked")])  # 17
    assert report.notes[0] == (
        f"weights: {count} tensors copied from base ({base_fw}) into raw ({raw_fw}) for the run; raw's own were "
        "put back afterwards"
    ), report.notes
    assert "weights:" in str(report)
    # negative control: keep_weights=True keeps the copy, so raw's weights are base's
    raw_own = state_of(raw)
    report = padiff.compare(base, raw, example_input("cnn"), keep_weights=True)
    assert report.notes[0].endswith("raw keeps them (keep_weights=True)"), report.notes
    assert not same_state(state_of(raw), raw_own)
    assert np.array_equal(_float_values(raw), _float_values(base))


def test_keep_weights_keeps_the_copy_and_undoes_the_optimizer_steps():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    base_own = state_of(base)
    optimizers = (
        lambda params: torch.optim.SGD(params, lr=0.5),
        lambda params: paddle.optimizer.SGD(parameters=params, learning_rate=0.5),
    )
    report = padiff.compare(
        base, raw, example_input("mlp"), optimizers=optimizers, steps=2, keep_weights=True
    )
    assert report.passed, str(report)
    assert_compared(report, base, phases=("forward", "backward", "grad", "weight"))
    assert same_state(state_of(base), base_own)
    assert np.array_equal(raw.fc1.weight.numpy(), base.fc1.weight.detach().numpy().T)  # base's, not stepped


def test_without_init_weights_nothing_is_copied_and_the_report_says_so():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    report = checked_compare(base, raw, example_input("mlp"), init_weights=False)
    assert not report.passed  # negative control of the copy: differently initialised twins differ
    assert "weights: none copied (init_weights=False); each model ran with its own" in report.notes


def _grads(model: Any) -> dict[str, np.ndarray | None]:
    return {n: None if p.grad is None else to_numpy(p.grad) for n, p in model.named_parameters()}


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
    assert_compared(report, base)
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
        base = build("mlp", framework)
        report = padiff.compare(base, build("mlp", framework, seed=1), example_input("mlp"))
        assert not _grad_enabled()[0 if framework == "torch" else 1], "grad mode must stay disabled"
    assert report.passed, str(report)
    assert {"forward", "backward", "grad"} <= {d.phase.value for d in report.diffs}
    assert_compared(report, base)


# --- 6. structure mismatch ---------------------------------------------------------------------------------


def _transfer_error(base: Any, raw: Any, x: np.ndarray) -> str:
    raw_before = state_of(raw)
    with pytest.raises(padiff.WeightTransferError) as caught:
        padiff.compare(base, raw, x)
    assert isinstance(caught.value, padiff.PadiffError)
    assert same_state(raw_before, state_of(raw)), "nothing may be written before the check fails"
    assert hooks_left(base) == [] and hooks_left(raw) == []
    return str(caught.value)


def test_one_linear_fewer_raises_weight_transfer_error_naming_both_sides():
    message = _transfer_error(build("mlp", "torch"), short_mlp("paddle"), example_input("mlp"))
    assert "'fc3'" in message and "'fc2'" in message, message
    assert "<--- HERE" in message
    assert "base (torch) tree" in message and "raw (paddle) tree" in message, message


def test_conv_against_linear_at_the_same_position_raises_weight_transfer_error():
    x = RNG.standard_normal((2, 4, 3, 4)).astype(np.float32)
    conv_first = net("paddle", first=paddle.nn.Conv2D(4, 4, 1), second=paddle.nn.Linear(4, 4))
    linear_first = net("torch", first=torch.nn.Linear(4, 4), second=torch.nn.Linear(4, 4))
    message = _transfer_error(conv_first, linear_first, x)
    assert "'first'" in message and "Conv2D" in message and "Linear" in message, message
    assert "<--- HERE" in message


# --- 7. input forms ----------------------------------------------------------------------------------------


A = RNG.standard_normal((3, 5)).astype(np.float32)
B = RNG.standard_normal((3, 5)).astype(np.float32)


def test_tuple_of_arrays_goes_positionally_to_differently_named_parameters():
    base = two_inputs("torch", "x", "y")
    report = padiff.compare(base, two_inputs("paddle", "inputs", "other"), (A, B))
    assert report.passed, str(report)
    assert_compared(report, base)


def test_dict_of_arrays_goes_by_keyword():
    # raw declares the parameters in the other order: only passing by keyword makes the models agree
    base, raw = two_inputs("torch", "x", "y"), two_inputs("paddle", "y", "x")
    report = padiff.compare(base, raw, {"x": A, "y": B})
    assert report.passed, str(report)
    assert_compared(report, base)
    # negative control: the same call positionally hands raw its inputs swapped
    assert not padiff.compare(base, raw, (A, B)).passed


def test_pair_of_framework_tensors_is_used_as_given():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    x = example_input("mlp")
    report = padiff.compare(base, raw, (torch.tensor(x), paddle.to_tensor(x)))
    assert report.passed, str(report)
    assert_compared(report, base)
    # negative control: different values on the two sides are seen
    report = padiff.compare(base, raw, (torch.tensor(x), paddle.to_tensor(x + 0.5)))
    assert not report.passed and report.first_diff.base_path == ""


def test_float64_input_is_cast_to_float32_models_with_a_note():
    x = example_input("mlp").astype(np.float64)
    base = build("mlp", "torch")
    report = padiff.compare(base, build("mlp", "paddle", seed=1), x)
    assert report.passed, str(report)
    assert_compared(report, base)
    casts = [n for n in report.notes if "cast" in n]
    assert casts and "float64" in casts[0] and "float32" in casts[0], report.notes


def test_int64_token_ids_pass_without_a_cast():
    ids = example_input("embedding")
    assert ids.dtype == np.int64
    base = build("embedding", "torch")
    report = padiff.compare(base, build("embedding", "paddle", seed=1), ids)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert not any("cast" in n for n in report.notes), report.notes
    assert any(d.where == "input" and d.base_path == "" and d.diff.dtype == "int64" for d in report.diffs)


# --- 8. output forms ---------------------------------------------------------------------------------------


X6 = RNG.standard_normal((4, 6)).astype(np.float32)


@pytest.mark.parametrize("form", ["dict", "tuple", "dataclass"])
def test_nested_outputs_with_non_tensors_pass_and_a_changed_leaf_is_found(form):
    base = outputs("torch", form)
    report = padiff.compare(base, outputs("paddle", form, seed=1), X6)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert any("non-tensor" in n for n in report.notes), report.notes
    root_outputs = [d for d in report.diffs if d.base_path == "" and d.where == "output"]
    assert len(root_outputs) == 2  # hidden and logits; the int and None are not compared

    report = padiff.compare(outputs("torch", form), outputs("paddle", form, plant=True, seed=1), X6)
    assert not report.passed
    culprit = report.first_diff
    assert culprit.phase.value == "forward" and culprit.base_path == culprit.raw_path == ""
    assert culprit.evidence.where == "output"
    failed = [d for d in report.diffs if d.phase.value == "forward" and not d.passed]
    assert len(failed) == 1 and failed[0] is culprit.evidence
    leaf = {"dict": "['logits']", "tuple": "[2]", "dataclass": ".logits"}[form]
    assert culprit.evidence.leaf == leaf


def test_dict_against_tuple_of_the_same_tensors_passes():
    base = outputs("torch", "plain_dict")
    report = padiff.compare(base, outputs("paddle", "plain_tuple", seed=1), X6)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert len([d for d in report.diffs if d.base_path == "" and d.where == "output"]) == 2
    # negative control: the leaves are still compared
    planted = outputs("paddle", "plain_tuple", plant=True, seed=1)
    assert not padiff.compare(outputs("torch", "plain_dict"), planted, X6).passed


# --- 9. a layer called twice -------------------------------------------------------------------------------


X8 = RNG.standard_normal((3, 8)).astype(np.float32)


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_layer_called_twice_passes(base_fw, raw_fw):
    base = shared(base_fw)
    report = padiff.compare(base, shared(raw_fw, seed=1), X8)
    assert report.passed, str(report)
    assert_compared(report, base)
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
    report = padiff.compare(shared(base_fw), shared(raw_fw, plant=plant, seed=1), X8)
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

    def run(diff_phase: str) -> tuple[Any, padiff.Report]:
        base = build("custom_grad", base_fw, seed=0)
        raw = build("custom_grad", raw_fw, plant="wrong_backward", seed=1)
        return base, padiff.compare(base, raw, x, diff_phase=diff_phase)

    base, forward = run("forward")
    assert forward.passed, str(forward)
    assert_compared(forward, base, phases=["forward"])
    assert forward.diffs and {d.phase.value for d in forward.diffs} == {"forward"}
    for diff_phase in ("both", "backward"):  # negative control
        _, report = run(diff_phase)
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
