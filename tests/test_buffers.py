"""Buffers after each step (judge/buffers.py): BatchNorm running statistics through both frameworks'
conventions, in train mode with optimizer steps; the classic porting slips are found at the BatchNorm in
phase "buffer", clean ports pass."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.harm import state_of, to_numpy
from tests.models import bn_input, bn_mlp, bn_twice, hand_bn_mlp

PAIRS = [("torch", "paddle"), ("paddle", "torch"), ("torch", "torch"), ("paddle", "paddle")]
PAIR_IDS = [f"{base}->{raw}" for base, raw in PAIRS]
STEP_PHASES = ("forward", "backward", "grad", "weight", "buffer")


def _sgd(framework: str):
    if framework == "torch":
        return lambda params: torch.optim.SGD(params, lr=0.1)
    return lambda params: paddle.optimizer.SGD(parameters=params, learning_rate=0.1)


def _train_pair(base_fw: str, raw_fw: str, raw_momentum: float = 0.1, base_momentum: float = 0.1):
    base, raw = bn_mlp(base_fw, base_momentum), bn_mlp(raw_fw, raw_momentum)
    base.train()
    raw.train()
    return base, raw


def _steps(base, raw, base_fw: str, raw_fw: str, **kwargs):
    return padiff.compare(base, raw, bn_input(), optimizers=(_sgd(base_fw), _sgd(raw_fw)), steps=3, **kwargs)


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS, ids=PAIR_IDS)
def test_the_right_momentum_passes_and_the_wrong_one_is_found_at_the_batchnorm(base_fw, raw_fw):
    """momentum is given in torch's terms: 0.1 is paddle's momentum=0.9; 0.9 is paddle's 0.1, the slip."""
    base, raw = _train_pair(base_fw, raw_fw)
    report = _steps(base, raw, base_fw, raw_fw)
    assert report.passed, str(report)
    assert_compared(report, base, phases=STEP_PHASES)
    buffers = {(d.step, d.base_path, d.leaf.split(" ")[0]) for d in report.diffs if d.phase.value == "buffer"}
    names = ("running_mean", "running_var") if base_fw == "torch" else ("_mean", "_variance")
    assert buffers == {(step, "bn", name) for step in range(3) for name in names}
    assert not [n for n in report.notes if n.startswith("settings differ")], report.notes
    # negative control: the same twins, raw's momentum the porting slip
    base, wrong = _train_pair(base_fw, raw_fw, raw_momentum=0.9)
    report = _steps(base, wrong, base_fw, raw_fw)
    culprit = report.first_diff
    assert culprit is not None, str(report)
    assert (culprit.phase.value, culprit.step, culprit.base_path, culprit.raw_path) == (
        "buffer",
        0,
        "bn",
        "bn",
    )
    assert culprit.evidence.where.value == "buffer"
    shown = {"torch": "0.9", "paddle": "0.9 (paddle momentum=0.1)"}[raw_fw]
    base_shown = {"torch": "0.1", "paddle": "0.1 (paddle momentum=0.9)"}[base_fw]
    assert f"settings differ: momentum {base_shown} vs {shown}" in culprit.reason, culprit.reason
    assert "running statistic" in culprit.reason
    assert "buffer" in str(report) and "<--- HERE" in str(report)


def _one_train_forward(model, x: np.ndarray) -> dict[str, np.ndarray]:
    """The running variance after one train-mode forward, under torch's name."""
    model(torch.from_numpy(x) if isinstance(model, torch.nn.Module) else paddle.to_tensor(x))
    state = state_of(model)
    return state.get("bn.running_var", state.get("bn._variance"))


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_the_variance_conventions_differ_and_the_conversion_makes_them_agree(base_fw, raw_fw):
    """torch's running variance takes the unbiased batch variance, paddle's the biased one: over 8 values
    a channel's running variances after one step differ by ~1%, far beyond float32's tolerance."""
    x = bn_input()
    base, raw = _train_pair(base_fw, raw_fw)
    report = padiff.compare(base, raw, x)
    assert report.passed, str(report)
    assert_compared(report, base, phases=("forward", "backward", "grad", "buffer"))
    variance = next(d for d in report.diffs if d.phase.value == "buffer" and "var" in d.leaf)
    assert variance.diff.max_rel < 1e-5, variance
    # what the two BatchNorms really hold after the same step: the factor 8/7 on the batch variance
    padiff.compare(base, raw, x, keep_weights=True)  # raw starts from base's weights
    base_var, raw_var = _one_train_forward(base, x), _one_train_forward(raw, x)
    batch = (base_var - 0.9) / 0.1 if base_fw == "torch" else (raw_var - 0.9) / 0.1  # torch's: unbiased
    torch_var, paddle_var = (base_var, raw_var) if base_fw == "torch" else (raw_var, base_var)
    np.testing.assert_allclose(paddle_var, 0.9 + 0.1 * batch * 7 / 8, rtol=1e-5)
    assert np.abs(torch_var - paddle_var).max() > 1e-3 * np.abs(torch_var).max()  # a naive check fails


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_hand_written_batchnorm_with_the_other_frameworks_variance_is_found(framework):
    """A port that writes BatchNorm by hand and takes the wrong batch variance for its running statistic
    agrees on every output and gradient; only its buffer shows it."""
    own = framework == "torch"  # torch's BatchNorm takes the unbiased batch variance, paddle's the biased
    base = bn_mlp(framework)
    raw = hand_bn_mlp(framework, unbiased=own)
    base.train()
    raw.train()
    report = _steps(base, raw, framework, framework)  # three SGD steps
    assert report.passed, str(report)
    assert_compared(report, base, phases=STEP_PHASES)
    slipped = hand_bn_mlp(framework, unbiased=not own)
    slipped.train()
    report = _steps(base, slipped, framework, framework)
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("buffer", "bn"), str(report)
    assert culprit.step == 0
    assert "var" in culprit.evidence.leaf
    assert all(d.passed for d in report.diffs if d.phase.value != "buffer")


def test_torchs_cumulative_average_momentum_none():
    base, raw = _train_pair("torch", "torch", raw_momentum=None, base_momentum=None)
    report = _steps(base, raw, "torch", "torch")
    assert report.passed, str(report)
    assert_compared(report, base, phases=STEP_PHASES)
    base, raw = _train_pair("torch", "torch", raw_momentum=0.1, base_momentum=None)
    culprit = _steps(base, raw, "torch", "torch").first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("buffer", "bn")
    assert "momentum None vs 0.1" in culprit.reason


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_buffers_in_eval_mode_hold_still_and_agree(base_fw, raw_fw):
    base, raw = bn_mlp(base_fw), bn_mlp(raw_fw)
    base.eval()
    raw.eval()
    report = padiff.compare(base, raw, bn_input())
    assert report.passed, str(report)
    assert_compared(report, base, phases=("forward", "backward", "grad", "buffer"))
    assert all(d.diff.max_abs == 0 for d in report.diffs if d.phase.value == "buffer")


@pytest.mark.parametrize("single_step", [False, True], ids=["one-step", "single_step"])
def test_a_wrong_momentum_is_confirmed_layer_by_layer(single_step):
    """Without optimizers a failing buffer is confirmed with single-step isolation (raw's statistics
    put back before the isolated run), and stays at the BatchNorm; the clean twin passes."""
    base, raw = _train_pair("torch", "paddle")
    report = padiff.compare(base, raw, bn_input(), single_step=single_step)
    assert report.passed, str(report)
    assert_compared(report, base, phases=("forward", "backward", "grad", "buffer"))
    base, wrong = _train_pair("torch", "paddle", raw_momentum=0.9)
    report = padiff.compare(base, wrong, bn_input(), single_step=single_step)
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("buffer", "bn"), str(report)
    assert culprit.evidence.local is not None and not culprit.evidence.local.passed
    assert any("single-step isolation" in note or "single_step" in note for note in report.notes), (
        report.notes
    )


def test_buffers_are_put_back_after_the_run():
    base, raw = _train_pair("torch", "paddle")
    before = {"base": state_of(base), "raw": state_of(raw)}
    _steps(base, raw, "torch", "paddle")
    for role, model in (("base", base), ("raw", raw)):
        after = state_of(model)
        assert all(np.array_equal(after[k], v) for k, v in before[role].items()), role
    # negative control: a train-mode forward moves them
    base(torch.from_numpy(bn_input()))
    assert not np.array_equal(to_numpy(base.bn.running_mean), before["base"]["bn.running_mean"])


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS[:2], ids=PAIR_IDS[:2])
def test_a_batchnorm_called_twice_in_a_step(base_fw, raw_fw):
    """Two updates in one step convert as one (same batch size); with two batch sizes the variance has no
    single conversion: it is left out and the report says so, the mean is still compared."""
    base, raw = bn_twice(base_fw, 8), bn_twice(raw_fw, 8)
    report = padiff.compare(base, raw, bn_input())
    assert report.passed, str(report)
    assert_compared(report, pairs=["fc", "bn", "head"], phases=("forward", "backward", "grad", "buffer"))
    assert len([d for d in report.diffs if d.phase.value == "buffer"]) == 2
    # negative control: raw's momentum the porting slip is found at the BatchNorm
    culprit = padiff.compare(base, bn_twice(raw_fw, 8, momentum=0.9), bn_input()).first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("buffer", "bn")
    base, raw = bn_twice(base_fw, 5), bn_twice(raw_fw, 5)
    report = padiff.compare(base, raw, bn_input())
    assert report.passed, str(report)
    buffers = [d.leaf for d in report.diffs if d.phase.value == "buffer"]
    assert len(buffers) == 1 and "mean" in buffers[0], buffers
    assert any("called with different batch sizes" in note for note in report.notes), report.notes
