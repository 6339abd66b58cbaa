"""Packed sequences: torch's PackedSequence is read as its padded batch and compared with paddle's padded
batch (fed with sequence_length) on the valid positions only."""

from __future__ import annotations

import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.models import packed_rnn, padded_batch

SHAPES = [(kind, bi, bf) for kind in ("LSTM", "GRU") for bi in (False, True) for bf in (True, False)]


def _inputs(base_fw: str):
    x, lengths = padded_batch()
    pair = ((torch.tensor(x), torch.tensor(lengths)), (paddle.to_tensor(x), paddle.to_tensor(lengths)))
    return pair if base_fw == "torch" else pair[::-1]


def _ids(shape):
    kind, bi, bf = shape
    return f"{kind}-{'bi' if bi else 'uni'}-{'batch_first' if bf else 'time_major'}"


@pytest.mark.parametrize("base_fw", ["torch", "paddle"])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_a_packed_rnn_and_its_padded_port_agree_on_the_valid_steps(shape, base_fw):
    torch_model, paddle_model = packed_rnn("torch", *shape), packed_rnn("paddle", *shape, seed=1)
    base, raw = (torch_model, paddle_model) if base_fw == "torch" else (paddle_model, torch_model)
    report = padiff.compare(base, raw, _inputs(base_fw))
    assert report.passed, str(report)
    assert_compared(report, torch_model)  # paddle's RNN has cell sublayers: compared at the RNN's boundary
    outputs = [d for d in report.diffs if d.base_path == "rnn" and d.where == "output"]
    assert len(outputs) == (3 if shape[0] == "LSTM" else 2)  # the sequence, and the final state(s)
    assert "padding ignored" in outputs[0].diff.note
    assert any("packed sequences compared on their valid positions only" in n for n in report.notes)
    if not shape[2]:  # time-major against the padded batch-major reading
        assert "permuted [1, 0, 2]" in outputs[0].diff.note


@pytest.mark.parametrize("base_fw", ["torch", "paddle"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_port_that_runs_over_the_padding_is_found_at_the_rnn(kind, bidirectional, base_fw):
    torch_model = packed_rnn("torch", kind, bidirectional)
    paddle_model = packed_rnn("paddle", kind, bidirectional, plant="no_lengths", seed=1)
    base, raw = (torch_model, paddle_model) if base_fw == "torch" else (paddle_model, torch_model)
    culprit = padiff.compare(base, raw, _inputs(base_fw)).first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("forward", "rnn")


@pytest.mark.parametrize("base_fw", ["torch", "paddle"])
def test_a_port_that_takes_the_last_padded_step_is_found_at_the_rnns_parent(base_fw):
    torch_model = packed_rnn("torch", "LSTM", True)
    paddle_model = packed_rnn("paddle", "LSTM", True, plant="last_step", seed=1)
    base, raw = (torch_model, paddle_model) if base_fw == "torch" else (paddle_model, torch_model)
    culprit = padiff.compare(base, raw, _inputs(base_fw)).first_diff
    assert culprit is not None and culprit.base_path == "" and "'head'" in culprit.reason


def _output_summers():
    """An LSTM whose packed output sequence (not its state) feeds the head; torch drops the packed
    output as soon as it is padded, long before its gradient arrives."""
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from tests.models.sequences import FEATURES, HIDDEN

    class TorchSum(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.head = (
                torch.nn.LSTM(FEATURES, HIDDEN, batch_first=True),
                torch.nn.Linear(HIDDEN, 4),
            )

        def forward(self, x, lengths):
            out, _ = self.rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            return self.head(pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0].sum(1))

    class PaddleSum(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.rnn, self.head = paddle.nn.LSTM(FEATURES, HIDDEN), paddle.nn.Linear(HIDDEN, 4)

        def forward(self, x, lengths):
            return self.head(self.rnn(x, sequence_length=lengths)[0].sum(1))

    return TorchSum(), PaddleSum()


@pytest.mark.parametrize("base_fw", ["torch", "paddle"])
def test_the_gradient_of_a_packed_output_freed_early_is_read_as_its_padded_batch(base_fw):
    torch_model, paddle_model = _output_summers()
    base, raw = (torch_model, paddle_model) if base_fw == "torch" else (paddle_model, torch_model)
    report = padiff.compare(base, raw, _inputs(base_fw))
    assert report.passed, str(report)
    grads = [d for d in report.diffs if d.base_path == "rnn" and d.where == "grad_out"]
    assert len(grads) == 1 and "padding ignored" in grads[0].diff.note
