"""The float64 judge (padiff.judge.rounding / referee), mixed precision, and train-mode randomness.

A failing pair of an isolated run is excused only when raw is no further from base's float64 result
than K times base's own error (plus one ulp); real differences stay failures; a unit that cannot
compute in float64 is not judged; mixed-precision pairs are judged at the less precise dtype.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import padiff
from padiff.judge.rounding import K, judge_arrays, ulp
from tests.checks import assert_compared
from tests.models import build, downcast, drop_path, example_input, functional_dropout, scaled_float64

# --- the rule ----------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    scale=st.floats(1e-6, 1e3),
    factor=st.floats(0.0, 0.99),
    n=st.integers(1, 64),
)
def test_the_judge_excuses_exactly_what_its_bound_allows(seed, scale, factor, n):
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal(n) * scale
    base = (ref + rng.standard_normal(n) * scale * 1e-7).astype(np.float32)
    base_err = np.abs(base.astype(np.float64) - ref)
    scale = np.maximum(np.abs(ref), np.sqrt(np.mean(ref**2)))
    bound = K * np.maximum(base_err, np.sqrt(np.mean(base_err**2))) + ulp(scale, "float32")
    sign = rng.choice([-1.0, 1.0], n)
    inside = ref + sign * bound * factor  # within the bound: excused
    assert judge_arrays(inside, base, ref, base, "float32").excused is True
    outside = inside.copy()
    outside[0] = ref[0] + sign[0] * bound[0] * (2.0 + factor)  # one element beyond it: a difference
    assert judge_arrays(outside, base, ref, base, "float32").excused is False


def test_rounding_the_operands_once_is_base_error_too_where_base_happens_to_be_exact():
    rng = np.random.default_rng(1)
    ref = rng.standard_normal(64) + 2.0
    base = ref.copy()  # base rounds exactly (a pairwise sum can): its own error says nothing
    rounded = ref * (1.0 + 1e-6 * rng.uniform(-1.0, 1.0, 64))  # what rounding the operands once moves
    raw = ref + 4 * np.abs(rounded - ref)
    assert judge_arrays(raw, base, ref, base, "float32").excused is False
    assert judge_arrays(raw, base, ref, base, "float32", rounded).excused is True
    far = ref * (1.0 + 1e-3)  # a real 1e-3 relative change is no rounding, estimate or not
    assert judge_arrays(far, base, ref, base, "float32", rounded).excused is False


def test_an_exact_zero_both_sides_agree_on_is_judged_at_the_tensors_scale():
    ref = np.array([0.0, 0.0, 1.0, -1.0])  # a gradient that cancels exactly in two of its elements
    base = ref.astype(np.float32)  # base exact everywhere: no error to scale by
    noise = np.array([3e-9, -3e-9, 0.0, 0.0])  # raw's rounding, below one float32 ulp at the tensor's scale
    assert judge_arrays(ref + noise, base, ref, base, "float32").excused is True
    assert judge_arrays(ref + 1e3 * noise, base, ref, base, "float32").excused is False


def test_a_planted_one_in_a_thousand_change_is_never_rounding():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(256)
    base = ref.astype(np.float32)
    raw = (ref * 1.001).astype(np.float32)
    judgement = judge_arrays(raw, base, ref, base, "float32")
    assert judgement.excused is False and judgement.worst_ratio > 100


# --- on models -------------------------------------------------------------------------------------------


def test_a_layer_that_computes_below_float64_is_not_judged_and_keeps_its_verdict():
    x = np.random.default_rng(0).standard_normal((4, 8))
    base = downcast("torch").double()
    raw = downcast("torch", scale=1.001).double()
    raw.load_state_dict(base.state_dict())
    report = padiff.compare(base, raw, x)
    culprit = report.first_diff
    assert culprit is not None and culprit.base_path == "gate"
    assert culprit.evidence.judged is not None and culprit.evidence.judged.excused is None
    assert "computes below float64" in culprit.evidence.judged.reason
    assert any(note.startswith("not judged against float64") for note in report.notes)
    assert "float64 judge: not judged (op " in str(report)


def _cast(model, framework: str, dtype: str):
    if framework == "torch":
        return model.to(getattr(torch, dtype))
    model.to(dtype=dtype)
    return model


@pytest.mark.parametrize("base_fw, raw_fw", [("torch", "paddle"), ("paddle", "torch")])
def test_a_one_in_a_thousand_change_in_a_models_code_still_fails_in_float32(base_fw, raw_fw):
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    base = _cast(scaled_float64(base_fw), base_fw, "float32")
    clean = padiff.compare(base, _cast(scaled_float64(raw_fw, seed=1), raw_fw, "float32"), x)
    assert clean.passed, str(clean)
    report = padiff.compare(base, _cast(scaled_float64(raw_fw, factor=1.001, seed=1), raw_fw, "float32"), x)
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("forward", ""), str(report)
    assert culprit.evidence.judged is not None and culprit.evidence.judged.excused is False


# paddle's CPU build has no float16/bfloat16 kernels: low precision runs on the torch side
MIXED = [
    ("torch", "float64", "torch", "float32"),
    ("paddle", "float64", "paddle", "float32"),
    ("torch", "float64", "paddle", "float32"),
    ("paddle", "float32", "torch", "float64"),
    ("torch", "float32", "torch", "bfloat16"),
    ("torch", "float32", "torch", "float16"),
    ("paddle", "float32", "torch", "bfloat16"),
]


@pytest.mark.parametrize("base_fw, base_dtype, raw_fw, raw_dtype", MIXED)
def test_mixed_precision_twins_pass_at_the_less_precise_dtype(base_fw, base_dtype, raw_fw, raw_dtype):
    base = _cast(build("mlp", base_fw), base_fw, base_dtype)
    raw = _cast(build("mlp", raw_fw, seed=1), raw_fw, raw_dtype)
    report = padiff.compare(base, raw, example_input("mlp"))
    assert report.passed, str(report)
    assert_compared(report, base)
    lower = max((base_dtype, raw_dtype), key=["float64", "float32", "float16", "bfloat16"].index)
    assert {d.diff.dtype for d in report.diffs if d.where == "output"} == {lower}
    assert any(note.startswith("float input cast float32 -> ") for note in report.notes) or "float32" in (
        base_dtype,
        raw_dtype,
    )


@pytest.mark.parametrize("base_fw, base_dtype, raw_fw, raw_dtype", MIXED)
def test_a_planted_activation_is_found_in_mixed_precision(base_fw, base_dtype, raw_fw, raw_dtype):
    base = _cast(build("mlp", base_fw), base_fw, base_dtype)
    raw = _cast(build("mlp", raw_fw, plant="activation", seed=1), raw_fw, raw_dtype)
    culprit = padiff.compare(base, raw, example_input("mlp")).first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("forward", "act1")


@pytest.mark.parametrize("base_fw, raw_fw", [("torch", "paddle"), ("paddle", "torch")])
def test_functional_dropout_and_drop_path_are_switched_off_in_train_mode(base_fw, raw_fw):
    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    for make, said in ((functional_dropout, "calls of functional dropout ran with p = 0"),
                       (drop_path, "dropout layers were switched off")):  # fmt: skip
        base, raw = make(base_fw), make(raw_fw, seed=1)
        report = padiff.compare(base, raw, x)
        assert report.passed, str(report)
        assert_compared(report, base, pairs=["fc", "head"])
        assert any(said in note for note in report.notes), report.notes
        assert base.training and raw.training  # put back as the user had them
    torch.manual_seed(0)
    paddle.seed(0)


def test_values_rounded_to_a_dtype_paddle_cannot_run_match_torch_s_own_rounding():
    """The float64 judge's stand-in for a unit in float16/bfloat16 where base's framework has no kernels
    for it (paddle's CPU build): values rounded to that dtype exactly as torch rounds them."""
    import torch

    from padiff.judge.jitter import rounded_to

    rng = np.random.default_rng(0)
    values = np.concatenate(
        [rng.standard_normal(10_000) * 10.0 ** rng.integers(-6, 6, 10_000), [0.0, -0.0, 1.0]]
    )
    ties = np.array([1 + 2**-8, 1 + 3 * 2**-8, 1 + 2**-11, 1 + 3 * 2**-11])  # halfway cases: to even
    for array in (values.astype(np.float32), ties.astype(np.float32)):
        for dtype in ("bfloat16", "float16"):
            expected = torch.from_numpy(array).to(getattr(torch, dtype)).double().numpy()
            assert np.array_equal(rounded_to(array, dtype), expected), dtype
    assert not np.array_equal(rounded_to(values, "bfloat16"), values)  # control: it rounds
