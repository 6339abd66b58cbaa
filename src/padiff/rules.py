"""Correspondence between the frameworks' layer classes, as data.

Matching rule: two layer classes are of the same kind when their lowercased names are equal after the
aliases below (`BatchNorm2d` ~ `BatchNorm2D`, `MultiheadAttention` ~ `MultiHeadAttention`, torch `RNN`
~ paddle `SimpleRNN`, `ConvTranspose2d` ~ `Conv2DTranspose`). A class defined outside torch and paddle
(a user's class) matches any user class in position, and a user class of the same name first.

Parameter conversions are keyed by kind and apply only when the two models are of different frameworks;
parameters are named in torch's spelling, and `STATE_NAMES` translates paddle's spelling to it. Layers
converted as a whole (packed attention, recurrent layers, norms) have their rules in `special`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ParamRule",
    "PARAM_RULES",
    "STATE_NAMES",
    "SEALED_KINDS",
    "layer_kind",
    "is_builtin",
    "same_kind",
    "kind_family",
    "convert_param",
    "SpecialInit",
    "special_init_for",
    "special_init_names",
    "register_special_init",
]

# lowercased class name -> canonical kind, where the plain lowercase differs between frameworks
KIND_ALIASES = {
    "batchnorm": "batchnorm2d",  # paddle.nn.BatchNorm (generic) is used for images in practice
    "upsamplingnearest2d": "upsample",
    "upsamplingbilinear2d": "upsample",
    "silu": "silu",
    "swish": "silu",
    "flatten": "flatten",
    "simplernn": "rnn",  # paddle SimpleRNN is torch RNN (tanh or relu cell)
    "conv1dtranspose": "convtranspose1d",
    "conv2dtranspose": "convtranspose2d",
    "conv3dtranspose": "convtranspose3d",
}

# (framework, lowercased class name) -> kind, where one framework reuses another's name for something else
FRAMEWORK_KINDS = {
    ("paddle", "rnn"): "paddle-rnn-wrapper",  # paddle.nn.RNN(cell) runs any cell; it is not torch's RNN
}

# built-in kinds whose sublayers differ between the frameworks (paddle MHA calls q/k/v_proj, torch MHA
# calls none; paddle LSTM runs BiRNN/cell sublayers): compared at their boundary only
SEALED_KINDS = frozenset({"multiheadattention", "lstm", "gru", "rnn"})

# paddle state name -> torch state name
STATE_NAMES = {"_mean": "running_mean", "_variance": "running_var", "_weight": "weight"}


@dataclass(frozen=True)
class ParamRule:
    """How one kind's parameters differ between torch and paddle."""

    kind: str
    transpose: frozenset[str] = field(default_factory=frozenset)  # 2-D params stored transposed


PARAM_RULES: dict[str, ParamRule] = {
    rule.kind: rule
    for rule in (
        ParamRule("linear", transpose=frozenset({"weight"})),  # torch [out, in], paddle [in, out]
    )
}


# modules whose layer classes count as built-in: the frameworks' layer libraries, not model zoos such
# as paddle.vision.models (which is user code as far as pairing goes, like torchvision)
BUILTIN_MODULES = ("torch.nn.", "torch.ao.nn.", "paddle.nn.", "paddle.incubate.nn.")


def is_builtin(layer: Any) -> bool:
    """A layer class of a framework's layer library (not a user's or a model zoo's class)."""
    return type(layer).__module__.startswith(BUILTIN_MODULES)


def layer_kind(layer: Any) -> str:
    name = type(layer).__name__.lower()
    framework = type(layer).__module__.split(".")[0]
    kind = FRAMEWORK_KINDS.get((framework, name)) if is_builtin(layer) else None
    return kind or KIND_ALIASES.get(name, name)


# kinds that can stand in for one another at the same place in a port (a changed activation, norm or
# pooling is a difference of that layer); kinds of different families never pair by position
KIND_FAMILIES = {
    **dict.fromkeys(
        "relu relu6 gelu tanh sigmoid silu leakyrelu elu selu celu hardswish hardsigmoid hardtanh softplus "
        "softsign mish prelu logsigmoid tanhshrink softshrink hardshrink identity".split(),
        "activation",
    ),
    **dict.fromkeys(
        "batchnorm1d batchnorm2d batchnorm3d layernorm groupnorm instancenorm1d instancenorm2d "
        "instancenorm3d localresponsenorm rmsnorm syncbatchnorm".split(),
        "norm",
    ),
    **dict.fromkeys(
        "maxpool1d maxpool2d maxpool3d avgpool1d avgpool2d avgpool3d adaptiveavgpool1d adaptiveavgpool2d "
        "adaptiveavgpool3d adaptivemaxpool1d adaptivemaxpool2d adaptivemaxpool3d".split(),
        "pool",
    ),
    **dict.fromkeys("dropout dropout1d dropout2d dropout3d alphadropout".split(), "dropout"),
    **dict.fromkeys("softmax logsoftmax softmax2d".split(), "softmax"),
}


def kind_family(kind: str) -> str:
    """The family of a layer kind (`KIND_FAMILIES`), or the kind itself."""
    return KIND_FAMILIES.get(kind, kind)


def same_kind(base_layer: Any, raw_layer: Any) -> bool:
    if is_builtin(base_layer) != is_builtin(raw_layer):
        return False
    return layer_kind(base_layer) == layer_kind(raw_layer)


def torch_state_name(name: str) -> str:
    return STATE_NAMES.get(name, name)


def transposes(kind: str, name: str) -> bool:
    """Whether parameter `name` (torch spelling) of a layer of `kind` is stored transposed in paddle."""
    rule = PARAM_RULES.get(kind)
    return rule is not None and name in rule.transpose


def convert_param(kind: str, name: str, value: np.ndarray, cross_framework: bool) -> np.ndarray:
    """Base's value of parameter `name` (torch spelling) in the layout raw expects."""
    if cross_framework and transposes(kind, name) and value.ndim == 2:
        return np.ascontiguousarray(value.T)
    return value


@dataclass(frozen=True)
class SpecialInit:
    """A user rule copying one paddle layer class from one torch module class: func(paddle_layer, torch_module)."""

    paddle_name: str
    torch_name: str
    func: Callable[[Any, Any], None]


_SPECIAL_INITS: dict[tuple[str, str], SpecialInit] = {}


def register_special_init(paddle_name: str, torch_name: str, func: Callable[[Any, Any], None]) -> None:
    _SPECIAL_INITS[(paddle_name, torch_name)] = SpecialInit(paddle_name, torch_name, func)


def special_init_for(paddle_name: str, torch_name: str) -> SpecialInit | None:
    return _SPECIAL_INITS.get((paddle_name, torch_name))


def special_init_names(framework: str) -> set[str]:
    """Class names of `framework` ("paddle" or "torch") that some registered special init copies."""
    if framework == "paddle":
        return {paddle_name for paddle_name, _ in _SPECIAL_INITS}
    if framework == "torch":
        return {torch_name for _, torch_name in _SPECIAL_INITS}
    return set()
