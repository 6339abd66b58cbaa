"""Twins that lay the same tensors out in different axis orders.

head_layouts(framework, order="bhsd"|"bshd", heads=4, plant=None|"norm_eps"|"q_shift")
  x [b, s, d] -> attn: q, k, v projections split into heads; q_norm (an RMS norm over each head's
  features, a user layer) runs on q laid out [b, heads, s, d_head] ("bhsd", as transformers does) or
  [b, s, heads, d_head] ("bshd", as paddleformers does); the attention itself is the same -> head.
  With heads == batch the two layouts are permutations of axes of equal size. "norm_eps": q_norm's eps
  1e-1 instead of 1e-6; "q_shift": the attention's own code adds 0.25 to q before q_norm.
time_major_output(framework, time_major) -> a Linear over [b, s, d] whose root returns [s, b, d] when
  time_major: the model's own output is laid out differently.
"""

from __future__ import annotations

import functools
from typing import Any

from .frameworks import kit

__all__ = ["head_layouts", "time_major_output"]

WIDTH, HEAD = 32, 8


def _swap12(framework: str, t: Any) -> Any:
    return t.transpose(1, 2) if framework == "torch" else t.transpose([0, 2, 1, 3])


@functools.cache
def _classes(framework: str) -> type:
    k = kit(framework)

    class HeadNorm(k.Layer):
        def __init__(self, eps: float) -> None:
            super().__init__()
            self.eps = eps

        def forward(self, x: Any) -> Any:
            scale = ((x * x).mean(-1, keepdim=True) + self.eps) ** -0.5
            return x * scale

    class Attention(k.Layer):
        def __init__(self, order: str, heads: int, eps: float, q_shift: float = 0.0) -> None:
            super().__init__()
            self.order, self.heads, self.q_shift = order, heads, q_shift
            self.q, self.k, self.v = (k.nn.Linear(WIDTH, HEAD * heads) for _ in range(3))
            self.o = k.nn.Linear(HEAD * heads, WIDTH)
            self.q_norm = HeadNorm(eps)

        def forward(self, x: Any) -> Any:
            b, s, _ = x.shape
            q, key, v = (p(x).reshape([b, s, self.heads, HEAD]) for p in (self.q, self.k, self.v))
            q = q + self.q_shift if self.q_shift else q
            if self.order == "bhsd":
                q = self.q_norm(_swap12(framework, q))
            else:
                q = _swap12(framework, self.q_norm(q))
            key, v = _swap12(framework, key), _swap12(framework, v)
            scores = q @ key.transpose(-2, -1) if framework == "torch" else q @ key.transpose([0, 1, 3, 2])
            probs = k.F.softmax(scores * HEAD**-0.5, -1)
            return self.o(_swap12(framework, probs @ v).reshape([b, s, HEAD * self.heads]))

    class HeadLayouts(k.Layer):
        def __init__(self, order: str, heads: int, eps: float, q_shift: float) -> None:
            super().__init__()
            self.attn = Attention(order, heads, eps, q_shift)
            self.head = k.nn.Linear(WIDTH, 4)

        def forward(self, x: Any) -> Any:
            return self.head(self.attn(x))

    return HeadLayouts


def head_layouts(
    framework: str, order: str = "bhsd", heads: int = 4, plant: str | None = None, seed: int = 0
) -> Any:
    """See the module docstring; seeded. Inputs: [batch, seq, 32] with seq not equal to heads or 8."""
    kit(framework).seed(seed)
    q_shift = 0.25 if plant == "q_shift" else 0.0
    return _classes(framework)(order, heads, 1e-1 if plant == "norm_eps" else 1e-6, q_shift)


@functools.cache
def _time_major_class(framework: str) -> type:
    k = kit(framework)

    class TimeMajor(k.Layer):
        def __init__(self, time_major: bool) -> None:
            super().__init__()
            self.time_major = time_major
            self.fc = k.nn.Linear(WIDTH, WIDTH)

        def forward(self, x: Any) -> Any:
            out = self.fc(x)
            if not self.time_major:
                return out
            return out.transpose(0, 1) if framework == "torch" else out.transpose([1, 0, 2])

    return TimeMajor


def time_major_output(framework: str, time_major: bool = False, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _time_major_class(framework)(time_major)
