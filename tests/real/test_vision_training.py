"""Planted changes in real networks are named at that layer; optimizer steps on real networks."""

from __future__ import annotations

import pytest

pytest.importorskip("torchvision")
pytest.importorskip("paddle.vision")

import paddle  # noqa: E402
import torch  # noqa: E402

import padiff  # noqa: E402
from tests.checks import assert_compared  # noqa: E402
from tests.models import optimizer_pair  # noqa: E402

from .zoo import ARCHS, build_pair, images  # noqa: E402


def _plant_bn_eps(raw) -> None:
    raw.blocks[3].expand_conv[1]._epsilon = 0.1  # paddle keeps BatchNorm2D's eps here; was 1e-3


def _plant_activation(raw) -> None:
    raw.blocks[3].expand_conv._sub_layers["2"] = paddle.nn.Hardswish()  # was ReLU


@pytest.mark.parametrize(
    "name, plant, base_path, raw_path",
    [
        ("mobilenet_v3_small", _plant_bn_eps, "features.4.block.0.1", "blocks.3.expand_conv.1"),
        ("mobilenet_v3_large", _plant_activation, "features.4.block.0.2", "blocks.3.expand_conv.2"),
    ],
    ids=["bn-eps", "activation"],
)
def test_planted_change_is_named(name: str, plant, base_path: str, raw_path: str) -> None:
    arch = ARCHS[name]
    base, raw = build_pair(arch, "eval")
    assert padiff.compare(base, raw, images(arch)).passed  # the control: unchanged, they agree
    plant(raw)
    culprit = padiff.compare(base, raw, images(arch)).first_diff
    assert culprit is not None
    assert (culprit.phase.value, culprit.base_path, culprit.raw_path) == ("forward", base_path, raw_path)


def _sgd_pair(base, raw):
    return (
        torch.optim.SGD(base.parameters(), lr=0.1, momentum=0.9),
        paddle.optimizer.Momentum(learning_rate=0.1, momentum=0.9, parameters=raw.parameters()),
    )


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        "mobilenet_v2",
        "mobilenet_v3_small",
    ],
)
def test_optimizer_steps(name: str) -> None:
    """Forward, backward and two SGD-with-momentum steps, eval mode (BatchNorm statistics fixed)."""
    arch = ARCHS[name]
    base, raw = build_pair(arch, "eval")
    report = padiff.compare(base, raw, images(arch), optimizers=_sgd_pair(base, raw), steps=2)
    assert report.passed, str(report).split("\nbase")[0]
    assert not [n for n in report.notes if n.startswith("base layers without counterpart")], report.notes


@pytest.mark.parametrize("kind", ["adamw", "adam", "sgd"])
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_identical_optimizers_pass_three_train_mode_steps(name: str, kind: str) -> None:
    """Train mode (BatchNorm on batch statistics, running statistics judged after every step)."""
    arch = ARCHS[name]
    base, raw = build_pair(arch, "train")
    report = padiff.compare(base, raw, images(arch), optimizers=optimizer_pair(kind), steps=3)
    assert report.passed, str(report).split("\nbase")[0]
    assert_compared(report, phases=("forward", "backward", "grad", "weight", "buffer"))
    assert {d.step for d in report.diffs if d.phase.value == "weight"} == {0, 1, 2}


@pytest.mark.parametrize(
    "raw, step, setting",
    [
        ({"weight_decay": 0.05}, 0, "weight_decay 0.01 vs 0.05"),
        ({"beta2": 0.99}, 1, "beta2 0.999 vs 0.99"),
        ({"epsilon": 1e-6}, 0, "epsilon 1e-08 vs 1e-06"),
        ({"l2": True}, 0, "optimizer AdamW vs Adam"),
    ],
    ids=["weight_decay", "beta2", "epsilon", "l2_vs_decoupled"],
)
def test_a_planted_optimizer_difference_in_a_real_network(raw: dict, step: int, setting: str) -> None:
    arch = ARCHS["resnet18"]
    base, paddle_model = build_pair(arch, "train")
    report = padiff.compare(
        base, paddle_model, images(arch), optimizers=optimizer_pair("adamw", **raw), steps=3
    )
    culprit = report.first_diff
    assert culprit is not None, "a planted optimizer difference passed"
    assert (culprit.phase.value, culprit.step) == ("weight", step), str(report).split("\nbase")[0]
    assert setting in culprit.reason
