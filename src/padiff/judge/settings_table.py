"""The settings that change a built-in layer's (or an optimizer's) numbers, and how each framework spells
them: data, read by `settings`.

`LAYER_SETTINGS` maps a layer kind (`match.kinds.layer_kind`) to its settings. A `Setting` names where
each framework keeps the value (an attribute, the first present of several, a `Fixed` value where the
framework has no such option, or a function of the layer) and how that value is brought to one form in
torch's convention, so that equal forms mean equal behaviour: paddle's BatchNorm momentum m is torch's
1 - m (the weight of the old statistic against that of the new one), paddle's AvgPool `exclusive` is torch's
`not count_include_pad`, paddle's GELU `approximate=True` is torch's "tanh", an int padding is the same
padding on every spatial axis. `OPTIMIZER_SETTINGS` does the same for the optimizers' settings, read from
`Adapter.optimizer_settings`. What was found by building both layers and reading their attributes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = [
    "Fixed",
    "Setting",
    "LAYER_SETTINGS",
    "OPTIMIZER_SETTINGS",
    "OPTIMIZER_KINDS",
    "torch_momentum",
    "spatial_dims",
    "same_form",
]


@dataclass(frozen=True)
class Fixed:
    """A framework without this option always behaves as `value`."""

    value: Any


Source = Union[str, tuple[str, ...], Fixed, Callable[[Any], Any]]
Form = Callable[[Any, int], Any]  # (value, number of spatial axes) -> the value in torch's convention


def same_form(value: Any, dims: int) -> Any:
    """Lists as tuples, numbers as floats (1 == 1.0), anything else as it is."""
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _spatial(value: Any, dims: int) -> Any:
    """One int per spatial axis: 1 -> (1, 1); [(0, 0), (0, 0), (1, 1), (1, 1)] (paddle) -> (1, 1)."""
    if isinstance(value, str):
        value = value.lower()
        return (0,) * dims if value == "valid" else value
    if isinstance(value, (int, float)):
        return (int(value),) * dims
    items = list(value)
    if items and isinstance(items[0], (list, tuple)):  # paddle: one [before, after] pair per axis
        pairs = items[-dims:]
        if all(before == after for before, after in pairs):
            return tuple(int(before) for before, _ in pairs)
        return tuple(int(v) for pair in pairs for v in pair)
    if len(items) == 1:
        return (int(items[0]),) * dims
    if len(items) == 2 * dims and all(items[2 * i] == items[2 * i + 1] for i in range(dims)):
        return tuple(int(items[2 * i]) for i in range(dims))  # paddle: [before, after] per axis
    return tuple(int(v) for v in items)


def _layout(value: Any, dims: int) -> str:
    text = str(value or "NC").upper()
    return "channels_first" if text.startswith("NC") else "channels_last"


def _paddle_momentum(value: Any, dims: int) -> Any:
    return None if value is None else round(1.0 - float(value), 12)


def _gelu(value: Any, dims: int) -> str:
    if isinstance(value, bool):
        return "tanh" if value else "none"
    return str(value)


def _exclusive(value: Any, dims: int) -> bool:
    return not bool(value)


def _bool(value: Any, dims: int) -> bool:
    return bool(value)


def _embedding_padding(layer: Any) -> Any:
    """The padding row as a non-negative index, None for none (paddle keeps -1 as given)."""
    index = getattr(layer, "padding_idx", getattr(layer, "_padding_idx", None))
    count = getattr(layer, "num_embeddings", getattr(layer, "_num_embeddings", 0))
    return None if index is None else int(index) % int(count) if count else int(index)


def _upsample_mode(layer: Any) -> Any:
    name = type(layer).__name__.lower()
    default = "bilinear" if "bilinear" in name else "nearest"
    return getattr(layer, "mode", default)


def _align_corners(layer: Any) -> bool:
    value = getattr(layer, "align_corners", None)
    if value is None:  # torch's default (None) is False; paddle's UpsamplingBilinear2D aligns corners
        return type(layer).__name__ == "UpsamplingBilinear2D"
    return bool(value)


@dataclass(frozen=True)
class Setting:
    """One setting: its name as shown, where each framework keeps it, and how it reads in torch's terms.

    `forms` gives a framework its own conversion (else `form`); `explain` shows the converted value
    beside the framework's own when they differ (momentum 0.1 in paddle is torch's 0.9)."""

    name: str
    torch: Source
    paddle: Source
    form: Form = same_form
    forms: dict[str, Form] = field(default_factory=dict)
    explain: bool = False
    none_is: str = ""  # a None value means the value of this other setting (a pool's stride: its kernel)


_EPS = Setting("epsilon", "eps", "_epsilon")
_LAYOUT = Setting("data_format", Fixed("NCHW"), ("_data_format", "_data_layout", "data_format"), _layout)
_MOMENTUM = Setting("momentum", "momentum", "_momentum", forms={"paddle": _paddle_momentum}, explain=True)
_KERNEL = Setting("kernel_size", "kernel_size", ("ksize", "kernel_size"), _spatial)
_STRIDE = Setting("stride", "stride", ("_stride", "stride"), _spatial, none_is="kernel_size")
_POOL_PADDING = Setting("padding", "padding", "padding", _spatial)
_CEIL = Setting("ceil_mode", "ceil_mode", "ceil_mode", _bool)
_CONV = (
    Setting("stride", "stride", "_stride", _spatial),
    Setting("padding", "padding", "_padding", _spatial),
    Setting("dilation", "dilation", "_dilation", _spatial),
    Setting("groups", "groups", "_groups"),
    Setting("padding_mode", "padding_mode", "_padding_mode"),
    _LAYOUT,
)
_DROPOUT = (
    Setting("p", "p", "p"),
    Setting("mode", Fixed("upscale_in_train"), ("mode", "_mode"), same_form),
)
_UPSAMPLE = (
    Setting("mode", _upsample_mode, _upsample_mode),
    Setting("align_corners", _align_corners, _align_corners),
    Setting("align_mode", Fixed(0), "align_mode"),
    Setting("scale_factor", "scale_factor", "scale_factor"),
    Setting("size", "size", "size"),
)


def _dims(kinds: str, settings: tuple[Setting, ...]) -> dict[str, tuple[Setting, ...]]:
    return {kind: settings for kind in kinds.split()}


LAYER_SETTINGS: dict[str, tuple[Setting, ...]] = {
    **_dims("batchnorm1d batchnorm2d batchnorm3d syncbatchnorm", (_EPS, _MOMENTUM, _LAYOUT)),
    **_dims("instancenorm1d instancenorm2d instancenorm3d", (_EPS, _LAYOUT)),
    "layernorm": (_EPS,),
    "groupnorm": (_EPS, Setting("num_groups", "num_groups", "_num_groups"), _LAYOUT),
    "gelu": (Setting("approximate", "approximate", "_approximate", _gelu, explain=True),),
    "leakyrelu": (Setting("negative_slope", "negative_slope", "_negative_slope"),),
    "elu": (Setting("alpha", "alpha", "_alpha"),),
    "hardtanh": (Setting("min", "min_val", "_min"), Setting("max", "max_val", "_max")),
    "softmax": (Setting("axis", "dim", "_axis"),),
    "logsoftmax": (Setting("axis", "dim", "_axis"),),
    "flatten": (Setting("start", "start_dim", "start_axis"), Setting("end", "end_dim", "stop_axis")),
    "upsample": _UPSAMPLE,
    **_dims(
        "maxpool1d maxpool2d maxpool3d",
        (
            _KERNEL,
            _STRIDE,
            _POOL_PADDING,
            _CEIL,
            Setting("dilation", "dilation", Fixed(1), _spatial),
            _LAYOUT,
        ),
    ),
    **_dims(
        "avgpool1d avgpool2d avgpool3d",
        (
            _KERNEL,
            _STRIDE,
            _POOL_PADDING,
            _CEIL,
            Setting(
                "count_include_pad", "count_include_pad", "exclusive", _bool, {"paddle": _exclusive}, True
            ),
            Setting("divisor", "divisor_override", "divisor"),
            _LAYOUT,
        ),
    ),
    **_dims("conv1d conv2d conv3d", _CONV),
    **_dims(
        "convtranspose1d convtranspose2d convtranspose3d",
        (*_CONV, Setting("output_padding", "output_padding", "output_padding", _spatial)),
    ),
    **_dims("dropout dropout1d dropout2d dropout3d alphadropout", _DROPOUT),
    "embedding": (Setting("padding_idx", _embedding_padding, _embedding_padding),),
}


def spatial_dims(kind: str) -> int:
    """Spatial axes of a layer kind: the digit its name ends with ("conv2d": 2), else 1."""
    return int(kind[-2]) if kind.endswith("d") and kind[-2:-1].isdigit() else 1


def torch_momentum(layer: Any, framework: str) -> Any:
    """A BatchNorm's momentum in torch's convention (the weight of the new batch statistic); None for
    torch's cumulative average."""
    if framework == "paddle":
        return _paddle_momentum(getattr(layer, "_momentum", 0.9), 1)
    return getattr(layer, "momentum", 0.1)


# optimizer class (lowercased) -> kind: paddle's Momentum is torch's SGD with a momentum
OPTIMIZER_KINDS = {"momentum": "sgd"}

# (name shown, torch key, paddle key, value when the key is absent); keys as `optimizer_settings` has them
OPTIMIZER_SETTINGS: tuple[tuple[str, str, str, Any], ...] = (
    ("learning_rate", "lr", "learning_rate", None),
    ("beta1", "betas.0", "beta1", None),
    ("beta2", "betas.1", "beta2", None),
    ("epsilon", "eps", "epsilon", None),
    ("weight_decay", "weight_decay", "weight_decay", 0),
    ("momentum", "momentum", "momentum", 0),
    ("nesterov", "nesterov", "use_nesterov", False),
    ("dampening", "dampening", "dampening", 0),
    ("amsgrad", "amsgrad", "amsgrad", False),
)
