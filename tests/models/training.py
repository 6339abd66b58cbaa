"""Twins for optimizer steps: a small ViT and a small UNet, written once on the framework kit.

vit(framework): patch embedding (a stride-4 conv) -> class token and positions -> 4 pre-norm blocks
  (multi-head self-attention, GELU MLP) -> norm -> head on the class token. Input [2, 3, 16, 16].
unet(framework): two down stages (conv-bn-relu x2, max pool), a bottleneck, two up stages (upsample,
  concatenation with the skip, conv-bn-relu x2) -> a 1x1 conv. Input [2, 3, 16, 16].
optimizer_pair(kind, **raw): (torch factory, paddle factory) for AdamW, Adam or SGD with momentum, with
  identical settings unless `raw` changes paddle's (`l2=True`: paddle's Adam with an L2 term).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .frameworks import kit

__all__ = ["optimizer_pair", "vit", "unet", "training_images"]

WIDTH, HEADS, DEPTH = 32, 4, 4


def training_images(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, 3, 16, 16)).astype(np.float32)


def _ops(framework: str) -> dict[str, Any]:
    if framework == "torch":
        import torch

        return {
            "tokens": lambda x: x.flatten(2).transpose(1, 2),
            "cat": lambda tensors, axis: torch.cat(tensors, axis),
            "expand": lambda t, b: t.expand(b, -1, -1),
            "heads": lambda t, b, s: t.reshape(b, s, HEADS, WIDTH // HEADS).transpose(1, 2),
            "merge": lambda t, b, s: t.transpose(1, 2).reshape(b, s, WIDTH),
            "scores": lambda q, k: q @ k.transpose(-2, -1),
            "zeros": lambda *shape: torch.nn.Parameter(torch.zeros(*shape)),
            "pool": lambda: torch.nn.MaxPool2d(2),
        }
    import paddle

    return {
        "tokens": lambda x: x.flatten(2).transpose([0, 2, 1]),
        "cat": lambda tensors, axis: paddle.concat(tensors, axis),
        "expand": lambda t, b: t.expand([b, -1, -1]),
        "heads": lambda t, b, s: t.reshape([b, s, HEADS, WIDTH // HEADS]).transpose([0, 2, 1, 3]),
        "merge": lambda t, b, s: t.transpose([0, 2, 1, 3]).reshape([b, s, WIDTH]),
        "scores": lambda q, k: q @ k.transpose([0, 1, 3, 2]),
        "zeros": lambda *shape: paddle.create_parameter(
            list(shape), "float32", default_initializer=paddle.nn.initializer.Constant(0.0)
        ),
        "pool": lambda: paddle.nn.MaxPool2D(2),
    }


@functools.cache
def _vit_class(framework: str) -> type:
    k, ops = kit(framework), _ops(framework)

    class Attention(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.qkv, self.proj = k.nn.Linear(WIDTH, 3 * WIDTH), k.nn.Linear(WIDTH, WIDTH)

        def forward(self, x: Any) -> Any:
            b, s = x.shape[0], x.shape[1]
            q, key, v = (ops["heads"](t, b, s) for t in self.qkv(x).chunk(3, -1))
            probs = k.F.softmax(ops["scores"](q, key) * (WIDTH // HEADS) ** -0.5, -1)
            return self.proj(ops["merge"](probs @ v, b, s))

    class Block(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.norm1, self.attn, self.norm2 = k.ln(WIDTH), Attention(), k.ln(WIDTH)
            self.mlp = k.named_sequential(("fc1", k.nn.Linear(WIDTH, 2 * WIDTH)), ("act", k.gelu()),
                                          ("fc2", k.nn.Linear(2 * WIDTH, WIDTH)))  # fmt: skip

        def forward(self, x: Any) -> Any:
            x = x + self.attn(self.norm1(x))
            return x + self.mlp(self.norm2(x))

    class Vit(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.patch = k.conv_nd[2](3, WIDTH, 4, 4)
            self.cls_token, self.pos = ops["zeros"](1, 1, WIDTH), ops["zeros"](1, 17, WIDTH)
            self.blocks = k.LayerList([Block() for _ in range(DEPTH)])
            self.norm, self.head = k.ln(WIDTH), k.nn.Linear(WIDTH, 10)

        def forward(self, x: Any) -> Any:
            tokens = ops["tokens"](self.patch(x))
            x = ops["cat"]([ops["expand"](self.cls_token, tokens.shape[0]), tokens], 1) + self.pos
            for block in self.blocks:
                x = block(x)
            return self.head(self.norm(x)[:, 0])

    return Vit


@functools.cache
def _unet_class(framework: str) -> type:
    k, ops = kit(framework), _ops(framework)

    def double(cin: int, cout: int) -> Any:
        return k.named_sequential(
            ("conv1", k.conv_nd[2](cin, cout, 3, 1, 1)), ("bn1", k.bn2d(cout)), ("relu1", k.nn.ReLU()),
            ("conv2", k.conv_nd[2](cout, cout, 3, 1, 1)), ("bn2", k.bn2d(cout)), ("relu2", k.nn.ReLU()),
        )  # fmt: skip

    class Unet(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.enc1, self.enc2, self.pool = double(3, 8), double(8, 16), ops["pool"]()
            self.enc3 = double(16, 32)
            self.up2, self.dec2 = k.upsample("nearest"), double(32 + 16, 16)
            self.up1, self.dec1 = k.upsample("nearest"), double(16 + 8, 8)
            self.out = k.conv_nd[2](8, 2, 1, 1, 0)

        def forward(self, x: Any) -> Any:
            e1 = self.enc1(x)
            e2 = self.enc2(self.pool(e1))
            e3 = self.enc3(self.pool(e2))
            d2 = self.dec2(ops["cat"]([self.up2(e3), e2], 1))
            d1 = self.dec1(ops["cat"]([self.up1(d2), e1], 1))
            return self.out(d1)

    return Unet


def vit(framework: str, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _vit_class(framework)()


def unet(framework: str, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _unet_class(framework)()


def optimizer_pair(kind: str, **raw: Any) -> tuple[Any, Any]:
    """(torch factory, paddle factory): "adamw", "adam" or "sgd" (with momentum), the same settings
    unless `raw` changes paddle's (its keyword names; `l2=True` is paddle's Adam with an L2 decay term in
    the gradient, against torch's AdamW's decoupled decay)."""
    import paddle
    import torch

    if kind == "sgd":
        settings = {"learning_rate": 0.1, "momentum": 0.9, **raw}
        return (
            lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
            lambda ps: paddle.optimizer.Momentum(parameters=ps, **settings),
        )
    base = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    decay = {"weight_decay": 0.01} if kind == "adamw" else {}
    adam = {"learning_rate": 1e-3, "beta2": 0.999, "epsilon": 1e-8, **decay}
    if raw.pop("l2", False):
        adam["weight_decay"] = paddle.regularizer.L2Decay(0.01)
        return lambda ps: base(ps, lr=1e-3, **decay), lambda ps: paddle.optimizer.Adam(parameters=ps, **adam)
    paddle_class = paddle.optimizer.AdamW if kind == "adamw" else paddle.optimizer.Adam
    return (
        lambda ps: base(ps, lr=1e-3, **decay),
        lambda ps: paddle_class(parameters=ps, **{**adam, **raw}),
    )
