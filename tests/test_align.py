"""Pairing of layer calls when ports regroup layers (see align.py's matching rule)."""

from __future__ import annotations

import numpy as np
import paddle
import torch
import torch.nn.functional as TF

import padiff

X = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype("float32")


class _TorchFunctionalPool(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.head(TF.adaptive_avg_pool2d(self.conv(x), 1).flatten(1))


class _PaddlePoolLayer(paddle.nn.Layer):
    def __init__(self, scale=1.0):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3, padding=1)
        self.pool = paddle.nn.AdaptiveAvgPool2D(1)
        self.head = paddle.nn.Linear(4, 2)
        self.scale = scale

    def forward(self, x):
        return self.head(self.pool(self.conv(x)).flatten(1) * self.scale)


def test_a_pooling_layer_against_a_functional_call_is_not_paired_with_the_next_layer():
    report = padiff.compare(_TorchFunctionalPool(), _PaddlePoolLayer(), X)
    assert report.passed, str(report)
    assert any("without counterpart" in note and "pool" in note for note in report.notes)
    # negative control: a real difference after the pooling is still found, at the root's own code
    report = padiff.compare(_TorchFunctionalPool(), _PaddlePoolLayer(scale=1.01), X)
    assert report.first_diff is not None and report.first_diff.raw_path == ""


class _TorchFlat(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
        self.head = torch.nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.stem(x))


class _ConvBN(paddle.nn.Layer):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.conv = paddle.nn.Conv2D(3, 4, 3)
        self.bn = paddle.nn.BatchNorm2D(4, epsilon=eps)
        self.act = paddle.nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class _PaddleFused(paddle.nn.Layer):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.stem = _ConvBN(eps)
        self.head = paddle.nn.Conv2D(4, 2, 1)

    def forward(self, x):
        return self.head(self.stem(x))


def test_a_flat_sequential_pairs_with_a_fused_user_layer_either_way():
    torch_model, paddle_model = _TorchFlat().eval(), _PaddleFused().eval()
    forward = padiff.compare(torch_model, paddle_model, X)
    assert forward.passed, str(forward)
    paired = {(d.base_path, d.raw_path) for d in forward.diffs}
    assert ("stem.1", "stem.bn") in paired
    reverse = padiff.compare(paddle_model, torch_model, X)
    assert reverse.passed, str(reverse)
    assert ("stem.bn", "stem.1") in {(d.base_path, d.raw_path) for d in reverse.diffs}
    assert any("looked through" in note for note in forward.notes + reverse.notes)


def test_a_planted_change_inside_the_fused_layer_is_found_at_its_sublayer():
    report = padiff.compare(_TorchFlat().eval(), _PaddleFused(eps=1e-1).eval(), X)
    assert report.first_diff is not None
    assert (report.first_diff.base_path, report.first_diff.raw_path) == ("stem.1", "stem.bn")


def test_a_changed_activation_still_pairs_by_position_but_not_across_families():
    class TorchAct(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)
            self.act = torch.nn.ReLU()

        def forward(self, x):
            return self.act(self.fc(x))

    class PaddleAct(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.fc = paddle.nn.Linear(4, 4)
            self.other = paddle.nn.GELU()  # another name: paired by position within the activation family

        def forward(self, x):
            return self.other(self.fc(x))

    x = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    report = padiff.compare(TorchAct(), PaddleAct(), x)
    assert (report.first_diff.base_path, report.first_diff.raw_path) == ("act", "other")
