"""Models for LayerMap and special inits: blocks a port fuses into one layer with parameters of its own,
wrappers only one side has, and layers renamed or reordered.

The fused blocks exist on one side only, so each is written once in the framework it belongs to; their
class names are what ``add_special_init`` registers. Everything else is defined once against the kit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from .frameworks import kit, net

__all__ = [
    "torch_blocks",
    "paddle_fused",
    "block_head",
    "wrapped_act",
    "norm_block",
    "wrappers",
    "traced_mlp",
    "square_block",
    "seq",
    "enc_dec",
    "reordered_enc_dec",
]


@functools.cache
def torch_blocks() -> SimpleNamespace:
    """The torch blocks a port fuses: TorchFusedBlock (fc 4 -> 8, ReLU) and TorchTwoLinears (fc1 4 -> 8,
    ReLU, fc2 8 -> 8; fc2 is square, so only a layer rule knows it needs a transpose)."""
    nn = kit("torch").nn

    class TorchFusedBlock(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 8)
            self.act = nn.ReLU()

        def forward(self, x: Any) -> Any:
            return self.act(self.fc(x))

    class TorchTwoLinears(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(4, 8)
            self.act = nn.ReLU()
            self.fc2 = nn.Linear(8, 8)

        def forward(self, x: Any) -> Any:
            return self.fc2(self.act(self.fc1(x)))

    return SimpleNamespace(TorchFusedBlock=TorchFusedBlock, TorchTwoLinears=TorchTwoLinears)


@functools.cache
def paddle_fused() -> SimpleNamespace:
    """paddle layers that compute Linear (+ ReLU) with parameters of their own."""
    import paddle

    class FusedLinearRelu(paddle.nn.Layer):
        """Linear(4, 8) + ReLU in one layer, its weight stored as paddle's [in, out]."""

        def __init__(self, relu: bool = True) -> None:
            super().__init__()
            self.w = self.create_parameter([4, 8])
            self.b = self.create_parameter([8], is_bias=True)
            self.relu = relu

        def forward(self, x: Any) -> Any:
            out = paddle.matmul(x, self.w) + self.b
            return paddle.nn.functional.relu(out) if self.relu else out

    class PaddleFused(paddle.nn.Layer):
        """Linear + ReLU in one layer, storing its weight as torch does ([out, in]): no generic rule fits."""

        def __init__(self) -> None:
            super().__init__()
            self.w = self.create_parameter([8, 4])
            self.b = self.create_parameter([8], is_bias=True)

        def forward(self, x: Any) -> Any:
            return paddle.nn.functional.relu(paddle.matmul(x, self.w, transpose_y=True) + self.b)

    class PaddleFusedMLP(paddle.nn.Layer):
        """TorchTwoLinears in one layer with four parameters of its own, stored as paddle's [in, out]."""

        def __init__(self, relu: bool = True) -> None:
            super().__init__()
            self.w1 = self.create_parameter([4, 8])
            self.b1 = self.create_parameter([8], is_bias=True)
            self.w2 = self.create_parameter([8, 8])
            self.b2 = self.create_parameter([8], is_bias=True)
            self.relu = relu

        def forward(self, x: Any) -> Any:
            hidden = paddle.matmul(x, self.w1) + self.b1
            hidden = paddle.nn.functional.relu(hidden) if self.relu else hidden
            return paddle.matmul(hidden, self.w2) + self.b2

    class PaddleSquare(paddle.nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.w = self.create_parameter([8, 8])  # [in, out], used as x @ w
            self.b = self.create_parameter([8], is_bias=True)

        def forward(self, x: Any) -> Any:
            return paddle.matmul(x, self.w) + self.b

    return SimpleNamespace(
        FusedLinearRelu=FusedLinearRelu, PaddleFused=PaddleFused, PaddleFusedMLP=PaddleFusedMLP,
        PaddleSquare=PaddleSquare,
    )  # fmt: skip


def block_head(framework: str, block: Any) -> Any:
    """block -> head (Linear 8 -> 2); the block is built first, so it draws its weights first."""
    return net(framework, block=block, head=kit(framework).nn.Linear(8, 2))


def wrapped_act(framework: str) -> Any:
    """fc (square) -> wrap (a user layer holding the ReLU as ``act``) -> head: ``structure.fc_act_head``
    with its activation inside a wrapper only the port has. Not seeded."""
    nn = kit(framework).nn
    fc, wrap = nn.Linear(6, 6), net(framework, act=nn.ReLU())
    return net(framework, fc=fc, wrap=wrap, head=nn.Linear(6, 2))


def norm_block(framework: str) -> Any:
    """block (BatchNorm1d(4) -> Linear(4, 3)), the block a user layer of its own. Not seeded."""
    k = kit(framework)
    return net(framework, block=net(framework, bn=k.bn_nd[1](4), fc=k.nn.Linear(4, 3)))


@functools.cache
def wrappers(framework: str) -> SimpleNamespace:
    """Trace(inner): a wrapper only the port has (say, for logging). Holder(layer, call): a root whose
    forward calls one layer through ``call`` (to pick what is compared)."""
    k = kit(framework)

    class Trace(k.Layer):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return self.inner(x)

    class Holder(k.Layer):
        def __init__(self, layer: Any, call: Callable) -> None:
            super().__init__()
            self.layer = layer
            self.call = call

        def forward(self, x: Any) -> Any:
            return self.call(self.layer, x)

    return SimpleNamespace(Trace=Trace, Holder=Holder)


def traced_mlp(framework: str) -> Any:
    """fc (4 -> 6) -> tanh -> head (-> 2), fc and the activation each inside a Trace. Not seeded."""
    nn, trace = kit(framework).nn, wrappers(framework).Trace
    return net(framework, fc=trace(nn.Linear(4, 6)), act=trace(nn.Tanh()), head=nn.Linear(6, 2))


def square_block(framework: str) -> Any:
    """block: a square Linear(8, 8) in torch, a PaddleSquare (x @ w + b, parameters of its own) in paddle."""
    if framework == "torch":
        return net(framework, block=kit(framework).nn.Linear(8, 8))
    return net(framework, block=paddle_fused().PaddleSquare())


@functools.cache
def _seq_class(framework: str) -> type:
    k = kit(framework)

    class Seq(k.Layer):
        """embed -> self-attention -> a recurrent layer [-> an extra LSTM]."""

        def __init__(self, recurrent: str, extra_lstm: bool) -> None:
            super().__init__()
            self.embed = k.nn.Linear(3, 8)
            self.attn = k.mha(8, 2)
            self.rnn = k.rnn(recurrent, 8, 4)
            self.extra = k.rnn("LSTM", 4, 4) if extra_lstm else None

        def forward(self, x: Any) -> Any:
            h = self.embed(x)
            out = self.rnn(k.self_attention(self.attn, h))[0]
            return self.extra(out)[0] if self.extra is not None else out

    return Seq


def seq(framework: str, recurrent: str = "LSTM", extra_lstm: bool = False) -> Any:
    """Not seeded."""
    return _seq_class(framework)(recurrent, extra_lstm)


@functools.cache
def _enc_dec_classes(framework: str) -> SimpleNamespace:
    k = kit(framework)

    class EncDec(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = k.Sequential(k.nn.Linear(4, 8), k.nn.ReLU())
            self.decoder = k.nn.Linear(8, 8)
            self.norm = k.bn_nd[1](8)
            self.out = k.nn.Linear(8, 2)

        def forward(self, x: Any) -> Any:
            return self.out(self.norm(self.decoder(self.encoder(x))))

    class ReorderedEncDec(k.Layer):
        """The same network, its layers named and defined in another order."""

        def __init__(self) -> None:
            super().__init__()
            self.out_proj = k.nn.Linear(8, 2)
            self.norm = k.bn_nd[1](8)
            self.dec = k.nn.Linear(8, 8)
            self.enc_fc = k.nn.Linear(4, 8)

        def forward(self, x: Any) -> Any:
            return self.out_proj(self.norm(self.dec(k.F.relu(self.enc_fc(x)))))

    return SimpleNamespace(EncDec=EncDec, ReorderedEncDec=ReorderedEncDec)


def enc_dec(framework: str) -> Any:
    """encoder (Linear, ReLU) -> decoder -> norm -> out. Not seeded."""
    return _enc_dec_classes(framework).EncDec()


def reordered_enc_dec(framework: str) -> Any:
    """``enc_dec`` with its layers renamed (enc_fc, dec, out_proj) and defined in reverse order."""
    return _enc_dec_classes(framework).ReorderedEncDec()
