"""Awkward but valid models get the right report: parameter-free layers in different counts, a
Sequential root, float64 and integer inputs, integer, bool, empty and None outputs, NaN and Inf, no
parameters, tied weights, a layer called in a loop, in-place operations. Every run goes through
`checked_compare` (tests/harm.py), which also checks that nothing of the user's was harmed.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

from tests.checks import assert_compared
from tests.harm import checked_compare
from tests.models import (
    acts,
    free,
    inplace,
    leaf_outputs,
    loop,
    nonfinite,
    scaled_float64,
    scaled_grad,
    sequential_root,
    tied,
    tiny_lm,
    tokens,
)

RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 4)).astype(np.float32)  # the same X as test_bad_inputs.py
FRAMEWORKS = ("torch", "paddle")


# --- parameter-free layers ---------------------------------------------------------------------------


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
