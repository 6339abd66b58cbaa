"""The framework kit: every piece the shared test models take from torch or paddle, in one place.

A model is written once against ``kit(framework)`` (``k.nn.Linear``, ``k.Layer``, ``k.bn2d``, ...), so its
torch and paddle versions have the same class name, attribute names and dotted layer paths. Where the two
frameworks spell a thing differently (``eps`` / ``epsilon``, ``bias`` / ``bias_attr``, ``Conv2d`` /
``Conv2D``, ``ctx.saved_tensors`` / ``ctx.saved_tensor()``) the kit holds one entry per spelling, with a
note on the quirk. Each framework is imported only when its kit is first asked for.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

__all__ = ["FRAMEWORKS", "kit", "net"]

FRAMEWORKS: tuple[str, ...] = ("torch", "paddle")


def _torch_kit() -> SimpleNamespace:
    import torch
    from torch import nn

    return SimpleNamespace(
        name="torch", nn=nn, F=nn.functional, Layer=nn.Module, LayerList=nn.ModuleList,
        Sequential=nn.Sequential, Function=torch.autograd.Function, saved=lambda ctx: ctx.saved_tensors,
        seed=torch.manual_seed,
        # layers whose arguments are spelled differently
        linear=lambda i, o, bias=True: nn.Linear(i, o, bias=bias),
        conv3x3=lambda cin, cout: nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        conv_nd={1: nn.Conv1d, 2: nn.Conv2d}, bn_nd={1: nn.BatchNorm1d, 2: nn.BatchNorm2d},
        pool_nd={("max", 1): nn.MaxPool1d, ("avg", 1): nn.AvgPool1d, ("max", 2): nn.MaxPool2d,
                 ("avg", 2): nn.AvgPool2d},
        bn2d=lambda c, eps=1e-5: nn.BatchNorm2d(c, eps=eps),
        with_eps=lambda cls, c, eps: cls(c, eps=eps),
        ln=lambda d, eps=1e-5: nn.LayerNorm(d, eps=eps),
        ln_plain=lambda d, eps=1e-5: nn.LayerNorm(d, eps=eps, elementwise_affine=False),
        gn=lambda g, c, eps: nn.GroupNorm(g, c, eps=eps),
        avgpool1=lambda: nn.AdaptiveAvgPool2d(1),
        gelu=lambda: nn.GELU(approximate="none"),
        acts={"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.SiLU,
              "leaky_relu": nn.LeakyReLU},
        mha=lambda d, heads: nn.MultiheadAttention(d, heads, batch_first=True),
        rnn=lambda kind, i, h: getattr(nn, kind)(i, h, batch_first=True),
        named_sequential=lambda *named: nn.Sequential(OrderedDict(named)),
        # tensor operations
        self_attention=lambda attn, h: attn(h, h, h, need_weights=False)[0],
        cat=lambda tensors, axis: torch.cat(tensors, axis),
        ones=lambda shape: torch.ones(shape), full=lambda shape, v: torch.full(shape, v),
        arange=torch.arange, matmul_t=lambda a, b: a @ b.T,
        swap_last=lambda t: t.transpose(-2, -1),
        mean=lambda t, axis: t.mean(dim=axis),
        # walking a model's state
        norms=(nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm),
        sublayers=lambda m: list(m.modules()),
        direct_state=lambda m: [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)],
        assign=lambda t, v: t.data.copy_(torch.from_numpy(v)) if t.is_floating_point() else None,
        init_normal=lambda t, std: nn.init.normal_(t, std=std),
        # settings each framework spells its own way, given in torch's terms (see judge/settings_table.py)
        bn1d=lambda c, momentum=0.1: nn.BatchNorm1d(c, momentum=momentum),
        numpy=lambda t: t.detach().cpu().numpy(),
        gelu_as=lambda approximate: nn.GELU(approximate=approximate),
        upsample=lambda mode, align_corners=None: nn.Upsample(scale_factor=2, mode=mode, align_corners=align_corners),
        avgpool3=lambda count_include_pad: nn.AvgPool2d(3, 1, 1, count_include_pad=count_include_pad),
        dropout_as=lambda p, mode="upscale_in_train": _torch_dropout(nn, p, mode),
        conv_as=lambda cin, cout, k, data_format="NCHW", **kw: _torch_conv(nn, cin, cout, k, data_format, **kw),
    )  # fmt: skip


def _torch_dropout(nn: Any, p: float, mode: str) -> Any:
    if mode != "upscale_in_train":
        raise ValueError(f"torch's Dropout has no mode {mode!r}")
    return nn.Dropout(p)


def _torch_conv(nn: Any, cin: int, cout: int, k: int, data_format: str, **kw: Any) -> Any:
    if data_format != "NCHW":
        raise ValueError(f"torch's Conv2d has no data_format {data_format!r}")
    return nn.Conv2d(cin, cout, k, **kw)


def _paddle_kit() -> SimpleNamespace:
    import paddle
    from paddle import nn

    return SimpleNamespace(
        name="paddle", nn=nn, F=nn.functional, Layer=nn.Layer, LayerList=nn.LayerList,
        Sequential=nn.Sequential, Function=paddle.autograd.PyLayer, saved=lambda ctx: ctx.saved_tensor(),
        seed=paddle.seed,
        linear=lambda i, o, bias=True: nn.Linear(i, o, bias_attr=None if bias else False),
        conv3x3=lambda cin, cout: nn.Conv2D(cin, cout, 3, padding=1, bias_attr=False),
        conv_nd={1: nn.Conv1D, 2: nn.Conv2D}, bn_nd={1: nn.BatchNorm1D, 2: nn.BatchNorm2D},
        pool_nd={("max", 1): nn.MaxPool1D, ("avg", 1): nn.AvgPool1D, ("max", 2): nn.MaxPool2D,
                 ("avg", 2): nn.AvgPool2D},
        bn2d=lambda c, eps=1e-5: nn.BatchNorm2D(c, epsilon=eps),  # momentum 0.9 == torch's 0.1
        with_eps=lambda cls, c, eps: cls(c, epsilon=eps),
        ln=lambda d, eps=1e-5: nn.LayerNorm(d, epsilon=eps),
        ln_plain=lambda d, eps=1e-5: nn.LayerNorm(d, epsilon=eps, weight_attr=False, bias_attr=False),
        gn=lambda g, c, eps: nn.GroupNorm(g, c, epsilon=eps),
        avgpool1=lambda: nn.AdaptiveAvgPool2D(1),
        gelu=lambda: nn.GELU(approximate=False),
        acts={"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "silu": nn.Silu,
              "leaky_relu": nn.LeakyReLU},
        mha=lambda d, heads: nn.MultiHeadAttention(d, heads),  # batch first, returns the output only
        rnn=lambda kind, i, h: getattr(nn, kind)(i, h),
        named_sequential=lambda *named: nn.Sequential(*named),  # (name, layer) pairs keep the names
        self_attention=lambda attn, h: attn(h, h, h),
        cat=lambda tensors, axis: paddle.concat(tensors, axis),
        ones=lambda shape: paddle.ones(shape), full=lambda shape, v: paddle.full(shape, v),
        arange=paddle.arange, matmul_t=lambda a, b: paddle.matmul(a, b, transpose_y=True),
        swap_last=lambda t: t.transpose([*range(t.ndim - 2), t.ndim - 1, t.ndim - 2]),
        mean=lambda t, axis: t.mean(axis=list(axis)),
        norms=(nn.BatchNorm1D, nn.BatchNorm2D, nn.LayerNorm, nn.GroupNorm),
        sublayers=lambda m: m.sublayers(include_self=True),
        direct_state=lambda m: [*m.named_parameters(include_sublayers=False),
                                *m.named_buffers(include_sublayers=False)],
        assign=lambda t, v: t.set_value(v),
        init_normal=lambda t, std: t.set_value(paddle.normal(std=std, shape=t.shape)),
        bn1d=lambda c, momentum=0.1: nn.BatchNorm1D(c, momentum=1 - momentum),  # paddle's m is torch's 1 - m
        numpy=lambda t: t.numpy(),
        gelu_as=lambda approximate: nn.GELU(approximate=approximate == "tanh"),
        upsample=lambda mode, align_corners=None: nn.Upsample(scale_factor=2, mode=mode,
                                                             align_corners=bool(align_corners)),
        avgpool3=lambda count_include_pad: nn.AvgPool2D(3, 1, 1, exclusive=not count_include_pad),
        dropout_as=lambda p, mode="upscale_in_train": nn.Dropout(p, mode=mode),
        conv_as=lambda cin, cout, k, data_format="NCHW", **kw: nn.Conv2D(cin, cout, k, data_format=data_format, **kw),
    )  # fmt: skip


@functools.cache
def kit(framework: str) -> SimpleNamespace:
    """The pieces of ``framework`` ("torch" or "paddle") the shared models are written against."""
    if framework == "torch":
        return _torch_kit()
    if framework == "paddle":
        return _paddle_kit()
    raise ValueError(f"unknown framework {framework!r}; expected one of {FRAMEWORKS}")


@functools.cache
def _net_class(framework: str) -> type:
    k = kit(framework)

    class Net(k.Layer):
        """A root holding its layers under the given names, applied in order."""

        def __init__(self, named: list[tuple[str, Any]]) -> None:
            super().__init__()
            self.order = [name for name, _ in named]
            for name, layer in named:
                setattr(self, name, layer)

        def forward(self, x: Any) -> Any:
            for name in self.order:
                x = getattr(self, name)(x)
            return x

    return Net


def net(framework: str, **layers: Any) -> Any:
    """A chain of ``layers`` in ``framework``, each under its keyword's name: ``net("torch", fc=..., act=...)``.

    The layers are built by the caller in keyword order, so they draw their weights in that order."""
    return _net_class(framework)(list(layers.items()))
