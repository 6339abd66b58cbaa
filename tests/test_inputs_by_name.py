"""Layer inputs pair by name (Hugging Face layers pass extra keyword inputs such as cache_position)."""

from __future__ import annotations

import numpy as np
import paddle
import torch

import padiff

X = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")


class _TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 4)

    def forward(self, h, mask, cache_position, scale):
        return self.fc(h) * mask * scale


class _PaddleBlock(paddle.nn.Layer):
    def __init__(self, factor=1.0):
        super().__init__()
        self.fc = paddle.nn.Linear(4, 4)
        self.factor = factor

    def forward(self, h, mask, scale):
        return self.fc(h) * mask * scale * self.factor


class _TorchRoot(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = _TorchBlock()

    def forward(self, x):
        return self.block(x, torch.ones(4), cache_position=torch.arange(4), scale=torch.full((1,), 2.0))


class _PaddleRoot(paddle.nn.Layer):
    def __init__(self, factor=1.0):
        super().__init__()
        self.block = _PaddleBlock(factor)

    def forward(self, x):
        return self.block(x, paddle.ones([4]), scale=paddle.full([1], 2.0))


def test_an_extra_keyword_input_on_one_side_does_not_shift_the_others():
    report = padiff.compare(_TorchRoot(), _PaddleRoot(), X)
    assert report.passed, str(report)
    inputs = {d.leaf for d in report.diffs if d.where == "input" and d.raw_path == "block"}
    assert "scale" in inputs and "cache_position" not in inputs
    # negative control: a real difference inside the block is still found there
    report = padiff.compare(_TorchRoot(), _PaddleRoot(factor=1.01), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "block"


def test_parameters_keep_their_own_local_error_after_confirmation():
    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    paddle_model = paddle.nn.Sequential(paddle.nn.Linear(4, 4), paddle.nn.Linear(4, 2))
    report = padiff.compare(torch_model, paddle_model, X, single_step=True)
    grads = [d for d in report.diffs if d.phase.value == "grad"]
    assert len({(d.raw_path, d.leaf) for d in grads}) == len(grads) == 4
    # each parameter's local error is its own: not all the same record
    assert len({id(d.local) for d in grads}) == len(grads)


def test_ignoring_a_layer_with_weights_says_its_weights_were_not_copied():
    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Tanh())
    paddle_model = paddle.nn.Sequential(paddle.nn.Linear(4, 4), paddle.nn.Tanh())
    layer_map = padiff.LayerMap()
    layer_map.ignore([torch_model[0], paddle_model[0]])
    report = padiff.compare(torch_model, paddle_model, X, layer_map=layer_map)
    assert any("not copied" in note and "0" in note for note in report.notes), report.notes
    # negative control: without ignore nothing is said
    plain = padiff.compare(
        torch.nn.Sequential(torch.nn.Linear(4, 4)), paddle.nn.Sequential(paddle.nn.Linear(4, 4)), X
    )
    assert not any("not copied" in note for note in plain.notes)
