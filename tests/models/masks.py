"""One attention network whose ports pass its mask and position ids in different forms.

masked_attention(framework, mask="neg_inf"|"finfo_min"|"bool", ids="int64"|"int32", plant=None|"mask_wrong")
  embed(ids) + pos(positions) -> attn(h, mask) -> head. Token 0 is padding; the root builds the key
  padding mask in its own code: additive with -inf, additive with the dtype's minimum, or a bool mask
  the attention applies itself. Every form gives the attention the same result. "mask_wrong": the
  root forgets the padding (every key valid), a real difference.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .frameworks import kit

__all__ = ["masked_attention", "token_batch"]

VOCAB, WIDTH, POSITIONS = 20, 16, 12


def token_batch(seed: int = 0) -> np.ndarray:
    """int64 token ids [3, 6] with trailing padding (0) in two rows."""
    ids = np.random.default_rng(seed).integers(1, VOCAB, size=(3, 6), dtype=np.int64)
    ids[1, 4:] = 0
    ids[2, 2:] = 0
    return ids


def _ops(framework: str) -> dict[str, Any]:
    if framework == "torch":
        import torch

        return {
            "fill": lambda scores, keep, value: scores.masked_fill(~keep, value),
            "softmax": lambda x: torch.softmax(x, -1),
            "arange": lambda n, dtype: torch.arange(n, dtype=getattr(torch, dtype)),
            "finfo_min": float(torch.finfo(torch.float32).min),
            "keep": lambda ids: (ids != 0)[:, None, :],
            "additive": lambda keep, value: (~keep).float() * 0 + torch.where(keep, 0.0, value),
            "swap": lambda t: t.transpose(-2, -1),
        }
    import paddle

    return {
        "fill": lambda scores, keep, value: paddle.where(keep, scores, paddle.full_like(scores, value)),
        "softmax": lambda x: paddle.nn.functional.softmax(x, -1),
        "arange": lambda n, dtype: paddle.arange(n, dtype=dtype),
        "finfo_min": float(np.finfo(np.float32).min),
        "keep": lambda ids: (ids != 0).unsqueeze(1),
        "additive": lambda keep, value: paddle.where(keep, paddle.zeros([1]), paddle.full([1], value)),
        "swap": lambda t: t.transpose([0, 2, 1]),
    }


@functools.cache
def _classes(framework: str) -> type:
    k, ops = kit(framework), _ops(framework)

    class MaskedAttention(k.Layer):
        """Single-head attention; `mask` is additive (float) or which keys to keep (bool)."""

        def __init__(self) -> None:
            super().__init__()
            self.q, self.k, self.v = (k.nn.Linear(WIDTH, WIDTH) for _ in range(3))

        def forward(self, h: Any, mask: Any) -> Any:
            scores = self.q(h) @ ops["swap"](self.k(h)) * WIDTH**-0.5
            if "bool" in str(mask.dtype):
                scores = ops["fill"](scores, mask, float("-inf"))
            else:
                scores = scores + mask
            return ops["softmax"](scores) @ self.v(h)

    class MaskedNet(k.Layer):
        def __init__(self, mask: str, ids: str, plant: str | None) -> None:
            super().__init__()
            self.mask, self.ids, self.plant = mask, ids, plant
            self.embed = k.nn.Embedding(VOCAB, WIDTH)
            self.pos = k.nn.Embedding(POSITIONS, WIDTH)
            self.attn = MaskedAttention()
            self.head = k.nn.Linear(WIDTH, 4)

        def forward(self, ids: Any) -> Any:
            positions = ops["arange"](ids.shape[1], self.ids)
            h = self.embed(ids) + self.pos(positions)
            keep = ops["keep"](ids if self.plant != "mask_wrong" else ids * 0 + 1)
            if self.mask == "bool":
                mask = keep
            else:
                mask = ops["additive"](keep, float("-inf") if self.mask == "neg_inf" else ops["finfo_min"])
            return self.head(self.attn(h, mask))

    return MaskedNet


def masked_attention(
    framework: str, mask: str = "neg_inf", ids: str = "int64", plant: str | None = None, seed: int = 0
) -> Any:
    """See the module docstring; seeded."""
    kit(framework).seed(seed)
    return _classes(framework)(mask, ids, plant)
