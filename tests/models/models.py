"""The planted twins: five architectures written once for torch and paddle, and the bugs planted in them.

Each twin is defined once against the framework kit (``frameworks.kit``), so the torch and paddle versions
have the same class names, the same attribute names and therefore the same dotted layer paths
(``block.bn1``, ``blocks.0.attn``). Both frameworks are imported lazily, only by the builder that needs one.

A *plant* is a deliberate change applied to one side; ``PLANTS`` says where padiff must report it.
This file's name is part of the golden reports (``called at models.py:N``), so it keeps it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from .frameworks import kit

__all__ = ["PLANTS", "TWINS", "Plant", "build", "example_input", "plants_of", "xtanh_functions"]

TWINS: tuple[str, ...] = ("mlp", "cnn", "transformer", "embedding", "custom_grad")


@dataclass(frozen=True)
class Plant:
    """A planted change in one twin and the layer (and phase) where padiff must report it."""

    twin: str
    name: str
    phase: str  # "forward" or "backward"
    path: str  # dotted path relative to the root model, "" = root
    kind: str


PLANTS: tuple[Plant, ...] = (
    Plant("mlp", "activation", "forward", "act1", "act1 is Tanh instead of ReLU"),
    Plant("cnn", "bn_eps", "forward", "block.bn1", "block.bn1 eps 1e-1 instead of 1e-5"),
    Plant("cnn", "dropped_residual", "forward", "block", "block.forward omits the residual `+ x`"),
    Plant(
        "transformer", "softmax_axis", "forward", "blocks.0.attn", "attention softmax over axis -2, not -1"
    ),
    Plant("embedding", "pool_sum", "forward", "pool", "pool sums over the sequence instead of averaging"),
    Plant(
        "custom_grad", "wrong_backward", "backward", "custom", "custom backward drops the x*(1-tanh^2) term"
    ),
)

# Default sizes per twin; every key can be overridden through ``**size``.
_SIZES: dict[str, dict[str, int]] = {
    "mlp": {"batch": 4},
    "cnn": {"batch": 2},
    "transformer": {"batch": 2, "seq": 8, "d_model": 32, "heads": 4, "depth": 1},
    "embedding": {"batch": 2, "seq": 6},
    "custom_grad": {"batch": 4},
}
_INPUT_SIZES = ("batch", "seq")  # shape the input only; the rest shape the model
_VOCAB = 50


def plants_of(twin: str) -> tuple[Plant, ...]:
    """The plants defined for ``twin``."""
    return tuple(p for p in PLANTS if p.twin == twin)


def _sizes(twin: str, size: dict[str, int]) -> dict[str, int]:
    if twin not in TWINS:
        raise ValueError(f"unknown twin {twin!r}; expected one of {TWINS}")
    unknown = set(size) - set(_SIZES[twin])
    if unknown:
        raise ValueError(f"twin {twin!r} has no size {sorted(unknown)}; sizes are {sorted(_SIZES[twin])}")
    return {**_SIZES[twin], **size}


# --- twin definitions: each returns the root class for one framework ---------------------------------


def _define_mlp(kit: SimpleNamespace) -> type:
    class Mlp(kit.Layer):
        """fc2 is square, so a transfer that transposes by shape instead of by type gets it wrong."""

        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.fc1 = kit.nn.Linear(16, 32)
            self.act1 = kit.nn.Tanh() if plant == "activation" else kit.nn.ReLU()
            self.fc2 = kit.nn.Linear(32, 32)
            self.act2 = kit.nn.ReLU()
            self.fc3 = kit.nn.Linear(32, 8)

        def forward(self, x: Any) -> Any:
            return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))))

    return Mlp


def _define_cnn(kit: SimpleNamespace) -> type:
    class ResBlock(kit.Layer):
        """Two convs with a residual add done in this layer's own forward."""

        def __init__(self, channels: int, plant: str | None) -> None:
            super().__init__()
            self.conv1 = kit.conv3x3(channels, channels)
            self.bn1 = kit.bn2d(channels, eps=1e-1 if plant == "bn_eps" else 1e-5)
            self.relu = kit.nn.ReLU()
            self.conv2 = kit.conv3x3(channels, channels)
            self.bn2 = kit.bn2d(channels)
            self.residual = plant != "dropped_residual"

        def forward(self, x: Any) -> Any:
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + x if self.residual else out)

    class Cnn(kit.Layer):
        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.stem = kit.named_sequential(
                ("conv", kit.conv3x3(3, 8)), ("bn", kit.bn2d(8)), ("relu", kit.nn.ReLU())
            )
            self.block = ResBlock(8, plant)
            self.pool = kit.avgpool1()
            self.flatten = kit.nn.Flatten()
            self.head = kit.nn.Linear(8, 10)

        def forward(self, x: Any) -> Any:
            return self.head(self.flatten(self.pool(self.block(self.stem(x)))))

    return Cnn


def _define_transformer(kit: SimpleNamespace) -> type:
    class Attention(kit.Layer):
        """Multi-head self-attention; the softmax is a functional call inside this layer."""

        def __init__(self, d_model: int, heads: int, softmax_axis: int) -> None:
            super().__init__()
            self.heads = heads
            self.softmax_axis = softmax_axis
            self.q = kit.nn.Linear(d_model, d_model)
            self.k = kit.nn.Linear(d_model, d_model)
            self.v = kit.nn.Linear(d_model, d_model)
            self.out = kit.nn.Linear(d_model, d_model)

        def _split(self, x: Any) -> Any:  # [b, s, d] -> [b, h, s, d/h]
            b, s, d = x.shape
            return x.reshape([b, s, self.heads, d // self.heads]).permute(0, 2, 1, 3)

        def forward(self, x: Any) -> Any:
            b, s, d = x.shape
            q, key, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
            scores = (q @ key.permute(0, 1, 3, 2)) * (d // self.heads) ** -0.5
            probs = kit.F.softmax(scores, self.softmax_axis)
            return self.out((probs @ v).permute(0, 2, 1, 3).reshape([b, s, d]))

    class Block(kit.Layer):
        """Pre-LN encoder block; the two dropouts make train mode matter."""

        def __init__(self, d_model: int, heads: int, softmax_axis: int) -> None:
            super().__init__()
            self.ln1 = kit.ln(d_model)
            self.attn = Attention(d_model, heads, softmax_axis)
            self.drop1 = kit.nn.Dropout(0.1)
            self.ln2 = kit.ln(d_model)
            self.mlp = kit.named_sequential(
                ("fc1", kit.nn.Linear(d_model, 4 * d_model)),
                ("act", kit.gelu()),
                ("fc2", kit.nn.Linear(4 * d_model, d_model)),
            )
            self.drop2 = kit.nn.Dropout(0.1)

        def forward(self, x: Any) -> Any:
            x = x + self.drop1(self.attn(self.ln1(x)))
            return x + self.drop2(self.mlp(self.ln2(x)))

    class Transformer(kit.Layer):
        def __init__(self, plant: str | None, d_model: int, heads: int, depth: int) -> None:
            super().__init__()
            if d_model % heads:
                raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
            axes = [-2 if plant == "softmax_axis" and i == 0 else -1 for i in range(depth)]
            self.blocks = kit.LayerList([Block(d_model, heads, axis) for axis in axes])
            self.norm = kit.ln(d_model)
            self.head = kit.nn.Linear(d_model, d_model)

        def forward(self, x: Any) -> Any:
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x))

    return Transformer


def _define_embedding(kit: SimpleNamespace) -> type:
    class SeqPool(kit.Layer):
        """Pools over the sequence axis: a mean, or (planted) a sum."""

        def __init__(self, mean: bool) -> None:
            super().__init__()
            self.mean = mean

        def forward(self, x: Any) -> Any:
            return x.mean(1) if self.mean else x.sum(1)

    class EmbeddingNet(kit.Layer):
        """Integer token ids in; the embedding table has the same [vocab, dim] layout in both frameworks."""

        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.embed = kit.nn.Embedding(_VOCAB, 16)
            self.norm = kit.ln(16)  # paddle's LayerNorm refuses eps > 1e-3
            self.proj = kit.nn.Linear(16, 16)
            self.pool = SeqPool(mean=plant != "pool_sum")
            self.head = kit.nn.Linear(16, 4)

        def forward(self, ids: Any) -> Any:
            return self.head(self.pool(self.proj(self.norm(self.embed(ids)))))

    return EmbeddingNet


@functools.cache
def xtanh_functions(framework: str) -> tuple[type, type]:
    """(XTanh, XTanhWrongGrad): y = x * tanh(x) as an autograd function with a hand-written backward,
    and the same with a backward that forgets the x * (1 - tanh^2) term."""
    k = kit(framework)

    class XTanh(k.Function):
        """y = x * tanh(x) with a hand-written backward."""

        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x)
            return x * x.tanh()

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (x,) = k.saved(ctx)
            t = x.tanh()
            return grad * (t + x * (1 - t * t))

    class XTanhWrongGrad(XTanh):
        """Same forward; the backward forgets the x * (1 - tanh^2) term."""

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            (x,) = k.saved(ctx)
            return grad * x.tanh()

    return XTanh, XTanhWrongGrad


def _define_custom_grad(kit: SimpleNamespace) -> type:
    XTanh, XTanhWrongGrad = xtanh_functions(kit.name)

    class XTanhLayer(kit.Layer):
        def __init__(self, wrong_backward: bool) -> None:
            super().__init__()
            self.fn = XTanhWrongGrad if wrong_backward else XTanh

        def forward(self, x: Any) -> Any:
            return self.fn.apply(x)

    class CustomGradNet(kit.Layer):
        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.fc1 = kit.nn.Linear(8, 8)
            self.custom = XTanhLayer(plant == "wrong_backward")
            self.fc2 = kit.nn.Linear(8, 4)

        def forward(self, x: Any) -> Any:
            return self.fc2(self.custom(self.fc1(x)))

    return CustomGradNet


_DEFINE = {
    "mlp": _define_mlp,
    "cnn": _define_cnn,
    "transformer": _define_transformer,
    "embedding": _define_embedding,
    "custom_grad": _define_custom_grad,
}


@functools.cache
def _root_class(twin: str, framework: str) -> type:
    """Classes are defined once per (twin, framework), so repeated builds share them."""
    return _DEFINE[twin](kit(framework))


def build(twin: str, framework: str, plant: str | None = None, seed: int = 0, **size: int) -> Any:
    """A fresh ``twin`` model in ``framework`` ("torch" or "paddle"), with ``plant`` applied if given.

    The framework's RNG is seeded with ``seed`` first; weights use the framework's default init.
    """
    sizes = _sizes(twin, size)
    if plant is not None and plant not in {p.name for p in plants_of(twin)}:
        raise ValueError(f"twin {twin!r} has no plant {plant!r}; plants: {[p.name for p in plants_of(twin)]}")
    kit(framework).seed(seed)
    model_sizes = {key: value for key, value in sizes.items() if key not in _INPUT_SIZES}
    return _root_class(twin, framework)(plant, **model_sizes)


def example_input(twin: str, seed: int = 0, **size: int) -> np.ndarray:
    """A small numpy input for ``twin``: float32, or int64 token ids for "embedding"."""
    sizes = _sizes(twin, size)
    rng = np.random.default_rng(seed)
    b = sizes["batch"]
    if twin == "embedding":
        return rng.integers(0, _VOCAB, size=(b, sizes["seq"]), dtype=np.int64)
    if twin == "transformer":
        shape: tuple[int, ...] = (b, sizes["seq"], sizes["d_model"])
    else:
        shape = {"mlp": (b, 16), "cnn": (b, 3, 16, 16), "custom_grad": (b, 8)}[twin]
    return rng.standard_normal(shape).astype(np.float32)
