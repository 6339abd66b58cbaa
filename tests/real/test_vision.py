"""torchvision vs paddle.vision: every architecture both ship, random weights, eval and train mode.

Where the two libraries build the same network, padiff must pass with no configuration; where they
really differ (read from both sources, see docs/real-models.md), it must name the layer that differs.
Cases padiff gets wrong today are strict xfails whose reason names the padiff bug (see BUGS below).
"""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("torchvision")
pytest.importorskip("paddle.vision")

import padiff  # noqa: E402

from .zoo import ARCHS, Differ, build_pair, images, measure  # noqa: E402

# padiff bugs found with these models; minimal repros and suggested patches are in docs/real-models.md
BUGS = {
    "inplace": "padiff: an input that is an earlier layer's output modified in place (`out += identity`) "
    "is taken to still hold that output",
    "container": "padiff: Sequential subclasses (Conv2dNormActivation / ConvNormActivation) are not "
    "looked through like Sequential",
    "positional": "padiff: a layer on one side (pooling) with a functional call on the other is paired "
    "by position with the next layer of another kind and shape",
    "nesting": "padiff: cannot pair a flat Sequential of conv/bn/relu with a single fused layer "
    "(ConvBNLayer, ConvPoolLayer) on the other side",
    "zeros": "padiff: atol scales with the mean |value| including exact zeros, so a ReLU or max-pool "
    "backward fails on rounding its input passed with",
    "builtin": "padiff: paddle.vision blocks count as built-in layers but torchvision's as user code, so "
    "they never pair and the whole body goes uncompared",
    "amplified": "padiff: rounding amplified by a kink (ReLU6 at 0, max-pool near-tie) or by train-mode "
    "BatchNorm over 8 values is blamed on that layer; single_step=True passes",
}


def _xfail(*bugs: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason="; ".join(BUGS[b] for b in bugs))


SAME = "same network"
WEIGHTS = "weights cannot be paired"

# (architecture, mode) -> what padiff must report, and the padiff bugs that stop it today
CASES = {
    ("resnet18", "eval"): (SAME, ()),
    ("resnet18", "train"): (SAME, ("amplified",)),
    ("resnet34", "eval"): (SAME, ()),
    ("resnet34", "train"): (SAME, ("amplified",)),
    ("resnet50", "eval"): (SAME, ()),
    ("resnet50", "train"): (SAME, ("amplified",)),
    ("wide_resnet50_2", "eval"): (SAME, ()),
    ("wide_resnet50_2", "train"): (SAME, ("amplified",)),
    ("resnext50_32x4d", "eval"): (SAME, ()),
    ("resnext50_32x4d", "train"): (SAME, ("amplified",)),
    ("vgg11", "eval"): (SAME, ("amplified",)),
    ("vgg11", "train"): (SAME, ("amplified",)),
    ("vgg11_bn", "eval"): (SAME, ("amplified",)),
    ("vgg11_bn", "train"): (SAME, ("amplified",)),
    ("vgg16", "eval"): (SAME, ("amplified",)),
    ("vgg16_bn", "eval"): (SAME, ("amplified",)),
    ("mobilenet_v2", "eval"): (SAME, ()),
    ("mobilenet_v2", "train"): (SAME, ("amplified",)),
    ("mobilenet_v3_small", "eval"): (SAME, ()),
    ("mobilenet_v3_small", "train"): (SAME, ()),
    ("mobilenet_v3_large", "eval"): (SAME, ()),
    ("mobilenet_v3_large", "train"): (SAME, ("amplified",)),
    ("shufflenet_v2_x1_0", "eval"): (SAME, ()),
    ("shufflenet_v2_x1_0", "train"): (SAME, ("amplified",)),
    ("densenet121", "eval"): (SAME, ("nesting",)),
    ("densenet121", "train"): (SAME, ("nesting",)),
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


def _params():
    for (name, mode), (expect, bugs) in CASES.items():
        marks = [_xfail(*bugs)] if bugs else []
        yield pytest.param(name, mode, expect, id=f"{name}-{mode}", marks=marks)


def _record(name: str, mode: str, report, numbers: dict) -> None:
    """Append one result line to $PADIFF_REAL_RESULTS (used to write docs/real-models.md)."""
    path = os.environ.get("PADIFF_REAL_RESULTS")
    if not path:
        return
    culprit = None if report is None or report.first_diff is None else report.first_diff
    row = {
        "model": name,
        "mode": mode,
        "passed": None if report is None else report.passed,
        "culprit": None if culprit is None else [culprit.phase.value, culprit.base_path, culprit.raw_path],
        **{k: round(v, 2) for k, v in numbers.items()},
    }
    with open(path, "a") as out:
        out.write(json.dumps(row) + "\n")


@pytest.mark.parametrize("name, mode, expect", _params())
def test_vision_pair(name: str, mode: str, expect) -> None:
    arch = ARCHS[name]
    base, raw = build_pair(arch, mode)
    x = images(arch)
    if expect == WEIGHTS:
        with pytest.raises(padiff.WeightTransferError, match="conv1.bn"):
            padiff.compare(base, raw, x)
        return
    report, numbers = measure(lambda: padiff.compare(base, raw, x), base, raw, x)
    _record(name, mode, report, numbers)
    if expect == SAME:
        assert report.passed, str(report).split("\nbase")[0]
        unpaired = [n for n in report.notes if n.startswith("base layers without counterpart")]
        assert not unpaired, unpaired  # a pass that compared only the head would be hollow
        return
    culprit = report.first_diff
    assert culprit is not None, "padiff passed two networks that differ"
    assert (culprit.phase.value, culprit.base_path, culprit.raw_path) == (
        expect.phase,
        expect.base_path,
        expect.raw_path,
    )
