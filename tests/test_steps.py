"""Training steps and single-step isolation (steps.py, localize/confirm.py), each with its negative control."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.checks import PHASES, assert_compared, spy_reports
from tests.models import build, deep_tanh, example_input

MEAN = (lambda out: out.mean(), lambda out: out.mean())
STEP_PHASES = (*PHASES, "weight")  # a training step also compares the parameter updates


def _pair(torch_opt, torch_kwargs, paddle_opt, paddle_kwargs):
    return (
        lambda params: getattr(torch.optim, torch_opt)(params, **torch_kwargs),
        lambda params: getattr(paddle.optimizer, paddle_opt)(parameters=params, **paddle_kwargs),
    )


def _run(optimizers, steps=3, twin="mlp"):
    """(base, report) of the twin trained for ``steps`` steps with ``optimizers``."""
    base, raw = build(twin, "torch"), build(twin, "paddle", seed=1)
    inputs = example_input(twin)
    return base, padiff.compare(base, raw, inputs, loss_fn=MEAN, optimizers=optimizers, steps=steps)


@pytest.mark.parametrize(
    "name, torch_kwargs, paddle_kwargs",
    [
        ("SGD", {"lr": 0.1}, {"learning_rate": 0.1}),
        ("Adam", {"lr": 0.01}, {"learning_rate": 0.01}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.01}, {"learning_rate": 0.01, "weight_decay": 0.01}),
    ],
)
def test_identical_optimizers_pass_every_step(name, torch_kwargs, paddle_kwargs):
    base, report = _run(_pair(name, torch_kwargs, name, paddle_kwargs), steps=3)
    assert report.passed, str(report)
    assert_compared(report, base, phases=STEP_PHASES)
    updates = [d for d in report.diffs if d.phase.value == "weight"]
    assert {d.step for d in updates} == {0, 1, 2}
    assert {d.step for d in report.diffs if d.phase.value == "forward"} == {0, 1, 2}


@pytest.mark.parametrize(
    "name, torch_kwargs, paddle_kwargs",
    [
        ("SGD", {"lr": 0.1}, {"learning_rate": 0.11}),
        ("Adam", {"lr": 0.01, "eps": 1e-8}, {"learning_rate": 0.01, "epsilon": 1e-6}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.01}, {"learning_rate": 0.01, "weight_decay": 0.02}),
    ],
    ids=["lr", "adam-eps", "weight-decay"],
)
def test_a_different_optimizer_setting_is_caught_at_step_0_as_an_update(name, torch_kwargs, paddle_kwargs):
    _, report = _run(_pair(name, torch_kwargs, name, paddle_kwargs), steps=2)
    culprit = report.first_diff
    assert culprit is not None and culprit.phase.value == "weight" and culprit.step == 0
    assert culprit.base_path == culprit.raw_path and culprit.base_path.startswith("fc")
    assert culprit.base_type == "Linear" and "optimizer" in culprit.reason
    # forward, backward and gradients of step 0 all agreed: only the update differs
    assert all(d.passed for d in report.diffs if d.step == 0 and d.phase.value != "weight")


def test_user_optimizers_and_models_are_put_back():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    base_opt = torch.optim.Adam(base.parameters(), lr=0.01)
    raw_opt = paddle.optimizer.Adam(parameters=raw.parameters(), learning_rate=0.01)
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    raw_own = raw.fc1.weight.numpy()
    report = padiff.compare(base, raw, example_input("mlp"), optimizers=(base_opt, raw_opt), steps=2)
    assert report.passed, str(report)
    assert_compared(report, base, phases=STEP_PHASES)
    assert all(torch.equal(before[n], p) for n, p in base.named_parameters())
    assert base_opt.state_dict()["state"] == {}
    assert not raw_opt.state_dict() or all("moment" not in k for k in raw_opt.state_dict())
    # raw is back at its own weights (the copy of base's was for the run)
    assert np.array_equal(raw.fc1.weight.numpy(), raw_own)
    # keep_weights=True: raw is back at base's weights (its state after the transfer), the steps undone
    padiff.compare(
        base, raw, example_input("mlp"), optimizers=(base_opt, raw_opt), steps=2, keep_weights=True
    )
    assert np.array_equal(raw.fc1.weight.numpy(), before["fc1.weight"].numpy().T)
    # negative control: the same optimizers used directly do move the weights
    base(torch.from_numpy(example_input("mlp"))).mean().backward()
    base_opt.step()
    assert not torch.equal(before["fc1.weight"], base.fc1.weight)


def test_batches_give_one_input_per_step():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    batches = [example_input("mlp", seed=s) for s in range(3)]
    optimizers = _pair("SGD", {"lr": 0.1}, "SGD", {"learning_rate": 0.1})
    report = padiff.compare(base, raw, batches=batches, loss_fn=MEAN, optimizers=optimizers)
    assert report.passed and {d.step for d in report.diffs} == {0, 1, 2}
    assert_compared(report, base, phases=STEP_PHASES)


def test_auto_diff_takes_optimizers_and_step_functions_in_paddle_first_order(monkeypatch):
    reports = spy_reports(monkeypatch)
    layer, module = build("mlp", "paddle", seed=1), build("mlp", "torch")
    paddle_opt = paddle.optimizer.SGD(learning_rate=0.1, parameters=layer.parameters())
    torch_opt = torch.optim.SGD(module.parameters(), lr=0.1)
    x = example_input("mlp")
    assert padiff.auto_diff(layer, module, x, optimizer=(paddle_opt, torch_opt), steps=2)
    assert_compared(reports[0], module, phases=STEP_PHASES)
    # 0.2.0 "lambda" optimizers: zero-argument functions that perform the step
    wrong = paddle.optimizer.SGD(learning_rate=0.2, parameters=layer.parameters())
    assert not padiff.auto_diff(layer, module, x, optimizer=(wrong.step, torch_opt.step), steps=2)


X_DEEP = np.random.default_rng(0).standard_normal((16, 64)).astype("float32")


def _chaotic() -> tuple:
    """A deep tanh MLP in its chaotic regime (float noise grows from layer to layer), and its port."""
    return deep_tanh("torch", gain=2.5), deep_tanh("paddle")


def test_single_step_separates_local_error_from_accumulated_noise():
    plain = padiff.compare(*_chaotic(), X_DEEP, confirm=False)
    base, raw = _chaotic()
    isolated = padiff.compare(base, raw, X_DEEP, single_step=True)
    assert not plain.passed  # accumulated float noise exceeds the tolerance deep in the net
    assert isolated.passed, str(isolated)
    assert_compared(isolated, base)
    last = [d for d in isolated.diffs if d.where == "output" and d.raw_path == "act"][-1]
    assert last.diff.max_rel > 100 * last.local.max_rel  # error grew; the layer's own error did not
    assert last.local.max_rel < 1e-5
    assert any("single_step" in note for note in isolated.notes)


def test_a_failing_run_is_confirmed_layer_by_layer_by_default():
    base, raw = _chaotic()
    report = padiff.compare(base, raw, X_DEEP)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert "float noise the model amplifies" in report.notes[0]
    assert any(d.local is not None for d in report.diffs)
    # negative control: a real local difference stays a failure after confirmation
    planted = padiff.compare(deep_tanh("torch", gain=2.5), deep_tanh("paddle", scale_at=20), X_DEEP)
    assert not planted.passed and "confirmed layer by layer" in planted.notes[0]
    assert planted.first_diff.evidence.call == 20


def test_single_step_still_finds_a_real_local_error():
    base, raw = deep_tanh("torch", gain=2.5), deep_tanh("paddle", scale_at=20)
    report = padiff.compare(base, raw, X_DEEP, single_step=True)
    culprit = report.first_diff
    assert culprit is not None and culprit.phase.value == "forward"
    # the scaling happens in the root's own code, between layers.20 and act
    assert culprit.base_path == "" and culprit.evidence.raw_path == "act"
    assert culprit.evidence.call == 20


def test_an_update_is_judged_within_the_rounding_of_its_weight():
    """Large weights, tiny updates: the two frameworks' updated weights may differ in the last place."""

    def build_pair():
        base, raw = torch.nn.Linear(64, 64), paddle.nn.Linear(64, 64)
        with torch.no_grad():
            base.weight.mul_(200.0)  # weights of magnitude ~25: one float32 ulp is ~2e-6
        return base, raw

    x = np.random.default_rng(1).standard_normal((8, 64)).astype("float32")
    base, raw = build_pair()
    report = padiff.compare(
        base, raw, x, loss_fn=MEAN, optimizers=_pair("SGD", {"lr": 1e-3}, "SGD", {"learning_rate": 1e-3})
    )
    assert report.passed, str(report)
    assert_compared(report, base, phases=STEP_PHASES)
    # negative control: a 20% different learning rate is still far above the rounding
    base, raw = build_pair()
    wrong = _pair("SGD", {"lr": 1e-3}, "SGD", {"learning_rate": 1.2e-3})
    report = padiff.compare(base, raw, x, loss_fn=MEAN, optimizers=wrong)
    assert report.first_diff is not None and report.first_diff.phase.value == "weight"
