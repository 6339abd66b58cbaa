"""Twins that use a layer or a parameter more than once: a layer called twice, a cell called in a loop,
a weight tied between two layers, an embedding reused as the output head. Each is defined once against
the framework kit; a ``plant`` changes one call only.
"""

from __future__ import annotations

import functools
from typing import Any

from .frameworks import kit

__all__ = ["shared", "loop", "tied", "tiny_lm"]


@functools.cache
def _shared_class(framework: str) -> type:
    k = kit(framework)

    class Proj(k.Layer):
        """A user layer wrapping a Linear; planted, it changes its own output on every second call."""

        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.lin = k.nn.Linear(8, 8)
            self.plant = plant
            self.calls = 0

        def forward(self, x: Any) -> Any:
            out = self.lin(x)
            if self.plant == "inside_second" and self.calls % 2 == 1:
                out = out * 1.01
            self.calls += 1
            return out

    class Block(k.Layer):
        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.fc = Proj(plant)  # applied twice: weight sharing
            self.act = k.nn.Tanh()
            self.plant = plant

        def forward(self, x: Any) -> Any:
            h = self.act(self.fc(x))
            if self.plant == "before_second":
                h = h * 1.01
            out = self.fc(h)
            if self.plant == "after_second":
                out = out + 0.01
            return out

    class Shared(k.Layer):
        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.block = Block(plant)
            self.head = k.nn.Linear(8, 2)

        def forward(self, x: Any) -> Any:
            return self.head(self.block(x))

    return Shared


def shared(framework: str, plant: str | None = None, seed: int = 0) -> Any:
    """block (fc called twice around a tanh) -> head; plants: before_second, after_second, inside_second."""
    kit(framework).seed(seed)
    return _shared_class(framework)(plant)


@functools.cache
def _loop_class(framework: str) -> type:
    k = kit(framework)

    class Cell(k.Layer):
        def __init__(self, plant_call: int | None) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 4)
            self.act = k.nn.Tanh()
            self.plant_call, self.calls = plant_call, 0

        def forward(self, x: Any) -> Any:
            out = self.act(self.fc(x))
            if self.calls == self.plant_call:
                out = out * 1.01
            self.calls += 1
            return out

    class Loop(k.Layer):
        """A recurrent-style loop: one cell applied four times with a residual. The cell's call count
        starts again at every forward, unless `stateful` (then the plant fires only in the first run)."""

        def __init__(self, plant_call: int | None, stateful: bool) -> None:
            super().__init__()
            self.cell = Cell(plant_call)
            self.head = k.nn.Linear(4, 2)
            self.stateful = stateful

        def forward(self, x: Any) -> Any:
            if not self.stateful:
                self.cell.calls = 0
            for _ in range(4):
                x = x + self.cell(x)
            return self.head(x)

    return Loop


def loop(framework: str, plant_call: int | None = None, stateful: bool = False, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _loop_class(framework)(plant_call, stateful)


@functools.cache
def _tied_class(framework: str) -> type:
    k = kit(framework)

    class Tied(k.Layer):
        """fc2 uses fc1's weight (square, so the tie holds in both layouts); `act` can be changed."""

        def __init__(self, act: str) -> None:
            super().__init__()
            self.fc1 = k.nn.Linear(4, 4)
            self.act = getattr(k.nn, act)()
            self.fc2 = k.nn.Linear(4, 4)
            self.fc2.weight = self.fc1.weight

        def forward(self, x: Any) -> Any:
            return self.fc2(self.act(self.fc1(x)))

    return Tied


def tied(framework: str, act: str = "Tanh", seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _tied_class(framework)(act)


@functools.cache
def _lm_class(framework: str) -> type:
    k = kit(framework)

    class TinyLM(k.Layer):
        """Embedding -> LayerNorm -> logits over the vocabulary with the embedding matrix: as a head Linear
        holding the embedding's weight (`tie="module"`, torch only) or as a matmul (`tie="matmul"`)."""

        def __init__(self, tie: str, shift: float) -> None:
            super().__init__()
            self.embed = k.nn.Embedding(12, 6)
            self.norm = k.nn.LayerNorm(6)
            self.shift = shift
            self.tie = tie
            if tie == "module":
                self.head = k.linear(6, 12, bias=False)
                self.head.weight = self.embed.weight

        def forward(self, ids: Any) -> Any:
            h = self.norm(self.embed(ids)) + self.shift
            if self.tie == "module":
                return self.head(h)
            return k.matmul_t(h, self.embed.weight)

    return TinyLM


def tiny_lm(framework: str, tie: str, shift: float = 0.0, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _lm_class(framework)(tie, shift)
