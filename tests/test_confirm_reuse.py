"""Confirming a one-step failure reuses the first run's natural pass (issue 14: a failing run costs
little more than a passing one).

Without optimizers and with one batch, the confirmation runs base again and raw only in isolation; raw's
natural pass is taken from the first run. Raw runs naturally a second time only where the isolated run
would clear the failure (to check that it comes back), and the whole step is run again as before when
raw's layers are called differently from the first run.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from padiff import steps
from padiff.capture.calltree import CallTree
from tests.models import build, deep_tanh, example_input, optimizer_pair

X = np.random.default_rng(0).standard_normal((16, 64)).astype("float32")


def _counted(model) -> list[int]:
    """Counts the calls of `model` itself, through the framework's own forward pre-hook (not those of the
    copies the float64 judge re-runs, which carry the hook along)."""
    calls = [0]

    def hook(layer, *_):
        if layer is model:
            calls[0] += 1

    model.register_forward_pre_hook(hook)
    return calls


def _planted() -> tuple:
    """Raw's root scales the output of its 21st layer: a local difference confirmation keeps."""
    return deep_tanh("torch", gain=2.5), deep_tanh("paddle", scale_at=20)


def _chaotic() -> tuple:
    """Float noise the deep tanh net amplifies past the tolerance: confirmation clears it."""
    return deep_tanh("torch", gain=2.5), deep_tanh("paddle")


def test_a_confirmed_failure_runs_raw_once_more_only_in_isolation():
    base, raw = _planted()
    base_calls, raw_calls = _counted(base), _counted(raw)
    report = padiff.compare(base, raw, X, api_level=False)
    assert not report.passed and "confirmed layer by layer" in report.notes[0], str(report)
    assert report.first_diff.evidence.call == 20
    assert any(d.local is not None for d in report.diffs)
    assert (base_calls[0], raw_calls[0]) == (2, 2)  # first run, then base again and raw isolated


def test_a_cleared_failure_runs_raw_naturally_again_to_see_it_come_back():
    """Control for the test above: where isolation clears the failure, raw's natural pass runs again."""
    base, raw = _chaotic()
    base_calls, raw_calls = _counted(base), _counted(raw)
    report = padiff.compare(base, raw, X, api_level=False)
    assert report.passed and "float noise the model amplifies" in report.notes[0], str(report)
    assert (base_calls[0], raw_calls[0]) == (2, 3)


def test_the_natural_rerun_compares_only_the_first_runs_failing_pair(monkeypatch):
    """It only asks whether that failure comes back; comparing every other pair again costs as much as
    the first run's comparison did."""
    base, raw = _chaotic()
    reruns: list = []
    rerun = steps._natural_rerun
    monkeypatch.setattr(steps, "_natural_rerun", lambda *a, **k: reruns.append(rerun(*a, **k)) or reruns[-1])
    first = padiff.compare(base, raw, X, api_level=False, confirm=False).first_diff
    report = padiff.compare(base, raw, X, api_level=False)
    assert report.passed and len(reruns) == 1, str(report)
    assert first is not None
    assert [(d.where, d.base_id, d.passed) for d in reruns[0]] == [
        (first.evidence.where, first.evidence.base_id, False)
    ]


def test_with_optimizers_every_step_is_run_again_whole():
    """Control: a training step's natural pass is not reused (raw's optimizer steps on what it computed)."""
    base, raw = _planted()
    base_calls, raw_calls = _counted(base), _counted(raw)
    optimizers = optimizer_pair("sgd")
    report = padiff.compare(base, raw, X, optimizers=optimizers, steps=1, api_level=False)
    assert not report.passed and report.first_diff.evidence.call == 20, str(report)
    assert (base_calls[0], raw_calls[0]) == (2, 3)


def _summary(report) -> tuple:
    culprit = report.first_diff
    where = (
        None
        if culprit is None
        else (culprit.base_path, culprit.raw_path, culprit.phase, culprit.evidence.call)
    )
    diffs = [
        (d.phase, d.where, d.base_path, d.raw_path, d.call, d.leaf, d.passed, d.diff.max_abs)
        + (() if d.local is None else (d.local.max_abs, d.local.passed))
        for d in report.diffs
    ]
    return report.passed, where, diffs


@pytest.mark.parametrize("case", ["planted", "chaotic", "cnn_bn_eps", "transformer_softmax"])
def test_the_reused_pass_gives_the_report_of_running_it_again(case, monkeypatch):
    def pair() -> tuple:
        if case == "planted":
            return (*_planted(), X)
        if case == "chaotic":
            return (*_chaotic(), X)
        twin, plant = case.split("_", 1)
        plant = {"softmax": "softmax_axis"}.get(plant, plant)
        return build(twin, "torch"), build(twin, "paddle", plant=plant, seed=1), example_input(twin)

    models = pair()  # the same models twice: padiff puts both back as they were after each run
    reused = padiff.compare(*models)
    monkeypatch.setattr(CallTree, "same_calls", lambda self, other: False)  # every step run again whole
    again = padiff.compare(*models)
    assert not again.passed or case == "chaotic"
    assert _summary(reused) == _summary(again)
    assert [n for n in reused.notes] == [n for n in again.notes]


class _Wrapped(paddle.nn.Layer):
    """The planted port, which from its second call on also calls a layer it did not call the first time."""

    def __init__(self) -> None:
        super().__init__()
        self.net = deep_tanh("paddle", scale_at=20)
        self.extra = paddle.nn.Identity()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        out = self.net(x)
        return self.extra(out) if self.calls > 1 else out


class _Base(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = deep_tanh("torch", gain=2.5)

    def forward(self, x):
        return self.net(x)


def test_raw_calling_other_layers_on_its_second_run_is_run_again_whole():
    raw = _Wrapped()
    raw_calls = _counted(raw)
    report = padiff.compare(_Base(), raw, X, api_level=False)
    assert not report.passed and report.first_diff.evidence.call == 20, str(report)
    assert report.first_diff.raw_path.startswith("net"), str(report)
    assert raw_calls[0] == 4  # first run, isolated (calls changed), then natural and isolated again


class _ChangingBase(_Base):
    """Base that from its second call on also calls a layer it did not call the first time."""

    def __init__(self) -> None:
        super().__init__()
        self.extra = torch.nn.Identity()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        out = self.net(x)
        return self.extra(out) if self.calls > 1 else out


class _RawWrapped(paddle.nn.Layer):
    """The planted port inside a wrapper, as `_Base` holds its net."""

    def __init__(self) -> None:
        super().__init__()
        self.net = deep_tanh("paddle", scale_at=20)

    def forward(self, x):
        return self.net(x)


def test_base_calling_other_layers_on_its_second_run_runs_raw_naturally_again():
    raw = _RawWrapped()
    raw_calls = _counted(raw)
    report = padiff.compare(_ChangingBase(), raw, X, api_level=False)
    assert not report.passed and report.first_diff.evidence.call == 20, str(report)
    assert raw_calls[0] == 3  # first run, then natural and isolated again: the first run's is not reused
