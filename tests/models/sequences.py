"""Recurrent twins over padded batches: torch packs the batch (PackedSequence), paddle passes the padded
batch with `sequence_length`. The same network either way; plants change how the port uses the lengths.

  packed_rnn(framework, kind="LSTM"|"GRU", bidirectional, batch_first, plant=None|"no_lengths"|"last_step")
    rnn (8 -> 16 per direction) then head (Linear to 4) on the final hidden state of every direction.
    "no_lengths": paddle's rnn runs over the padding too (the backward direction starts in the padding);
    "last_step": paddle's root takes the output at the last padded step instead of the final state.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .frameworks import kit

__all__ = ["packed_rnn", "padded_batch"]

FEATURES, HIDDEN = 8, 16


def padded_batch(lengths: tuple[int, ...] = (7, 3, 5, 2), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(x [batch, time, features] with zeros past each length, lengths int64)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((len(lengths), max(lengths), FEATURES)).astype(np.float32)
    for row, length in enumerate(lengths):
        x[row, length:] = 0.0
    return x, np.asarray(lengths, dtype=np.int64)


@functools.cache
def _torch_class() -> type:
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    class PackedRnn(torch.nn.Module):
        def __init__(self, kind: str, bidirectional: bool, batch_first: bool) -> None:
            super().__init__()
            self.batch_first, self.directions = batch_first, 2 if bidirectional else 1
            self.rnn = getattr(torch.nn, kind)(
                FEATURES, HIDDEN, batch_first=batch_first, bidirectional=bidirectional
            )
            self.head = torch.nn.Linear(HIDDEN * self.directions, 4)

        def forward(self, x: Any, lengths: Any) -> Any:
            if not self.batch_first:
                x = x.transpose(0, 1)
            packed = pack_padded_sequence(x, lengths, batch_first=self.batch_first, enforce_sorted=False)
            _, state = self.rnn(packed)
            final = state[0] if isinstance(state, tuple) else state  # [directions, batch, hidden]
            return self.head(torch.cat(list(final[-self.directions :]), dim=-1))

    return PackedRnn


@functools.cache
def _paddle_class() -> type:
    import paddle

    class PackedRnn(paddle.nn.Layer):
        def __init__(self, kind: str, bidirectional: bool, batch_first: bool, plant: str | None) -> None:
            super().__init__()
            self.batch_first, self.directions, self.plant = batch_first, 2 if bidirectional else 1, plant
            direction = "bidirect" if bidirectional else "forward"
            self.rnn = getattr(paddle.nn, kind)(
                FEATURES, HIDDEN, direction=direction, time_major=not batch_first
            )
            self.head = paddle.nn.Linear(HIDDEN * self.directions, 4)

        def forward(self, x: Any, lengths: Any) -> Any:
            if not self.batch_first:
                x = x.transpose([1, 0, 2])
            lengths = None if self.plant == "no_lengths" else lengths
            output, state = self.rnn(x, sequence_length=lengths)
            if self.plant == "last_step":
                last = output[-1] if not self.batch_first else output[:, -1]
                return self.head(last)
            final = state[0] if isinstance(state, (tuple, list)) else state
            return self.head(paddle.concat(list(final[-self.directions :]), axis=-1))

    return PackedRnn


def packed_rnn(
    framework: str, kind: str = "LSTM", bidirectional: bool = False, batch_first: bool = True,
    plant: str | None = None, seed: int = 0,
) -> Any:  # fmt: skip
    """See the module docstring; seeded. Plants exist on the paddle side only."""
    kit(framework).seed(seed)
    if framework == "torch":
        return _torch_class()(kind, bidirectional, batch_first)
    return _paddle_class()(kind, bidirectional, batch_first, plant)
