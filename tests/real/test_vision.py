"""torchvision vs paddle.vision: every architecture both ship, random weights, eval and train mode.

Where the two libraries build the same network, padiff must pass with no configuration; where they
really differ (read from both sources, see docs/real-models.md), it must name the layer that differs.
Cases padiff gets wrong would be strict xfails whose reason names the padiff bug (BUGS below; none now).
Train-mode pairs run at their usual size (64x64) and again at 224x224.
"""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("torchvision")
pytest.importorskip("paddle.vision")

import padiff  # noqa: E402

from .zoo import ARCHS, Differ, Same, build_pair, images, measure  # noqa: E402

# padiff bugs these models expose today; repros and suggested patches in docs/real-models.md (the bugs
# fixed since, and the commits that fixed them, are listed there too)
BUGS: dict[str, str] = {}


def _xfail(*bugs: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason="; ".join(BUGS[b] for b in bugs))


SAME = Same()
WEIGHTS = "weights cannot be paired"

# (architecture, mode) -> what padiff must report, and the padiff bugs that stop it today. Most same
# networks in train mode, and vgg in eval, cross the tolerance on accumulated rounding (train-mode
# BatchNorm over 8 values, max-pool near-ties) and pass once padiff confirms them layer by layer.
CASES = {
    ("resnet18", "eval"): (SAME, ()),
    ("resnet18", "train"): (SAME, ()),
    ("resnet34", "eval"): (SAME, ()),
    ("resnet34", "train"): (SAME, ()),
    ("resnet50", "eval"): (SAME, ()),
    ("resnet50", "train"): (SAME, ()),
    ("wide_resnet50_2", "eval"): (SAME, ()),
    ("wide_resnet50_2", "train"): (SAME, ()),
    ("resnext50_32x4d", "eval"): (SAME, ()),
    ("resnext50_32x4d", "train"): (SAME, ()),
    ("vgg11", "eval"): (SAME, ()),
    ("vgg11", "train"): (SAME, ()),
    ("vgg11_bn", "eval"): (SAME, ()),
    # conv biases before a train-mode BatchNorm have a mathematically zero gradient (rounding noise on
    # both sides): the float64 judge excuses them
    ("vgg11_bn", "train"): (SAME, ()),
    ("vgg16", "eval"): (SAME, ()),
    ("vgg16_bn", "eval"): (SAME, ()),
    ("mobilenet_v2", "eval"): (SAME, ()),
    ("mobilenet_v2", "train"): (SAME, ()),
    ("mobilenet_v3_small", "eval"): (SAME, ()),
    ("mobilenet_v3_small", "train"): (SAME, ()),
    ("mobilenet_v3_large", "eval"): (SAME, ()),
    ("mobilenet_v3_large", "train"): (SAME, ()),
    ("shufflenet_v2_x1_0", "eval"): (SAME, ()),
    ("shufflenet_v2_x1_0", "train"): (SAME, ()),
    # paddle fuses every ReLU into the BatchNorm before it (BatchNorm(act="relu")): torchvision's ReLUs
    # have no counterpart; the fused output is compared against theirs where the next layer takes it
    ("densenet121", "eval"): (Same(uncompared=("ReLU",)), ()),
    ("densenet121", "train"): (Same(uncompared=("ReLU",)), ()),
    # torchvision's first three max-pools use ceil_mode=True, paddle's floor: 7x7 vs 6x6 at the second
    ("squeezenet1_0", "eval"): (Differ("forward", "features.6", "_pool"), ()),
    ("squeezenet1_0", "train"): (Differ("forward", "features.6", "_pool"), ()),
    # torchvision's first conv has no padding, paddle's has padding=1
    ("squeezenet1_1", "eval"): (Differ("forward", "features.0", "_conv"), ()),
    ("squeezenet1_1", "train"): (Differ("forward", "features.0", "_conv"), ()),
    # paddle's dropouts are mode="downscale_in_infer": x * (1 - p) in eval (and when padiff switches
    # dropout off in train mode), identity in torch
    ("alexnet", "eval"): (Differ("forward", "classifier.0", "_drop1"), ()),
    ("alexnet", "train"): (Differ("forward", "classifier.0", "_drop1"), ()),
    # torchvision's GoogLeNet has BatchNorm after every conv, paddle's none: nothing to copy them into
    ("googlenet", "eval"): (WEIGHTS, ()),
    ("googlenet", "train"): (WEIGHTS, ()),
    # torchvision's BasicConv2d uses BatchNorm eps=1e-3, paddle's ConvNormActivation the default 1e-5
    ("inception_v3", "eval"): (
        Differ("forward", "Conv2d_1a_3x3.bn", "inception_stem.conv_1a_3x3.1"),
        (),
    ),
    ("inception_v3", "train"): (
        Differ("forward", "Conv2d_1a_3x3.bn", "inception_stem.conv_1a_3x3.1"),
        (),
    ),
}


# every same network in train mode again at 224x224, batch 2: where BatchNorm statistics over many
# more values, and bias gradients summed over many more positions, round differently
FULL_SIZE = 224


def _params():
    for (name, mode), (expect, bugs) in CASES.items():
        marks = [_xfail(*bugs)] if bugs else []
        yield pytest.param(name, mode, expect, None, id=f"{name}-{mode}", marks=marks)
        if mode == "train" and isinstance(expect, Same) and ARCHS[name].size != FULL_SIZE:
            yield pytest.param(name, mode, expect, FULL_SIZE, id=f"{name}-{mode}-{FULL_SIZE}", marks=marks)


def _record(name: str, mode: str, report, numbers: dict) -> None:
    """Append one result line to $PADIFF_REAL_RESULTS (used to write docs/real-models.md)."""
    path = os.environ.get("PADIFF_REAL_RESULTS")
    if not path:
        return
    culprit = None if report is None or report.first_diff is None else report.first_diff
    notes = [] if report is None else report.notes
    confirmed = [n for n in notes if n.startswith(("accumulated rounding crossed", "first seen at"))]
    row = {
        "model": name,
        "mode": mode,
        "passed": None if report is None else report.passed,
        "culprit": None if culprit is None else [culprit.phase.value, culprit.base_path, culprit.raw_path],
        "confirmation": confirmed[0] if confirmed else None,
        **{k: round(v, 2) for k, v in numbers.items()},
    }
    with open(path, "a") as out:
        out.write(json.dumps(row) + "\n")


def _uncompared_base_layers(report, base) -> dict[str, str]:
    """Base layers without sublayers that no compared pair names (path -> class name); empty containers
    (torchvision's ShuffleNet keeps an empty `branch1` Sequential in its stride-1 blocks) do nothing."""
    import torch

    containers = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)
    compared = {d.base_path for d in report.diffs}
    return {
        path: type(module).__name__
        for path, module in base.named_modules()
        if path
        and next(module.children(), None) is None
        and not isinstance(module, containers)
        and path not in compared
    }


@pytest.mark.parametrize("name, mode, expect, size", _params())
def test_vision_pair(name: str, mode: str, expect, size: int | None) -> None:
    arch = ARCHS[name]
    base, raw = build_pair(arch, mode)
    x = images(arch, size=size)
    if expect == WEIGHTS:
        with pytest.raises(padiff.WeightTransferError, match="conv1.bn"):
            padiff.compare(base, raw, x)
        return
    report, numbers = measure(lambda: padiff.compare(base, raw, x), base, raw, x)
    _record(name if size is None else f"{name} ({size}x{size})", mode, report, numbers)
    if isinstance(expect, Same):
        assert report.passed, str(report).split("\nbase")[0]
        # a pass that compared only the head would be hollow: every base layer must have been paired
        uncompared = _uncompared_base_layers(report, base)
        assert set(uncompared.values()) <= set(expect.uncompared), uncompared
        return
    culprit = report.first_diff
    assert culprit is not None, "padiff passed two networks that differ"
    assert (culprit.phase.value, culprit.base_path, culprit.raw_path) == (
        expect.phase,
        expect.base_path,
        expect.raw_path,
    )


def test_culprit_call_sites_point_into_the_model_zoos() -> None:
    """Model-zoo code is user code: a culprit's call site is the zoo's line that called it."""
    arch = ARCHS["squeezenet1_1"]
    base, raw = build_pair(arch, "eval")
    culprit = padiff.compare(base, raw, images(arch)).first_diff
    assert (culprit.base_path, culprit.raw_path) == ("features.0", "_conv")
    assert os.path.join("torchvision", "models", "squeezenet.py:") in culprit.base_site, culprit.base_site
    assert os.path.join("paddle", "vision", "models", "squeezenet.py:") in culprit.raw_site, culprit.raw_site
