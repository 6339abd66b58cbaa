"""Models whose runs hide something: a chaotic deep tanh MLP (float noise grows from layer to layer)
with a head whose own code computes `exp(2 x) + shift`; a model that moves the random generator."""

from __future__ import annotations

import functools
from typing import Any

from .frameworks import kit
from .structure import deep_tanh

__all__ = ["chaotic_with_head", "draws"]


@functools.cache
def _classes(framework: str) -> tuple[type, type]:
    k = kit(framework)

    class ExpHead(k.Layer):
        """Ops of its own code, in order: a multiply, an exp, an add (the add's constant is the plant)."""

        def __init__(self, shift: float) -> None:
            super().__init__()
            self.shift = shift

        def forward(self, x: Any) -> Any:
            doubled = x * 2.0
            grown = doubled.exp()
            return grown + self.shift

    class ChaoticWithHead(k.Layer):
        def __init__(self, gain: float | None, shift: float) -> None:
            super().__init__()
            self.body = deep_tanh(framework, depth=30, width=64, gain=gain)
            self.head = ExpHead(shift)

        def forward(self, x: Any) -> Any:
            return self.head(self.body(x))

    return ExpHead, ChaoticWithHead


def chaotic_with_head(framework: str, gain: float | None = None, shift: float = 1.0) -> Any:
    """body: DeepTanh(30 x 64) (chaotic with ``gain`` 2.5), head: ExpHead(shift). Not seeded."""
    return _classes(framework)[1](gain, shift)


@functools.cache
def _draws_class() -> type:
    k = kit("torch")

    class Draws(k.Layer):
        """fc, and a random draw its output does not depend on (it only moves the generator)."""

        def __init__(self) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 4)

        def forward(self, x: Any) -> Any:
            import torch

            torch.randn(3, device=x.device)
            return self.fc(x)

    return Draws


def draws(device: str = "cpu") -> Any:
    """A torch model that moves the random generator of its device on every call. Not seeded."""
    return _draws_class()().to(device)
