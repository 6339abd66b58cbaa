"""Wrong inputs to padiff.compare: each gets a PadiffError subclass whose message names both sides and
ends with a hint (or, for a slip padiff can still compare, the right report). Every run here goes through
`checked_compare` (tests/harm.py), which also checks that nothing of the user's was harmed, whatever the
outcome (passed, failed, raised).

Awkward but valid models (NaN, ties, loops, in-place ops, odd inputs and outputs) are in
test_awkward_models.py. Cases already in test_comparison.py are not repeated: a Linear missing on raw,
paddle Conv2D against torch Linear, float64 input into float32 models, numpy token ids, a child layer
raising, a layer called twice, nested output containers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.harm import checked_compare, global_settings, run_checked
from tests.models import first, fragile, mlp_options, reshaping

RNG = np.random.default_rng(5)
X = RNG.standard_normal((3, 4)).astype(np.float32)
FRAMEWORKS = ("torch", "paddle")


def _is_torch(model: Any) -> bool:
    return isinstance(model, torch.nn.Module)


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

    saved = global_settings()
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


# --- models that raise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("armed", ["base", "raw"])
def test_a_forward_raising_in_the_roots_own_code_is_a_run_error_naming_it(armed):
    frameworks = {"base": "torch", "raw": "paddle"}
    models = {role: reshaping(fw, armed=role == armed) for role, fw in frameworks.items()}
    error, message = _raises(padiff.RunError, models["base"], models["raw"])  # raw put back too
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
    error, message = _raises(padiff.RunError, models["base"], models["raw"])  # raw put back too
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
    _, message = _raises(padiff.InputError, mlp_options("torch"), mlp_options("paddle", 1), loss_fn=loss_fn)
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
