"""Awkward and wrong inputs to padiff.compare: each gets a PadiffError subclass whose message names both
sides and ends with a hint, or the right report. Every run here goes through `checked_compare`, which
also checks that nothing of the user's was harmed, whatever the outcome (passed, failed, raised).

Cases already in test_comparison.py are not repeated: a Linear missing on raw, paddle Conv2D against torch
Linear, float64 input into float32 models, numpy token ids, a child layer raising, a layer called twice,
nested output containers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.models import (
    acts,
    first,
    fragile,
    free,
    inplace,
    leaf_outputs,
    loop,
    mlp_options,
    nonfinite,
    reshaping,
    scaled_float64,
    scaled_grad,
    sequential_root,
    tied,
    tiny_lm,
    tokens,
)

RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 4)).astype(np.float32)
FRAMEWORKS = ("torch", "paddle")


def _is_torch(model: Any) -> bool:
    return isinstance(model, torch.nn.Module)


def _np(tensor: Any) -> np.ndarray:
    if isinstance(tensor, torch.Tensor):
        return tensor.detach().numpy().copy()
    return np.array(tensor.numpy(), copy=True)


# --- "nothing harmed": what a run must leave as it found it --------------------------------------------


def _sublayers(model: Any) -> list[tuple[str, Any]]:
    if _is_torch(model):
        return list(model.named_modules(remove_duplicate=False))
    return list(model.named_sublayers(include_self=True))


def _hooks(model: Any) -> list[str]:
    attrs = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    if not _is_torch(model):
        attrs = ("_forward_pre_hooks", "_forward_post_hooks")
    return [f"{path}: {a}" for path, layer in _sublayers(model) for a in attrs if len(getattr(layer, a))]


def _state(model: Any) -> dict[str, np.ndarray]:
    if _is_torch(model):
        return {k: _np(v) for k, v in model.state_dict(keep_vars=True).items()}
    return {k: _np(v) for k, v in model.state_dict().items()}


def _flags(model: Any) -> dict[str, Any]:
    """train/eval per layer, requires_grad per parameter, inplace flags."""
    if _is_torch(model):
        trainable = {n: p.requires_grad for n, p in model.named_parameters()}
    else:
        trainable = {n: not p.stop_gradient for n, p in model.named_parameters()}
    return {
        "training": {path: layer.training for path, layer in _sublayers(model)},
        "trainable": trainable,
        "inplace": {path: layer.inplace for path, layer in _sublayers(model) if hasattr(layer, "inplace")},
    }


def _globals() -> dict[str, Any]:
    return {
        "torch default dtype": torch.get_default_dtype(),
        "paddle default dtype": paddle.get_default_dtype(),
        "torch grad mode": torch.is_grad_enabled(),
        "paddle grad mode": paddle.is_grad_enabled(),
    }


def _seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    paddle.seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _draws() -> list[np.ndarray]:
    """One draw from every global RNG a user may rely on."""
    return [
        torch.rand(4).numpy(),
        paddle.rand([4]).numpy(),
        np.random.rand(4),
        np.array([random.random() for _ in range(4)]),
    ]


def _is_model(obj: Any) -> bool:
    return isinstance(obj, (torch.nn.Module, paddle.nn.Layer))


def run_checked(call: Callable[[], Any], base: Any, raw: Any, raw_kept: bool = False) -> Any:
    """`call()`, then assert that base's parameters and buffers are bit-identical (and raw's when
    `raw_kept`: padiff stopped before writing), no padiff hook is left, train/eval, requires_grad and
    inplace flags, default dtypes and grad modes are as before, and the global RNGs continue the
    sequence they would have without the call."""
    models = {role: m for role, m in (("base", base), ("raw", raw)) if _is_model(m)}
    kept = {role: _state(m) for role, m in models.items() if role == "base" or raw_kept}
    flags = {role: _flags(m) for role, m in models.items()}
    hooks = {role: _hooks(m) for role, m in models.items()}
    before = _globals()
    _seed_all(123)
    try:
        return call()
    finally:
        drawn = _draws()
        _seed_all(123)
        for got, want in zip(drawn, _draws()):
            assert np.array_equal(got, want), "a global RNG moved: padiff drew from it or did not restore it"
        assert _globals() == before
        for role, model in models.items():
            assert _hooks(model) == hooks[role], f"{role}: hooks left"
            assert _flags(model) == flags[role], f"{role}: flags changed"
            if role in kept:
                after = _state(model)
                assert after.keys() == kept[role].keys(), role
                for name, value in kept[role].items():
                    same = (after[name].dtype, after[name].shape, after[name].tobytes())
                    assert same == (value.dtype, value.shape, value.tobytes()), f"{role}.{name} changed"


def checked_compare(base: Any, raw: Any, inputs: Any, raw_kept: bool = False, **kwargs: Any) -> Any:
    return run_checked(lambda: padiff.compare(base, raw, inputs, **kwargs), base, raw, raw_kept)


def _raises(error: type, base: Any, raw: Any, inputs: Any = X, raw_kept: bool = True, **kwargs: Any):
    """The error padiff raised (checked for harm too) and its message; every message ends with a hint."""
    with pytest.raises(error) as caught:
        checked_compare(base, raw, inputs, raw_kept=raw_kept, **kwargs)
    assert isinstance(caught.value, padiff.PadiffError)
    message = str(caught.value)
    assert "\nhint: " in message and message.rsplit("\nhint: ", 1)[1].strip(), message
    return caught.value, message


# --- the harm check notices harm (its negative control) ----------------------------------------------


def _add_hook(model: Any) -> None:
    if _is_torch(model):
        model.fc1.register_forward_hook(lambda *a: None)
    else:
        model.fc1.register_forward_post_hook(lambda *a: None)


def _touch_param(model: Any) -> None:
    if _is_torch(model):
        with torch.no_grad():
            model.fc1.weight[0, 0] += 1.0
    else:
        model.fc1.weight.set_value(model.fc1.weight.numpy() + 1.0)


def _freeze(model: Any) -> None:
    if _is_torch(model):
        model.fc1.weight.requires_grad_(False)
    else:
        model.fc1.weight.stop_gradient = True


HARMS: dict[str, Callable[[Any], None]] = {
    "param changed": _touch_param,
    "hook left": _add_hook,
    "mode flipped": lambda m: m.fc1.train(not m.fc1.training),
    "requires_grad flipped": _freeze,
    "inplace flipped": lambda m: setattr(m.act, "inplace", True),
    "torch default dtype": lambda m: torch.set_default_dtype(torch.float64),
    "paddle default dtype": lambda m: paddle.set_default_dtype("float64"),
    "torch grad mode": lambda m: torch.set_grad_enabled(False),
    "paddle grad mode": lambda m: paddle.set_grad_enabled(False),
    "torch rng drawn": lambda m: torch.rand(1),
    "paddle rng drawn": lambda m: paddle.rand([1]),
}


@pytest.mark.parametrize("outcome", ["returns", "raises"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("harm", sorted(HARMS))
def test_the_harm_check_notices_each_kind_of_harm(harm, framework, outcome):
    model, other = mlp_options(framework), mlp_options(framework, seed=1)

    def harmful() -> None:
        HARMS[harm](model)
        if outcome == "raises":
            raise ValueError("the run failed after doing harm")

    saved = _globals()
    try:
        run_checked(lambda: None, model, other)  # nothing done: nothing noticed
        with pytest.raises(AssertionError):
            run_checked(harmful, model, other)
    finally:
        torch.set_default_dtype(saved["torch default dtype"])
        paddle.set_default_dtype(saved["paddle default dtype"])
        torch.set_grad_enabled(saved["torch grad mode"])
        paddle.set_grad_enabled(saved["paddle grad mode"])


# --- structure: mismatches padiff cannot pair -------------------------------------------------------------


# case: (base, raw, the raw that fixes it, message fragments). Paths are quoted in messages.
STRUCTURE_CASES: dict[str, tuple[Callable, Callable, Callable, tuple[str, ...]]] = {
    "bias missing on raw": (
        lambda: mlp_options("torch"),
        lambda: mlp_options("paddle", 1, bias=False),
        lambda: mlp_options("paddle", 1),
        ("'fc2' (Linear) has 2", "[weight, bias]", "but 'fc2' (Linear) has 1 [weight]", "bias="),
    ),
    "bias missing on base": (
        lambda: mlp_options("paddle", bias=False),
        lambda: mlp_options("torch", 1),
        lambda: mlp_options("torch", 1, bias=False),
        ("'fc2' (Linear) has 1 parameters/buffers [weight]", "'fc2' (Linear) has 2 [weight, bias]"),
    ),
    "weight shape": (
        lambda: mlp_options("torch"),
        lambda: mlp_options("paddle", 1, width=9),
        lambda: mlp_options("paddle", 1),
        ("shape mismatch", "'fc1.weight' [4, 8]", "'fc1.weight' [4, 9]", "different sizes"),
    ),
    "one layer more on raw": (
        lambda: mlp_options("torch"),
        lambda: mlp_options("paddle", 1, extra=True),
        lambda: mlp_options("paddle", 1),
        ("base has 2 layers with parameters but raw has 3", "raw 'extra'", "LayerMap"),
    ),
    "torch Conv1d against paddle Linear": (
        lambda: first("torch", "conv"),
        lambda: first("paddle", "linear", 1),
        lambda: first("paddle", "conv", 1),
        ("'first' is a Conv1d", "'first' is a Linear", "LayerMap"),
    ),
}


@pytest.mark.parametrize("case", sorted(STRUCTURE_CASES))
def test_a_structure_mismatch_raises_weight_transfer_error_naming_both_sides(case):
    make_base, make_raw, make_fixed, fragments = STRUCTURE_CASES[case]
    base = make_base()
    _, message = _raises(padiff.WeightTransferError, base, make_raw())
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    roles = ("base", "raw") if _is_torch(base) else ("raw", "base")
    assert f"{roles[0]} (torch) tree:" in message and f"{roles[1]} (paddle) tree:" in message, message
    assert message.count("<--- HERE") == 2, message
    # negative control: without the slip the same base passes
    report = checked_compare(base, make_fixed(), X)
    assert report.passed, str(report)
    assert_compared(report, base)


def test_the_layer_only_one_side_has_is_the_one_the_message_points_at():
    _, message = _raises(
        padiff.WeightTransferError, mlp_options("torch"), mlp_options("paddle", 1, extra=True)
    )
    assert "raw 'extra'" in message and "extra: Linear    <--- HERE" in message, message


NOT_COMPARED = "not compared: "


@pytest.mark.parametrize(
    "base_acts, raw_acts, culprit, types, unmatched",
    [
        # one activation fewer on raw: acts.0 pairs by name with a different class; base's acts.1 is left
        (
            ("ReLU", "Tanh"),
            ("Tanh",),
            "acts.0",
            ("ReLU", "Tanh"),
            "base layers without counterpart, " + NOT_COMPARED + "acts.1 (Tanh)",
        ),
        # one more at the end of raw: every paired layer agrees, the root's output does not
        (
            ("Tanh",),
            ("Tanh", "Sigmoid"),
            "",
            ("Acts", "Acts"),
            "raw layers without counterpart, " + NOT_COMPARED + "acts.1 (Sigmoid)",
        ),
    ],
)
def test_different_counts_of_parameter_free_layers_are_a_report_not_an_error(
    base_acts, raw_acts, culprit, types, unmatched
):
    report = checked_compare(acts("torch", *base_acts), acts("paddle", *raw_acts, seed=1), X)
    assert not report.passed
    found = report.first_diff
    assert found.phase.value == "forward" and found.base_path == found.raw_path == culprit, str(report)
    assert (found.base_type, found.raw_type) == types
    assert unmatched in report.notes, report.notes
    # negative control: the same counts pass and leave nothing unpaired
    same_base = acts("torch", *base_acts)
    same = checked_compare(same_base, acts("paddle", *base_acts, seed=1), X)
    assert same.passed and not any("counterpart" in n for n in same.notes), str(same)
    assert_compared(same, same_base)


def test_a_sequential_root_is_compared_layer_by_layer():
    base = sequential_root("torch", "Tanh")
    clean = checked_compare(base, sequential_root("paddle", "Tanh", seed=1), X)
    assert clean.passed and any(d.raw_path == "1" for d in clean.diffs), str(clean)
    assert_compared(clean, base)
    planted = checked_compare(
        sequential_root("torch", "Tanh"), sequential_root("paddle", "Sigmoid", seed=1), X
    )
    assert not planted.passed and planted.first_diff.raw_path == "1", str(planted)


def test_the_same_layers_under_a_custom_root_are_compared():
    """Control for the test above: wrapped in a user class, the Sequential's layers are paired."""
    planted = checked_compare(acts("torch", "Tanh"), acts("paddle", "Sigmoid", seed=1), X)
    assert not planted.passed and planted.first_diff.raw_path == "acts.0", str(planted)


# --- inputs --------------------------------------------------------------------------------------------


def test_float32_input_into_float64_models_is_cast_with_a_note_and_judged_at_float64():
    base = scaled_float64("torch")
    report = checked_compare(base, scaled_float64("paddle", seed=1), X)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert "float input cast float32 -> float64 (the model's parameter dtype)" in report.notes
    assert {d.diff.dtype for d in report.diffs} == {"float64"}
    # negative control: a change of 1e-6, invisible at float32's tolerance, is seen at float64's
    report = checked_compare(scaled_float64("torch"), scaled_float64("paddle", factor=1 + 1e-6, seed=1), X)
    assert not report.passed and report.first_diff.raw_path == "", str(report)


def test_float_inputs_without_gradient_keep_their_flags_and_parameter_gradients_are_compared():
    base_x, raw_x = torch.tensor(X), paddle.to_tensor(X)
    assert not base_x.requires_grad and raw_x.stop_gradient
    base = scaled_grad("torch")
    report = checked_compare(base, scaled_grad("paddle", seed=1), (base_x, raw_x))
    assert report.passed, str(report)
    assert_compared(report, base)
    assert {d.raw_path for d in report.diffs if d.where == "param"} == {"fc1", "fc2"}
    assert not base_x.requires_grad and raw_x.stop_gradient and base_x.grad is None and raw_x.grad is None
    # negative control: a wrong backward is still found, in the backward phase
    wrong = scaled_grad("paddle", grad_factor=3.0, seed=1)
    report = checked_compare(scaled_grad("torch"), wrong, (base_x, raw_x))
    assert not report.passed and report.first_diff.phase.value == "backward", str(report)


def test_token_ids_as_framework_tensors_pass_and_different_ids_are_the_inputs_fault():
    ids = np.array([[1, 2, 3], [4, 5, 9]], dtype=np.int64)
    base, raw = tokens("torch"), tokens("paddle", seed=1)
    report = checked_compare(base, raw, (torch.tensor(ids), paddle.to_tensor(ids)))
    assert report.passed, str(report)
    assert_compared(report, base)
    assert any(d.where == "param" and d.raw_path == "embed" for d in report.diffs)
    # negative control: raw gets other ids
    report = checked_compare(base, raw, (torch.tensor(ids), paddle.to_tensor(ids[:, ::-1].copy())))
    assert not report.passed
    assert report.first_diff.raw_path == "" and report.first_diff.reason == "the model inputs differ"


# --- outputs -------------------------------------------------------------------------------------------


def test_integer_bool_empty_and_none_outputs_are_compared_leaf_by_leaf():
    base = leaf_outputs("torch")
    report = checked_compare(base, leaf_outputs("paddle", seed=1), X)
    assert report.passed, str(report)
    assert_compared(report, base)
    leaves = {d.leaf: d.diff for d in report.diffs if d.base_path == "" and d.where == "output"}
    assert set(leaves) == {"[0]", "[1]", "[2]", "[3]"}, leaves  # None is no leaf
    assert leaves["[1]"].dtype == "int64" and leaves["[2]"].dtype == "bool"
    assert leaves["[3]"].base_shape == leaves["[3]"].raw_shape == (3, 0)
    assert not any("non-tensor" in n for n in report.notes), "None is not a skipped value"


@pytest.mark.parametrize("plant, leaf", [("int", "[1]"), ("bool", "[2]")])
def test_a_changed_integer_or_bool_output_is_an_exact_difference(plant, leaf):
    report = checked_compare(leaf_outputs("torch"), leaf_outputs("paddle", plant=plant, seed=1), X)
    assert not report.passed
    found = report.first_diff
    assert found.raw_path == "" and found.evidence.leaf == leaf and "exact" in found.evidence.diff.note


# --- NaN and Inf -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["nan", "inf"])
@pytest.mark.parametrize("side", ["raw", "base"])
def test_nan_or_inf_on_one_side_is_reported_at_the_layer_that_made_it(side, kind):
    base = nonfinite("torch", kind if side == "base" else None)
    raw = nonfinite("paddle", kind if side == "raw" else None, seed=1)
    report = checked_compare(base, raw, X)
    assert not report.passed
    found = report.first_diff
    assert found.phase.value == "forward" and found.base_path == found.raw_path == "blowup", str(report)
    assert found.evidence.where == "output" and "on one side only" in found.evidence.diff.note


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_nan_or_inf_made_at_the_same_place_on_both_sides_agrees(kind):
    base = nonfinite("torch", kind)
    report = checked_compare(base, nonfinite("paddle", kind, seed=1), X)
    assert report.passed, str(report)
    assert_compared(report, base)
    special = [d for d in report.diffs if d.raw_path == "blowup" and d.where == "output"]
    assert special and "non-finite" in special[0].diff.note, "the values must really be there"
    # negative control: made on both sides but also changed elsewhere, the change is still found
    assert not checked_compare(nonfinite("torch", kind), nonfinite("paddle", None, seed=1), X).passed


# --- models without parameters, shared parameters, loops --------------------------------------------


def test_a_model_without_parameters_is_compared_forward_and_backward():
    base, raw = free("torch", "Tanh", "Sigmoid"), free("paddle", "Tanh", "Sigmoid")
    report = checked_compare(base, raw, X)
    assert report.passed, str(report)
    assert_compared(report, base, phases=["forward", "backward"])
    assert {d.phase.value for d in report.diffs} == {"forward", "backward"}  # no parameter gradients
    # negative control
    report = checked_compare(base, free("paddle", "Tanh", "ReLU"), X)
    assert not report.passed and report.first_diff.raw_path == "second", str(report)


@pytest.mark.parametrize("base_fw, raw_fw", [("torch", "paddle"), ("paddle", "torch")])
def test_a_parameter_shared_by_two_layers_stays_shared_and_is_compared_once_per_owner(base_fw, raw_fw):
    base, raw = tied(base_fw), tied(raw_fw, seed=1)
    report = checked_compare(base, raw, X)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert raw.fc2.weight is raw.fc1.weight, "the transfer must keep raw's tie"
    assert [d.raw_path for d in report.diffs if d.where == "param"].count("fc1") == 2  # weight and bias
    # negative control
    report = checked_compare(base, tied(raw_fw, act="Sigmoid", seed=1), X)
    assert not report.passed and report.first_diff.raw_path == "act", str(report)


IDS = np.array([[1, 2, 3, 4], [5, 6, 7, 1]], dtype=np.int64)


def test_embedding_and_head_tied_the_same_way_pass():
    for base_tie, raw_framework in (("module", "torch"), ("matmul", "paddle")):
        base = tiny_lm("torch", base_tie)
        report = checked_compare(base, tiny_lm(raw_framework, base_tie, seed=1), IDS)
        assert report.passed, str(report)
        assert_compared(report, base)
    # negative control: a change after the norm is found in the root's own code
    report = checked_compare(tiny_lm("torch", "matmul"), tiny_lm("paddle", "matmul", shift=0.1, seed=1), IDS)
    assert not report.passed and report.first_diff.raw_path == "", str(report)


def test_a_head_tied_to_the_embedding_as_a_module_pairs_with_a_tie_by_matmul():
    report = checked_compare(tiny_lm("torch", "module"), tiny_lm("paddle", "matmul", seed=1), IDS)
    assert report.passed, str(report)
    assert_compared(report, pairs=["embed", "norm"])
    assert any("head" in n for n in report.notes), report.notes  # base's head has no counterpart


def test_a_layer_called_in_a_loop_is_compared_at_every_call_and_the_changed_call_is_named():
    base = loop("torch")
    report = checked_compare(base, loop("paddle", seed=1), X)
    assert report.passed, str(report)
    assert_compared(report, base)
    for path in ("cell", "cell.fc", "cell.act"):
        assert {d.call for d in report.diffs if d.raw_path == path and d.where == "output"} == {0, 1, 2, 3}
    report = checked_compare(loop("torch"), loop("paddle", plant_call=2, seed=1), X)
    assert not report.passed
    found = report.first_diff
    assert found.raw_path == "cell" and found.evidence.call == 2, str(report)
    forward = [d for d in report.diffs if d.phase.value == "forward"]
    assert all(d.passed for d in forward[: forward.index(found.evidence)]), "calls 0 and 1 agree"


def test_a_difference_the_models_do_not_repeat_on_a_second_run_is_not_explained_away():
    """A failing run is confirmed by running the models again; a stateful model that does not repeat
    its difference keeps the first run's verdict, and the report says why."""
    report = checked_compare(loop("torch"), loop("paddle", plant_call=2, stateful=True, seed=1), X)
    assert not report.passed, str(report)
    assert report.first_diff.raw_path == "cell" and report.first_diff.evidence.call == 2
    assert "did not come back" in report.notes[0]


def test_without_confirmation_the_first_run_of_a_stateful_model_is_reported():
    """Control for the test above: without confirmation the first run's verdict stands as is."""
    raw = loop("paddle", plant_call=2, stateful=True, seed=1)
    report = checked_compare(loop("torch"), raw, X, confirm=False)
    assert not report.passed and report.first_diff.raw_path == "cell" and report.first_diff.evidence.call == 2


# --- in-place operations ---------------------------------------------------------------------------------


def test_an_inplace_relu_and_an_inplace_shift_between_layers_pass():
    base = inplace("torch")
    assert base.relu.inplace is True
    report = checked_compare(base, inplace("paddle", seed=1), X)  # the check keeps inplace=True
    assert report.passed, str(report)
    assert_compared(report, base)
    # fc1's output is compared as fc1 produced it, before the in-place shift and relu changed it
    fc1 = [d for d in report.diffs if d.raw_path == "fc1" and d.where == "output"]
    assert fc1 and fc1[0].passed
    # negative control: a different activation on raw is found at relu
    report = checked_compare(base, inplace("paddle", relu="LeakyReLU", seed=1), X)
    assert not report.passed and report.first_diff.raw_path == "relu", str(report)


def test_a_different_inplace_shift_in_the_parents_code_is_the_parents_fault():
    report = checked_compare(inplace("torch"), inplace("paddle", shift=0.6, seed=1), X)
    assert not report.passed
    assert report.first_diff.raw_path == "", str(report)  # the root's own code did it
    assert "first seen as the input of 'relu'" in report.first_diff.reason


@pytest.mark.parametrize("raw_fw", FRAMEWORKS)
def test_a_layer_that_changes_its_input_in_place_and_returns_it_passes(raw_fw):
    base = inplace("torch", add=1.0)
    report = checked_compare(base, inplace(raw_fw, add=1.0, seed=1), X)
    assert report.passed, str(report)
    assert_compared(report, base)


def test_a_layer_that_changes_its_input_in_place_is_found_when_it_differs():
    """Negative control of the test above."""
    report = checked_compare(inplace("torch", add=1.0), inplace("paddle", add=1.5, seed=1), X)
    assert not report.passed and report.first_diff.raw_path == "add", str(report)


@pytest.mark.parametrize("base_fw", FRAMEWORKS)
def test_a_model_that_changes_its_input_in_place_runs_under_padiff(base_fw):
    base = inplace(base_fw, input_shift=1.0)
    if base_fw == "torch":
        base(torch.tensor(X))  # it runs on a plain tensor
    report = checked_compare(base, inplace("paddle", input_shift=1.0, seed=1), X)
    assert report.passed, str(report)
    assert_compared(report, base)
    # negative control: a different shift of the input is found
    planted = checked_compare(base, inplace("paddle", input_shift=2.0, seed=1), X)
    assert not planted.passed


# --- models that raise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("armed", ["base", "raw"])
def test_a_forward_raising_in_the_roots_own_code_is_a_run_error_naming_it(armed):
    frameworks = {"base": "torch", "raw": "paddle"}
    models = {role: reshaping(fw, armed=role == armed) for role, fw in frameworks.items()}
    error, message = _raises(padiff.RunError, models["base"], models["raw"], raw_kept=False)
    assert f"{armed} model ({frameworks[armed]}) raised in layer '(root)'" in message, message
    assert "layers finished before it: 1 (last: fc1)" in message, message
    assert error.__cause__ is not None and "5" in str(error.__cause__)
    # negative control
    base = reshaping("torch")
    report = checked_compare(base, reshaping("paddle", seed=1), X)
    assert report.passed, str(report)
    assert_compared(report, base)


@pytest.mark.parametrize("armed", ["base", "raw"])
def test_a_backward_that_raises_is_a_run_error_with_the_original_chained(armed):
    frameworks = {"base": "torch", "raw": "paddle"}
    models = {role: fragile(fw, role == armed) for role, fw in frameworks.items()}
    error, message = _raises(padiff.RunError, models["base"], models["raw"], raw_kept=False)
    assert f"{armed} model ({frameworks[armed]}) raised in backward" in message, message
    assert "boom in backward" in message and "boom in backward" in str(error.__cause__)
    # negative control: the same models, unarmed, pass
    base = fragile("torch", False)
    report = checked_compare(base, fragile("paddle", False), X)
    assert report.passed, str(report)
    assert_compared(report, base)


# --- loss_fn --------------------------------------------------------------------------------------------


def _mean(out: Any) -> Any:
    return out.mean()


@pytest.mark.parametrize(
    "loss_fn, role, fragment",
    [
        ((lambda out: out, _mean), "base", "base loss_fn returned [3, 2], not a scalar float tensor"),
        ((_mean, lambda out: out * 2), "raw", "raw loss_fn returned [3, 2], not a scalar float tensor"),
        ((lambda out: out.argmax(), _mean), "base", "base loss_fn returned [], not a scalar float tensor"),
        ((_mean, lambda out: 1.0), "raw", "raw loss_fn returned float, not a scalar float tensor"),
    ],
    ids=["base-tensor", "raw-tensor", "base-integer", "raw-python-float"],
)
def test_a_loss_fn_that_returns_no_scalar_is_an_input_error(loss_fn, role, fragment):
    _, message = _raises(
        padiff.InputError, mlp_options("torch"), mlp_options("paddle", 1), raw_kept=False, loss_fn=loss_fn
    )
    assert fragment in message and ".mean()" in message, message
    # negative control: scalar losses pass
    base = mlp_options("torch")
    report = checked_compare(base, mlp_options("paddle", 1), X, loss_fn=(_mean, _mean))
    assert report.passed, str(report)
    assert_compared(report, base)


@pytest.mark.parametrize(
    "loss_fn",
    [_mean, (_mean,), (_mean, _mean, _mean), (_mean, "mean"), {"base": _mean, "raw": _mean}],
    ids=["one-function", "1-tuple", "3-tuple", "not-callable", "dict"],
)
def test_a_loss_fn_that_is_not_a_pair_of_callables_is_an_input_error(loss_fn):
    _, message = _raises(padiff.InputError, mlp_options("torch"), mlp_options("paddle", 1), loss_fn=loss_fn)
    assert "pair (base_fn, raw_fn) of callables" in message, message


def test_a_loss_fn_that_raises_is_a_run_error_with_the_original_chained():
    def broken(out: Any) -> Any:
        raise KeyError("logits")

    error, message = _raises(
        padiff.RunError,
        mlp_options("torch"),
        mlp_options("paddle", 1),
        raw_kept=False,
        loss_fn=(_mean, broken),
    )
    assert "raw loss_fn raised: KeyError" in message and isinstance(error.__cause__, KeyError)


# --- not a model ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role, thing, shown",
    [
        ("raw", lambda x: x, "builtins.function"),
        ("raw", None, "builtins.NoneType"),
        ("base", "resnet18", "builtins.str"),
        ("raw", torch.zeros(2), "torch.Tensor"),
        ("base", torch.optim.SGD, "builtins.type"),
    ],
    ids=["function", "None", "str", "tensor", "class"],
)
def test_something_that_is_not_a_model_is_an_input_error(role, thing, shown):
    models = {"base": mlp_options("torch"), "raw": mlp_options("paddle", 1)}
    models[role] = thing
    _, message = _raises(padiff.InputError, models["base"], models["raw"])
    assert message.startswith(f"{role} is a {shown}, not a torch.nn.Module or paddle.nn.Layer"), message
