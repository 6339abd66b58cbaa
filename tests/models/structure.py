"""Small twins for structure and weight-transfer tests: Linear-activation chains with the usual porting
slips as options, a conv where the port has a Linear, parameter-free layers, a deep tanh MLP, and the
two report nets. Chains are ``net``s (layers under the given names); the rest are defined once against
the framework kit.
"""

from __future__ import annotations

import functools
from typing import Any

from .frameworks import kit, net

__all__ = [
    "fc_act_head",
    "tagged",
    "named_apart",
    "mlp_options",
    "short_mlp",
    "first",
    "acts",
    "free",
    "sequential_root",
    "deep_tanh",
    "sliced",
    "report_nets",
]


def fc_act_head(framework: str, sizes: tuple[int, int, int] = (6, 6, 2), act: str = "ReLU") -> Any:
    """fc -> act -> head, sized ``(in, hidden, out)``. Not seeded."""
    nn = kit(framework).nn
    fc, activation, head = nn.Linear(sizes[0], sizes[1]), getattr(nn, act)(), nn.Linear(sizes[1], sizes[2])
    return net(framework, fc=fc, act=activation, head=head)


def tagged(framework: str, *layers: Any) -> Any:
    """``layers`` applied in order as t_first, t_second, t_extra (p_... in paddle): names that say the
    framework, so a message naming both sides shows which is which."""
    names = [f"{framework[0]}_{name}" for name in ("first", "second", "extra")]
    return net(framework, **dict(zip(names, layers)))


def named_apart(framework: str) -> Any:
    """Linear(4, 8) -> Linear(8, 3), as zeta, alpha in torch (names that sort against definition order)
    and as first, second in paddle. Not seeded."""
    nn = kit(framework).nn
    if framework == "torch":
        return net(framework, zeta=nn.Linear(4, 8), alpha=nn.Linear(8, 3))
    return net(framework, first=nn.Linear(4, 8), second=nn.Linear(8, 3))


def mlp_options(
    framework: str, seed: int = 0, width: int = 8, bias: bool = True, act: str = "ReLU", extra: bool = False
) -> Any:
    """fc1 (4 -> width) -> act -> [extra] -> fc2 (-> 2); the options make the usual porting slips."""
    k = kit(framework)
    k.seed(seed)
    layers = {"fc1": k.nn.Linear(4, width), "act": getattr(k.nn, act)()}
    if extra:
        layers["extra"] = k.nn.Linear(width, width)
    layers["fc2"] = k.linear(width, 2, bias=bias)
    return net(framework, **layers)


def short_mlp(framework: str) -> Any:
    """The mlp twin (``models.build("mlp", ...)``) with one Linear fewer. Not seeded."""
    nn = kit(framework).nn
    return net(framework, fc1=nn.Linear(16, 32), act1=nn.ReLU(), fc2=nn.Linear(32, 8))


@functools.cache
def _conv_first_class(framework: str) -> type:
    k = kit(framework)

    class ConvFirst(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.first = k.conv_nd[1](4, 4, 1)
            self.second = k.nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            return self.second(self.first(x.reshape([3, 4, 1])).reshape([3, 4]))

    return ConvFirst


def first(framework: str, kind: str, seed: int = 0) -> Any:
    """first -> second (Linear 4 -> 2), where first is a 1x1 Conv1d (``kind="conv"``) or a Linear."""
    k = kit(framework)
    k.seed(seed)
    if kind == "conv":
        return _conv_first_class(framework)()
    return net(framework, first=k.nn.Linear(4, 4), second=k.nn.Linear(4, 2))


@functools.cache
def _acts_class(framework: str) -> type:
    k = kit(framework)

    class Acts(k.Layer):
        """A Linear, then a Sequential of parameter-free activations (given by class name)."""

        def __init__(self, names: tuple[str, ...]) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 4)
            self.acts = k.nn.Sequential(*(getattr(k.nn, a)() for a in names))

        def forward(self, x: Any) -> Any:
            return self.acts(self.fc(x))

    return Acts


def acts(framework: str, *names: str, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _acts_class(framework)(names)


def free(framework: str, first_act: str, second_act: str) -> Any:
    """Two activations and no parameters."""
    nn = kit(framework).nn
    return net(framework, first=getattr(nn, first_act)(), second=getattr(nn, second_act)())


def sequential_root(framework: str, act: str, seed: int = 0) -> Any:
    """A framework Sequential as the root: Linear(4, 4) then ``act``."""
    k = kit(framework)
    k.seed(seed)
    return k.nn.Sequential(k.nn.Linear(4, 4), getattr(k.nn, act)())


@functools.cache
def _deep_tanh_class(framework: str) -> type:
    k = kit(framework)

    class DeepTanh(k.Layer):
        """A deep tanh MLP; with ``gain`` 2.5 in its chaotic regime, where float noise grows from layer to
        layer. ``scale_at`` scales one layer's output by 1.001 in this layer's own code."""

        def __init__(self, depth: int, width: int, gain: float | None, scale_at: int | None) -> None:
            super().__init__()
            self.layers = k.LayerList([k.nn.Linear(width, width) for _ in range(depth)])
            self.act = k.nn.Tanh()
            self.scale_at = scale_at
            if gain is not None:
                for layer in self.layers:
                    k.init_normal(layer.weight, std=gain / width**0.5)

        def forward(self, x: Any) -> Any:
            for index, layer in enumerate(self.layers):
                x = self.act(layer(x) * (1.001 if index == self.scale_at else 1.0))
            return x

    return DeepTanh


def deep_tanh(
    framework: str, depth: int = 30, width: int = 64, gain: float | None = None, scale_at: int | None = None
) -> Any:
    """Not seeded."""
    return _deep_tanh_class(framework)(depth, width, gain, scale_at)


@functools.cache
def _sliced_class(framework: str) -> type:
    k = kit(framework)

    class Sliced(k.Layer):
        def __init__(self, keep: int | None) -> None:
            super().__init__()
            self.fc = k.nn.Linear(6, 3)
            self.keep = keep

        def forward(self, x: Any) -> Any:
            return self.fc(x) if self.keep is None else self.fc(x)[:, : self.keep]

    return Sliced


def sliced(framework: str, keep: int | None = None) -> Any:
    """fc (6 -> 3), its output cut to the first ``keep`` columns in the root's own code. Not seeded."""
    return _sliced_class(framework)(keep)


@functools.cache
def report_nets() -> tuple[type, type]:
    """(TorchNet, PaddleNet): fc1 -> act -> fc2, written once per framework on purpose, so the culprit's
    call site is a different line on each side and a report that mixed them up would show it."""
    torch_kit, paddle_kit = kit("torch"), kit("paddle")

    class TorchNet(torch_kit.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = torch_kit.nn.Linear(6, 5)
            self.act = torch_kit.nn.ReLU()
            self.fc2 = torch_kit.nn.Linear(5, 3)

        def forward(self, x: Any) -> Any:
            hidden = self.act(self.fc1(x))  # the culprit is called here
            return self.fc2(hidden)

    class PaddleNet(paddle_kit.Layer):
        def __init__(self, act: str = "relu") -> None:
            super().__init__()
            self.fc1 = paddle_kit.nn.Linear(6, 5)
            self.act = paddle_kit.nn.Tanh() if act == "tanh" else paddle_kit.nn.ReLU()
            self.fc2 = paddle_kit.nn.Linear(5, 3)

        def forward(self, x: Any) -> Any:
            hidden = self.act(self.fc1(x))  # the culprit is called here
            return self.fc2(hidden)

    return TorchNet, PaddleNet
