"""Optimizer isolation: an update that differs is checked by stepping raw's optimizer from base's
parameters, state and gradients; only when that still differs are the optimizers blamed, with the
setting that differs named. ViT- and UNet-like twins, three steps of AdamW, Adam and SGD with momentum."""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.models import deep_tanh, optimizer_pair, training_images, unet, vit


@pytest.mark.parametrize("make", [vit, unet], ids=["vit", "unet"])
@pytest.mark.parametrize("kind", ["adamw", "adam", "sgd"])
def test_identical_optimizers_pass_three_steps(make, kind):
    base, raw = make("torch"), make("paddle", seed=1)
    report = padiff.compare(base, raw, training_images(), optimizers=optimizer_pair(kind), steps=3)
    assert report.passed, str(report)
    assert_compared(report, base, phases=("forward", "backward", "grad", "weight"))
    assert {d.step for d in report.diffs if d.phase.value == "weight"} == {0, 1, 2}


@pytest.mark.parametrize(
    "raw, step, setting",
    [
        ({"weight_decay": 0.05}, 0, "weight_decay 0.01 vs 0.05"),
        ({"beta2": 0.99}, 1, "beta2 0.999 vs 0.99"),  # a beta only shows once the moments have history
        ({"epsilon": 1e-6}, 0, "epsilon 1e-08 vs 1e-06"),
        ({"l2": True}, 0, "optimizer AdamW vs Adam"),
    ],
    ids=["weight_decay", "beta2", "epsilon", "l2_vs_decoupled"],
)
def test_a_planted_optimizer_difference_is_found_at_the_step_it_first_shows(raw, step, setting):
    report = padiff.compare(
        vit("torch"),
        vit("paddle", seed=1),
        training_images(),
        optimizers=optimizer_pair("adamw", **raw),
        steps=3,
    )
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.step) == ("weight", step), str(report)
    assert setting in culprit.reason
    assert culprit.evidence.judged is not None and culprit.evidence.judged.excused is False
    assert "still moves differently" in culprit.evidence.judged.reason


def test_a_learning_rate_difference_says_by_how_much():
    report = padiff.compare(
        vit("torch"),
        vit("paddle", seed=1),
        training_images(),
        optimizers=optimizer_pair("sgd", learning_rate=0.2),
        steps=1,
    )
    culprit = report.first_diff
    assert culprit is not None and culprit.phase.value == "weight"
    assert "raw's update is 2x base's" in culprit.evidence.judged.reason


def test_excused_updates_say_so_and_raw_continues_from_base():
    report = padiff.compare(
        unet("torch"), unet("paddle", seed=1), training_images(), optimizers=optimizer_pair("adamw"), steps=2
    )
    assert report.passed, str(report)
    excused = [
        d for d in report.diffs if d.judged is not None and d.judged.excused and d.phase.value == "weight"
    ]
    assert excused and all("the gradients it was given do" in d.judged.reason for d in excused)
    assert any("raw continues from base's parameters and optimizer state" in n for n in report.notes)


def test_step_functions_cannot_be_isolated_and_the_report_says_so():
    base, raw = vit("torch"), vit("paddle", seed=1)
    torch_opt = torch.optim.AdamW(base.parameters(), lr=1e-3, weight_decay=0.01)
    paddle_opt = paddle.optimizer.AdamW(learning_rate=1e-3, parameters=raw.parameters(), weight_decay=0.05)
    report = padiff.compare(
        base, raw, training_images(), optimizers=(torch_opt, lambda: paddle_opt.step()), steps=1
    )
    assert not report.passed
    assert any("cannot be stepped from base's state" in n for n in report.notes), report.notes


X_DEEP = np.random.default_rng(0).standard_normal((16, 64)).astype("float32")


@pytest.mark.parametrize("raw, step", [({}, None), ({"beta2": 0.99}, 1)], ids=["same", "beta2"])
def test_confirmation_starts_optimizers_padiff_made_afresh(raw, step):
    """The chaotic tanh MLP fails on float noise and is confirmed with a second run of every step: the
    optimizers padiff built from factories start that run as fresh as the first. A beta2 difference
    shows from step 1 only (Adam's first update does not depend on it); had the second run continued
    from the first run's moments, it would show at step 0."""
    base, port = deep_tanh("torch", gain=2.5), deep_tanh("paddle")
    report = padiff.compare(base, port, X_DEEP, optimizers=optimizer_pair("adamw", **raw), steps=2)
    assert any("single-step isolation" in note for note in report.notes), report.notes  # it was confirmed
    if step is None:
        assert report.passed, str(report)
        return
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.step) == ("weight", step), str(report)
