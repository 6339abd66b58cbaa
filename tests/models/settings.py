"""Twins for the settings diff and the buffer checks: one small network per setting, clean or with that
one setting changed, and a BatchNorm MLP whose running statistics move in train mode.

``setting_twin(framework, name, value)`` builds the network of ``SETTINGS[name]`` with the setting at
``value`` (``None``: the clean value); settings are given in torch's terms and the kit spells them for
each framework (a momentum of 0.9 in torch's terms is paddle's ``momentum=0.1``, the classic porting
slip). ``bn_mlp`` is Linear -> BatchNorm1d -> Linear; ``HandBatchNorm`` is a hand-written torch or paddle
BatchNorm that updates its running variance with the *biased* batch variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .frameworks import kit, net

__all__ = [
    "CLEAN",
    "SettingCase",
    "SETTINGS",
    "setting_twin",
    "setting_input",
    "bn_mlp",
    "hand_bn_mlp",
    "bn_input",
]


@dataclass(frozen=True)
class SettingCase:
    """One setting: its clean and planted values (torch's terms), where the plant shows, and how."""

    clean: Any
    planted: Any
    layer: str  # the path of the layer holding it
    shown: str  # the settings diff as the report writes it (base vs raw, torch base and paddle raw)
    phase: str | None  # where the plant is found; None: within tolerance, the run passes
    input: tuple[int, ...] = (2, 3, 6, 6)


SETTINGS = {
    "epsilon": SettingCase(1e-5, 1e-6, "norm", "epsilon 1e-05 vs 1e-06", None, (4, 8)),
    "approximate": SettingCase(
        "none", "tanh", "act", "approximate 'none' vs 'tanh' (paddle approximate=True)", "forward", (4, 8)
    ),
    "align_corners": SettingCase(False, True, "up", "align_corners False vs True", "forward"),
    "mode": SettingCase("nearest", "bilinear", "up", "mode 'nearest' vs 'bilinear'", "forward"),
    "ceil_mode": SettingCase(False, True, "pool", "ceil_mode False vs True", "forward", (2, 3, 7, 7)),
    "padding": SettingCase(1, 0, "conv", "padding (1, 1) vs (0, 0)", "forward"),
    "dilation": SettingCase(1, 2, "conv", "dilation (1, 1) vs (2, 2)", "forward"),
    "groups": SettingCase(1, 2, "conv", "groups 1 vs 2", "weights", (2, 4, 6, 6)),
    "data_format": SettingCase(
        "NCHW", "NHWC", "conv", "data_format 'channels_first' vs 'channels_last'", "forward", (2, 4, 4, 4)
    ),
    "count_include_pad": SettingCase(
        True, False, "pool", "count_include_pad True vs False (paddle exclusive=True)", "forward"
    ),
    "dropout_mode": SettingCase(
        "upscale_in_train", "downscale_in_infer", "drop", "mode 'upscale_in_train' vs 'downscale_in_infer'",
        "forward", (4, 8),
    ),
    "padding_idx": SettingCase(0, None, "emb", "padding_idx 0 vs None", "grad", (2, 6)),
}  # fmt: skip


def setting_input(name: str, seed: int = 0) -> np.ndarray:
    case = SETTINGS[name]
    rng = np.random.default_rng(seed)
    if name == "padding_idx":  # token ids, the padding id 0 among them
        ids = rng.integers(1, 10, size=case.input)
        ids[:, 0] = 0
        return ids.astype(np.int64)
    return rng.standard_normal(case.input).astype(np.float32)


CLEAN = object()


def setting_twin(framework: str, name: str, value: Any = CLEAN) -> Any:
    """The network for setting `name` at `value` (by default its clean value), drawn from the caller's RNG."""
    k = kit(framework)
    case = SETTINGS[name]
    v = case.clean if value is CLEAN else value
    if name == "epsilon":
        return net(framework, fc=k.linear(8, 8), norm=k.ln(8, eps=v), head=k.linear(8, 2))
    if name == "approximate":
        return net(framework, fc=k.linear(8, 8), act=k.gelu_as(v), head=k.linear(8, 2))
    if name == "dropout_mode":
        return net(framework, fc=k.linear(8, 8), drop=k.dropout_as(0.5, v), head=k.linear(8, 2))
    if name == "padding_idx":
        return net(framework, emb=k.nn.Embedding(10, 4, padding_idx=v), head=k.linear(4, 2))
    if name in ("align_corners", "mode"):
        mode, corners = ("bilinear", v) if name == "align_corners" else (v, None if v == "nearest" else False)
        return net(framework, conv=k.conv3x3(3, 4), up=k.upsample(mode, corners))
    if name == "ceil_mode":
        return net(framework, conv=k.conv3x3(3, 4), pool=k.pool_nd[("max", 2)](2, 2, ceil_mode=v))
    if name == "count_include_pad":
        return net(framework, conv=k.conv3x3(3, 4), pool=k.avgpool3(v))
    if name == "data_format":
        return net(framework, conv=k.conv_as(4, 4, 3, data_format=v, padding=1))
    options = {"padding": 1, "dilation": 1, "groups": 1, name: v}
    channels = case.input[1]
    return net(framework, conv=k.conv_as(channels, 4, 3, **options))


def bn_mlp(framework: str, momentum: float = 0.1) -> Any:
    """Linear -> BatchNorm1d (momentum in torch's terms) -> Linear, for inputs [8, 4]."""
    k = kit(framework)
    return net(framework, fc=k.linear(4, 3), bn=k.bn1d(3, momentum), head=k.linear(3, 2))


def bn_input(batch: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 4)).astype(np.float32)


def hand_bn_mlp(framework: str, unbiased: bool) -> Any:
    """`bn_mlp` with the BatchNorm's forward written by hand (a subclass: same states, same names); its
    running variance takes the unbiased batch variance, or the biased one. The framework's own BatchNorm
    takes the unbiased one in torch, the biased one in paddle: the other is a porting slip."""
    k = kit(framework)

    class BatchNorm1d(k.bn_nd[1]):
        def forward(self, x: Any) -> Any:
            mean = k.mean(x, (0,))
            var = k.mean((x - mean) ** 2, (0,))  # biased: what the output is normalised with
            count = x.shape[0]
            batch_var = k.numpy(var) * (count / (count - 1) if unbiased else 1.0)
            states = dict(k.direct_state(self))
            for names, batch in (
                (("running_mean", "_mean"), k.numpy(mean)),
                (("running_var", "_variance"), batch_var),
            ):
                running = next(states[n] for n in names if n in states)
                k.assign(running, (0.9 * k.numpy(running) + 0.1 * batch).astype(np.float32))
            return (x - mean) / (var + 1e-5) ** 0.5 * self.weight + self.bias

    return net(framework, fc=k.linear(4, 3), bn=BatchNorm1d(3), head=k.linear(3, 2))


def bn_twice(framework: str, second_rows: int, momentum: float = 0.1) -> Any:
    """Linear -> one BatchNorm1d called on all rows, then on the first `second_rows` -> Linear: two
    updates of the running statistics in one step (of different batch sizes unless all rows)."""
    k = kit(framework)

    class BnTwice(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.bn, self.head = k.linear(4, 3), k.bn1d(3, momentum), k.linear(3, 2)

        def forward(self, x: Any) -> Any:
            h = self.fc(x)
            return self.head(k.cat([self.bn(h), self.bn(h[:second_rows])], 0))

    return BnTwice()
