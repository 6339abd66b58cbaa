"""Ports may draw a layer's boundary elsewhere (DenseNet: torchvision's layer returns its new channels,
paddle's returns them joined to its input). A shape difference at such a pair's edge is excused when
the parent agrees; a real difference inside is still found."""

from __future__ import annotations

import numpy as np
import paddle
import torch

import padiff

X = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype("float32")


class _TBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 2, 3, padding=1)

    def forward(self, x):
        return self.conv(x)


class _TNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _TBlock()
        self.head = torch.nn.Conv2d(6, 3, 1)

    def forward(self, x):
        return self.head(torch.cat([x, self.block(x)], 1))


class _PBlock(paddle.nn.Layer):
    def __init__(self, scale=1.0):
        super().__init__()
        self.conv = paddle.nn.Conv2D(4, 2, 3, padding=1)
        self.scale = scale

    def forward(self, x):
        return paddle.concat([x, self.conv(x) * self.scale], 1)


class _PNet(paddle.nn.Layer):
    def __init__(self, scale=1.0):
        super().__init__()
        self.block = _PBlock(scale)
        self.head = paddle.nn.Conv2D(6, 3, 1)

    def forward(self, x):
        return self.head(self.block(x))


def test_a_layer_boundary_drawn_elsewhere_passes():
    report = padiff.compare(_TNet(), _PNet(), X)
    assert report.passed, str(report)


def test_a_real_difference_inside_such_a_layer_is_still_found():
    report = padiff.compare(_TNet(), _PNet(scale=1.01), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "block", str(report)
