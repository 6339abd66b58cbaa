"""Twins whose train mode is random beyond dropout layers, and one whose layer computes below float64.

functional_dropout(framework): fc -> the root's own functional dropout(p=0.3, training=self.training)
  (as Hugging Face's eager attention calls it) -> head.
drop_path(framework): fc -> DropPath (a user layer that drops each sample's path at random in train
  mode, as timm's does) -> head.
downcast(framework, scale=1.0): fc -> Float32Gate (its own code computes in float32 whatever the
  model's dtype: `.float()`, then back) -> head; `scale` multiplies the gate's output (a plant).
"""

from __future__ import annotations

import functools
from typing import Any

from .frameworks import kit

__all__ = ["functional_dropout", "drop_path", "downcast"]


def _ops(framework: str) -> dict[str, Any]:
    if framework == "torch":
        import torch

        return {
            "dropout": lambda x, p, training: torch.nn.functional.dropout(x, p=p, training=training),
            "keep": lambda x, p: (torch.rand(x.shape[0], 1) >= p).to(x.dtype),
            "to32": lambda x: x.float(),
            "back": lambda x, like: x.to(like.dtype),
        }
    import paddle

    return {
        "dropout": lambda x, p, training: paddle.nn.functional.dropout(x, p=p, training=training),
        "keep": lambda x, p: (paddle.rand([x.shape[0], 1]) >= p).astype(x.dtype),
        "to32": lambda x: x.astype("float32"),
        "back": lambda x, like: x.astype(like.dtype),
    }


@functools.cache
def _classes(framework: str) -> dict[str, type]:
    k, ops = kit(framework), _ops(framework)

    class FunctionalDropout(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.head = k.nn.Linear(8, 16), k.nn.Linear(16, 4)

        def forward(self, x: Any) -> Any:
            return self.head(ops["dropout"](self.fc(x), 0.3, self.training))

    class DropPath(k.Layer):
        def __init__(self, p: float) -> None:
            super().__init__()
            self.p = p

        def forward(self, x: Any) -> Any:
            return x * ops["keep"](x, self.p) / (1 - self.p) if self.training else x

    class WithDropPath(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.drop, self.head = k.nn.Linear(8, 16), DropPath(0.5), k.nn.Linear(16, 4)

        def forward(self, x: Any) -> Any:
            return self.head(self.drop(self.fc(x)))

    class Float32Gate(k.Layer):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, x: Any) -> Any:
            gated = ops["to32"](x).tanh() * self.scale
            return ops["back"](gated, x)

    class Downcast(k.Layer):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.fc, self.gate, self.head = k.nn.Linear(8, 16), Float32Gate(scale), k.nn.Linear(16, 4)

        def forward(self, x: Any) -> Any:
            return self.head(self.gate(self.fc(x)))

    return {"functional": FunctionalDropout, "drop_path": WithDropPath, "downcast": Downcast}


def functional_dropout(framework: str, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _classes(framework)["functional"]()


def drop_path(framework: str, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _classes(framework)["drop_path"]()


def downcast(framework: str, scale: float = 1.0, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _classes(framework)["downcast"](scale)
