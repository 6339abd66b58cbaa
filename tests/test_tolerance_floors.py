"""Mathematically-zero tensors hold only rounding noise; padiff must not call that a difference."""

from __future__ import annotations

import numpy as np
import paddle
import torch

import padiff


class _TorchNorm(torch.nn.Module):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.fc = torch.nn.Linear(16, 16)
        self.norm = torch.nn.LayerNorm(16, eps=eps, elementwise_affine=False)

    def forward(self, x):
        return self.norm(self.fc(x))


class _PaddleNorm(paddle.nn.Layer):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.fc = paddle.nn.Linear(16, 16)
        self.norm = paddle.nn.LayerNorm(16, epsilon=eps, weight_attr=False, bias_attr=False)

    def forward(self, x):
        return self.norm(self.fc(x))


X = np.random.default_rng(0).standard_normal((4, 16)).astype("float32")


def test_gradients_that_are_zero_in_exact_arithmetic_pass():
    # the mean of a normalised output does not depend on its input: every gradient is rounding noise
    report = padiff.compare(_TorchNorm(), _PaddleNorm(), X)
    assert report.passed, str(report)
    grads = [d for d in report.diffs if d.where in ("grad_in", "grad_out") and d.raw_path == "fc"]
    assert grads and max(d.diff.max_abs for d in grads) < 1e-6


def test_a_real_difference_next_to_zero_gradients_is_still_found():
    report = padiff.compare(_TorchNorm(), _PaddleNorm(eps=1e-3), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "norm"


class _TorchTwoOutputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(16, 8)

    def forward(self, x):
        y = self.fc(x)
        return y, y.sum(dim=-1)


class _PaddleOneOutput(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.fc = paddle.nn.Linear(16, 8)

    def forward(self, x):
        return self.fc(x)


def test_a_different_number_of_outputs_is_said():
    report = padiff.compare(
        _TorchTwoOutputs(), _PaddleOneOutput(), X, loss_fn=(lambda o: o[0].mean(), lambda o: o.mean())
    )
    assert report.passed, str(report)
    assert any("returns 2 tensors in base but 1 in raw" in note for note in report.notes)
    # negative control: equal output counts say nothing
    same = padiff.compare(_PaddleOneOutput(), _PaddleOneOutput(), X)
    assert not any("tensors in base" in note for note in same.notes)
