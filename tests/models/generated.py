"""Generated twins: a plain-data spec drawn by ``tests/gen.py`` built as a torch or a paddle model.

``build(spec, framework)`` turns every node of the spec into a layer of ``framework`` under the node's
``path``, so both twins of one spec have the same layer paths. The custom layers (a stack, a residual
block, single-head attention, a global pool) are defined once against the framework kit.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np

from .frameworks import kit, net

__all__ = ["build_spec", "randomize_norms"]


@functools.cache
def _classes(framework: str) -> SimpleNamespace:
    """The custom layers of generated nets, defined once per framework."""
    k = kit(framework)

    class Stack(k.Layer):
        def __init__(self, layers: list[Any]) -> None:
            super().__init__()
            self.items = k.LayerList(layers)

        def forward(self, x: Any) -> Any:
            for layer in self.items:
                x = layer(x)
            return x

    class Residual(k.Layer):
        def __init__(self, layers: list[Any], add: bool) -> None:
            super().__init__()
            self.body = k.Sequential(*layers)
            self.add = add

        def forward(self, x: Any) -> Any:
            return x + self.body(x) if self.add else self.body(x)

    class Attention(k.Layer):
        """Single-head self-attention over [batch, seq, d]; the softmax is inline."""

        def __init__(self, d: int) -> None:
            super().__init__()
            self.q, self.k, self.v = k.nn.Linear(d, d), k.nn.Linear(d, d), k.nn.Linear(d, d)
            self.scale = d**-0.5

        def forward(self, x: Any) -> Any:
            scores = (self.q(x) @ k.swap_last(self.k(x))) * self.scale
            return k.F.softmax(scores, -1) @ self.v(x)

    class GlobalPool(k.Layer):
        """Mean over the sequence axis of [b, s, d], or over the spatial axes of [b, c, ...]."""

        def __init__(self, axis: str) -> None:
            super().__init__()
            self.axis = axis

        def forward(self, x: Any) -> Any:
            return k.mean(x, (1,) if self.axis == "seq" else tuple(range(2, x.ndim)))

    return SimpleNamespace(Stack=Stack, Residual=Residual, Attention=Attention, Pool=GlobalPool)


def _layer(node: dict, framework: str) -> Any:
    k, cls = kit(framework), _classes(framework)
    op = node["op"]
    if op == "linear":
        return k.nn.Linear(node["in"], node["out"])
    if op in ("conv1d", "conv2d"):
        return k.conv_nd[int(op[-2])](node["in"], node["out"], node["k"], padding=node["pad"])
    if op in ("bn1d", "bn2d"):
        return k.with_eps(k.bn_nd[int(op[-2])], node["c"], node["eps"])
    if op == "ln":
        return k.ln(node["d"], node["eps"])
    if op == "gn":
        return k.gn(node["g"], node["c"], node["eps"])
    if op == "act":
        return k.acts[node["fn"]]()
    if op == "dropout":
        return k.nn.Dropout(node["p"])
    if op in ("pool1d", "pool2d"):
        return k.pool_nd[(node["type"], int(op[-2]))](2)
    if op == "gpool":
        return cls.Pool(node["axis"])
    if op == "embed":
        return k.nn.Embedding(node["vocab"], node["d"])
    if op == "attn":
        return cls.Attention(node["d"])
    children = [_layer(child, framework) for child in node["body"]]
    if op == "seq":
        return k.Sequential(*children)
    if op == "stack":
        return cls.Stack(children)
    if op == "residual":
        return cls.Residual(children, node["add"])
    raise ValueError(f"unknown op {op!r}")


def build_spec(spec: dict, framework: str, seed: int = 0) -> Any:
    """The spec's model in ``framework``, in the spec's train/eval mode; the framework RNG is seeded first."""
    kit(framework).seed(seed)
    model = net(framework, **{node["path"]: _layer(node, framework) for node in spec["layers"]})
    model.train() if spec["mode"] == "train" else model.eval()
    return model


def randomize_norms(model: Any, framework: str, seed: int) -> None:
    """Give every norm layer non-trivial affine weights and running statistics, so their transfer matters."""
    k = kit(framework)
    rng = np.random.default_rng(seed)
    for layer in k.sublayers(model):
        if not isinstance(layer, k.norms):
            continue
        for name, tensor in k.direct_state(layer):
            shape = tuple(tensor.shape)
            low, high = (0.5, 1.5) if name in ("weight", "running_var", "_variance") else (-0.5, 0.5)
            k.assign(tensor, rng.uniform(low, high, shape).astype(np.float32))
