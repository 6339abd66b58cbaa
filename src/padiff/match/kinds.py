"""Correspondence between the frameworks' layer classes, as data.

Matching rule: two layer classes are of the same kind when their lowercased names are equal after the
aliases below (`BatchNorm2d` ~ `BatchNorm2D`, `MultiheadAttention` ~ `MultiHeadAttention`, torch `RNN`
~ paddle `SimpleRNN`, `ConvTranspose2d` ~ `Conv2DTranspose`). A class defined outside torch and paddle
(a user's class) matches any user class in position, and a user class of the same name first. Kinds of
one *family* (activations, norms, pools, ...) may stand in for one another at the same place in a port.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "KIND_ALIASES",
    "KIND_FAMILIES",
    "SEALED_KINDS",
    "BUILTIN_MODULES",
    "layer_kind",
    "is_builtin",
    "same_kind",
    "kind_family",
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
