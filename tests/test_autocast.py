"""compare(autocast=...): one side's forward under its framework's autocast, judged at that precision
(issue 14's per-side autocast choice; torch's CPU autocast runs here, paddle's CPU build has no kernels
for it and is refused)."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from padiff.errors import InputError
from tests.checks import assert_compared
from tests.models import PLANTS, build, example_input

TWINS = ("mlp", "cnn", "transformer")


def _sgd(params):
    return torch.optim.SGD(params, lr=0.1, momentum=0.9)


def _adamw(params, lr=1e-3):
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


class _Wrapped(torch.nn.Module):
    """The model, run under torch.autocast by its own code when `autocast` (padiff is not told)."""

    def __init__(self, inner: torch.nn.Module, autocast: bool) -> None:
        super().__init__()
        self.inner, self.autocast = inner, autocast

    def forward(self, x):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            return self.inner(x)


@pytest.mark.parametrize("twin", TWINS)
def test_a_twin_under_autocast_passes_judged_at_the_autocast_dtype(twin):
    base, raw, x = build(twin, "torch"), build(twin, "torch", seed=1), example_input(twin)
    dtypes = []
    first_linear = next(m for m in raw.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)))
    first_linear.register_forward_hook(lambda m, i, out: dtypes.append(out.dtype))
    report = padiff.compare(base, raw, x, autocast=(None, "bfloat16"))
    assert report.passed, str(report)
    assert_compared(report, base)
    assert torch.bfloat16 in dtypes  # raw really ran under autocast
    floats = [d for d in report.diffs if d.diff.dtype in ("float32", "float16", "bfloat16")]
    assert floats and all(d.diff.dtype == "bfloat16" for d in floats)
    assert any("raw (torch) ran its forward under autocast to bfloat16" in n for n in report.notes)
    assert next(p for p in base.parameters()).dtype == torch.float32  # nothing changed in the models


@pytest.mark.parametrize("twin", TWINS)
def test_without_the_option_the_same_autocast_run_is_judged_as_float32_and_fails(twin):
    """Control for the test above: the models run under autocast by their own code are judged at
    float32, where bfloat16's rounding is a difference."""
    base, raw, x = build(twin, "torch"), build(twin, "torch", seed=1), example_input(twin)
    report = padiff.compare(_Wrapped(base, False), _Wrapped(raw, True), x)
    assert not report.passed
    assert report.first_diff.evidence.diff.dtype == "float32", str(report)


@pytest.mark.parametrize("side", ["base", "raw"])
@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: p.name)
def test_a_plant_is_found_at_its_layer_under_autocast(plant, dtype, side):
    base, x = build(plant.twin, "torch"), example_input(plant.twin)
    raw = build(plant.twin, "torch", plant=plant.name, seed=1)
    autocast = (dtype, None) if side == "base" else (None, dtype)
    report = padiff.compare(base, raw, x, autocast=autocast)
    assert not report.passed
    assert (report.first_diff.base_path, report.first_diff.phase.value) == (plant.path, plant.phase), str(
        report
    )


@pytest.mark.parametrize("twin", TWINS)
def test_torch_under_autocast_against_paddle_in_float32(twin):
    x = example_input(twin)
    report = padiff.compare(build(twin, "torch"), build(twin, "paddle"), x, autocast=("bfloat16", None))
    assert report.passed, str(report)
    plant = next(p for p in PLANTS if p.twin == twin)
    report = padiff.compare(
        build(twin, "torch"), build(twin, "paddle", plant=plant.name), x, autocast=("bfloat16", None)
    )
    assert not report.passed and report.first_diff.base_path == plant.path, str(report)


@pytest.mark.parametrize("factory", [_sgd, _adamw], ids=["sgd", "adamw"])
def test_training_steps_under_autocast_pass_and_a_different_learning_rate_is_found(factory):
    base, raw, x = (
        build("transformer", "torch"),
        build("transformer", "torch", seed=1),
        example_input("transformer"),
    )
    report = padiff.compare(base, raw, x, autocast=(None, "bfloat16"), optimizers=(factory, factory), steps=2)
    assert report.passed, str(report)
    assert any(d.phase.value == "weight" for d in report.diffs)
    faster = (
        (lambda ps: torch.optim.SGD(ps, lr=0.2, momentum=0.9))
        if factory is _sgd
        else (lambda ps: _adamw(ps, 2e-3))
    )
    report = padiff.compare(base, raw, x, autocast=(None, "bfloat16"), optimizers=(factory, faster), steps=2)
    assert not report.passed and report.first_diff.phase.value == "weight", str(report)


def test_autocast_on_a_paddle_model_on_the_cpu_is_refused_before_anything_runs():
    base, raw, x = build("mlp", "torch"), build("mlp", "paddle", seed=1), example_input("mlp")
    before = {k: v.numpy().copy() for k, v in raw.state_dict().items()}
    with pytest.raises(InputError) as error:
        padiff.compare(base, raw, x, autocast=(None, "bfloat16"))
    assert "paddle's CPU kernels have no bfloat16" in str(error.value)
    assert "autocast the torch side only" in error.value.hint
    after = raw.state_dict()
    assert all(np.array_equal(before[k], after[k].numpy()) for k in before)  # raw's weights as given
    assert isinstance(raw, paddle.nn.Layer)


@pytest.mark.parametrize("value", ["float64", "int8", ("bfloat16",), ("bfloat16", "float32"), 16])
def test_a_bad_autocast_value_is_a_clear_error(value):
    with pytest.raises(InputError, match="autocast must be None"):
        padiff.compare(
            build("mlp", "torch"), build("mlp", "torch", seed=1), example_input("mlp"), autocast=value
        )


def test_one_dtype_applies_to_both_sides():
    base, raw, x = build("mlp", "torch"), build("mlp", "torch", seed=1), example_input("mlp")
    report = padiff.compare(base, raw, x, autocast="bfloat16")
    assert report.passed, str(report)
    assert sum("ran its forward under autocast to bfloat16" in n for n in report.notes) == 2
