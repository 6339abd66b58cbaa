"""Ports that draw the same computation differently: a pooling layer against a functional call, a flat
Sequential against a fused user layer, a layer boundary drawn elsewhere (DenseNet's concatenation), an
activation fused into the norm, an extra keyword input on one side. Each architecture is defined once
against the framework kit; a test puts one architecture on each side.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

from .frameworks import kit, net

__all__ = [
    "functional_pool",
    "pool_layer",
    "flat_stem",
    "fused_stem",
    "concat_in_parent",
    "concat_in_block",
    "separate_activation",
    "fused_activation",
    "with_cache_position",
    "without_cache_position",
    "norm_without_affine",
]


@functools.cache
def _classes(framework: str) -> SimpleNamespace:
    k = kit(framework)

    class FunctionalPool(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv = k.conv_nd[2](3, 4, 3, padding=1)
            self.head = k.nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            return self.head(k.F.adaptive_avg_pool2d(self.conv(x), 1).flatten(1))

    class PoolLayer(k.Layer):
        def __init__(self, scale: float) -> None:
            super().__init__()
            self.conv = k.conv_nd[2](3, 4, 3, padding=1)
            self.pool = k.avgpool1()
            self.head = k.nn.Linear(4, 2)
            self.scale = scale

        def forward(self, x: Any) -> Any:
            return self.head(self.pool(self.conv(x)).flatten(1) * self.scale)

    class ConvBN(k.Layer):
        def __init__(self, eps: float) -> None:
            super().__init__()
            self.conv = k.conv_nd[2](3, 4, 3)
            self.bn = k.bn2d(4, eps=eps)
            self.act = k.nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.act(self.bn(self.conv(x)))

    class NewChannels(k.Layer):
        """torchvision's dense layer: returns its new channels only."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = k.conv_nd[2](4, 2, 3, padding=1)

        def forward(self, x: Any) -> Any:
            return self.conv(x)

    class ConcatInParent(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.block = NewChannels()
            self.head = k.conv_nd[2](6, 3, 1)

        def forward(self, x: Any) -> Any:
            return self.head(k.cat([x, self.block(x)], 1))

    class JoinedChannels(k.Layer):
        """paddle.vision's dense layer: returns its new channels joined to its input."""

        def __init__(self, scale: float) -> None:
            super().__init__()
            self.conv = k.conv_nd[2](4, 2, 3, padding=1)
            self.scale = scale

        def forward(self, x: Any) -> Any:
            return k.cat([x, self.conv(x) * self.scale], 1)

    class CachePositionBlock(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 4)

        def forward(self, h: Any, mask: Any, cache_position: Any, scale: Any) -> Any:
            return self.fc(h) * mask * scale

    class PlainBlock(k.Layer):
        def __init__(self, factor: float) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 4)
            self.factor = factor

        def forward(self, h: Any, mask: Any, scale: Any) -> Any:
            return self.fc(h) * mask * scale * self.factor

    class CachePositionRoot(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.block = CachePositionBlock()

        def forward(self, x: Any) -> Any:
            return self.block(x, k.ones([4]), cache_position=k.arange(4), scale=k.full([1], 2.0))

    class PlainRoot(k.Layer):
        def __init__(self, factor: float) -> None:
            super().__init__()
            self.block = PlainBlock(factor)

        def forward(self, x: Any) -> Any:
            return self.block(x, k.ones([4]), scale=k.full([1], 2.0))

    return SimpleNamespace(
        FunctionalPool=FunctionalPool, PoolLayer=PoolLayer, ConvBN=ConvBN, ConcatInParent=ConcatInParent,
        JoinedChannels=JoinedChannels, CachePositionRoot=CachePositionRoot, PlainRoot=PlainRoot,
    )  # fmt: skip


def functional_pool(framework: str) -> Any:
    """conv -> adaptive average pooling by a functional call -> head. Not seeded."""
    return _classes(framework).FunctionalPool()


def pool_layer(framework: str, scale: float = 1.0) -> Any:
    """conv -> an AdaptiveAvgPool2D layer -> head, the pooled features scaled in the root's own code."""
    return _classes(framework).PoolLayer(scale)


def flat_stem(framework: str) -> Any:
    """stem (a Sequential: conv, bn, relu) -> head."""
    k = kit(framework)
    stem = k.Sequential(k.conv_nd[2](3, 4, 3), k.bn2d(4), k.nn.ReLU())
    return net(framework, stem=stem, head=k.conv_nd[2](4, 2, 1))


def fused_stem(framework: str, eps: float = 1e-5) -> Any:
    """stem (a user layer ConvBN: conv, bn with ``eps``, act) -> head."""
    k = kit(framework)
    return net(framework, stem=_classes(framework).ConvBN(eps), head=k.conv_nd[2](4, 2, 1))


def concat_in_parent(framework: str) -> Any:
    """block (conv: 2 new channels) -> the root joins them to its input -> head."""
    return _classes(framework).ConcatInParent()


def concat_in_block(framework: str, scale: float = 1.0) -> Any:
    """block (joins its 2 new channels, scaled, to its input) -> head."""
    k = kit(framework)
    return net(framework, block=_classes(framework).JoinedChannels(scale), head=k.conv_nd[2](6, 3, 1))


def separate_activation(framework: str) -> Any:
    """conv -> norm -> relu -> head, the activation a layer of its own."""
    k = kit(framework)
    conv, norm = k.conv_nd[2](3, 4, 3), k.bn2d(4)
    return net(framework, conv=conv, norm=norm, relu=k.nn.ReLU(), head=k.conv_nd[2](4, 2, 1))


def fused_activation(eps: float = 1e-5) -> Any:
    """conv -> paddle BatchNorm(act="relu") -> head: paddle only."""
    nn = kit("paddle").nn
    conv, norm = nn.Conv2D(3, 4, 3), nn.BatchNorm(4, act="relu", epsilon=eps)
    return net("paddle", conv=conv, norm=norm, head=nn.Conv2D(4, 2, 1))


def with_cache_position(framework: str) -> Any:
    """block(h, mask, cache_position=..., scale=...), as Hugging Face layers are called."""
    return _classes(framework).CachePositionRoot()


def without_cache_position(framework: str, factor: float = 1.0) -> Any:
    """block(h, mask, scale=...): the same block without the extra keyword input."""
    return _classes(framework).PlainRoot(factor)


def norm_without_affine(framework: str, eps: float = 1e-5) -> Any:
    """fc -> LayerNorm without weight and bias: the mean of its output does not depend on its input."""
    k = kit(framework)
    return net(framework, fc=k.nn.Linear(16, 16), norm=k.ln_plain(16, eps))
