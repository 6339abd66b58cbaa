"""torchvision under torch's bfloat16 autocast against paddle.vision in float32 (`compare(autocast=)`):
the same networks pass, eval and train, with either as base, and a planted BatchNorm epsilon is found at
its layer. With paddle as base, the float64 judge cannot run base's units in bfloat16 (paddle's CPU
build has no kernels for it) and runs them in float64 on values rounded to bfloat16 instead."""

from __future__ import annotations

import pytest

pytest.importorskip("torchvision")

import padiff  # noqa: E402
from tests.real.zoo import ARCHS, build_pair, images  # noqa: E402

NAMES = ("resnet18", "mobilenet_v2")


@pytest.mark.parametrize("torch_base", [True, False], ids=["torch base", "paddle base"])
@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name", NAMES)
def test_a_network_under_autocast_passes_against_the_same_in_float32(
    name: str, mode: str, torch_base: bool
) -> None:
    base, raw = build_pair(ARCHS[name], mode)
    autocast = ("bfloat16", None) if torch_base else (None, "bfloat16")
    if not torch_base:
        base, raw = raw, base
    report = padiff.compare(base, raw, images(ARCHS[name]), autocast=autocast)
    assert report.passed, str(report)
    torch_model = base if torch_base else raw
    convs = {path for path, m in torch_model.named_modules() if type(m).__name__ == "Conv2d"}
    assert convs <= {d.base_path for d in report.diffs if d.where.value == "output"}  # each compared
    assert any(d.diff.dtype == "bfloat16" for d in report.diffs)


@pytest.mark.parametrize("name", NAMES)
def test_a_planted_batchnorm_epsilon_is_found_under_autocast(name: str) -> None:
    base, raw = build_pair(ARCHS[name], "eval")
    path, layer = next((p, m) for p, m in raw.named_sublayers() if type(m).__name__ == "BatchNorm2D")
    layer._epsilon = 0.1  # torchvision's is 1e-5
    report = padiff.compare(base, raw, images(ARCHS[name]), autocast=("bfloat16", None))
    assert not report.passed and report.first_diff.raw_path == path, str(report)


@pytest.mark.parametrize("name", NAMES)
def test_with_paddle_as_base_a_planted_batchnorm_epsilon_is_found_under_autocast(name: str) -> None:
    base, raw = build_pair(ARCHS[name], "train")
    path, layer = next((p, m) for p, m in base.named_modules() if type(m).__name__ == "BatchNorm2d")
    layer.eps = 0.1  # paddle's is 1e-5
    report = padiff.compare(raw, base, images(ARCHS[name]), autocast=(None, "bfloat16"))
    assert not report.passed and report.first_diff.raw_path == path, str(report)
