"""Built-in conversions for layers whose states differ between torch and paddle by more than a transpose.

`LAYER_RULES` maps (kind, base framework, raw framework) to a rule. A rule sees both layers' states and
returns, for every raw state, the base states it is made from and the transform that makes it; the
transform converts gradients the same way, so one rule serves the weight copy and the gradient check.
What the rules encode was found by building both layers, copying by hand and comparing outputs:

- LSTM / GRU / RNN (paddle SimpleRNN): the same names (weight_ih_l0, bias_hh_l1_reverse, ...), shapes,
  gate order (LSTM i,f,g,o; GRU r,z,n) and both bias_ih and bias_hh: copied as is. paddle's cell
  sublayers (`0.cell_fw`) hold the same tensors and are not paired again.
- MultiheadAttention: torch packs q, k, v into in_proj_weight [3E, E] (q/k/v_proj_weight [E, kdim] when
  kdim/vdim differ from E) and in_proj_bias [3E]; paddle has q/k/v_proj and out_proj Linear layers with
  weight [in, out].
- ConvTranspose1d/2d/3d: both store weight [in, out/groups, *kernel]: copied as is.
- Norms: paddle spells InstanceNorm's weight `scale` and BatchNorm's statistics `_mean`/`_variance`.
  Defaults differ (torch InstanceNorm has no affine parameters, paddle's has), so affine parameters
  present on one side only must be the identity (ones/zeros); running statistics present on one side
  only are left alone.
- Embedding(padding_idx): both initialise the padding row to zeros and give it a zero gradient, but
  paddle outputs zeros for padding tokens whatever the row holds, while torch outputs the stored row.
  From a paddle base, torch's padding row is therefore written as zeros; from a torch base the row is
  copied as is (a non-zero torch row is a real difference, reported at that layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import WeightTransferError
from .rules import torch_state_name

__all__ = ["LayerStates", "StateSpec", "LAYER_RULES", "layer_rule", "same", "transposed"]

Transform = Callable[[tuple[np.ndarray, ...]], np.ndarray]


@dataclass(frozen=True)
class LayerStates:
    """One layer's states: names relative to the layer, as its framework spells them, in order."""

    framework: str
    layer: Any
    names: tuple[str, ...]
    read: Callable[[str], np.ndarray]  # current value of one state (for identity checks)

    def by_torch_name(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """{torch spelling: own name}; `extra` adds spellings of one layer class (`scale` -> `weight`)."""
        extra = extra or {}
        return {extra.get(n, torch_state_name(n)): n for n in self.names}


@dataclass(frozen=True)
class StateSpec:
    """One raw state, the base states it is made from, and how."""

    raw_name: str
    base_names: tuple[str, ...]
    transform: Transform
    fitted: str = ""  # for a pair of classes no rule knows: how the shape fitted (`orientation.orient`)


def same(values: tuple[np.ndarray, ...]) -> np.ndarray:
    return values[0]


def transposed(values: tuple[np.ndarray, ...]) -> np.ndarray:
    """A view: the adapters copy what they write into a tensor, and comparing reads it chunk by chunk,
    so no whole transposed copy is made (a weight's shape check, a gradient compared offline)."""
    return values[0].T


def _packed_part(index: int, transpose: bool) -> Transform:
    """Part `index` of three stacked along the first axis (torch's in_proj q, k, v)."""

    def part(values: tuple[np.ndarray, ...]) -> np.ndarray:
        piece = np.split(values[0], 3, axis=0)[index]
        return np.ascontiguousarray(piece.T if transpose else piece)

    return part


def _packed(transpose: bool) -> Transform:
    def pack(values: tuple[np.ndarray, ...]) -> np.ndarray:
        return np.concatenate([v.T if transpose else v for v in values], axis=0)

    return pack


def _checked(specs: list[StateSpec], base: LayerStates, raw: LayerStates) -> list[StateSpec]:
    """Specs that use every state of both layers exactly as named, else a WeightTransferError."""
    made = [s.raw_name for s in specs]
    used = {n for s in specs for n in s.base_names}
    missing = [n for n in made if n not in raw.names] + sorted(used - set(base.names))
    unsourced = [n for n in raw.names if n not in made]
    unused = [n for n in base.names if n not in used]
    if missing or unsourced or unused:
        raise WeightTransferError(
            f"{type(base.layer).__name__} ({base.framework}) -> {type(raw.layer).__name__} ({raw.framework}): "
            f"states expected but absent {missing}, raw states without a source {unsourced}, "
            f"base states without a counterpart {unused}",
            hint="build both layers with the same options (bias, kdim/vdim, add_bias_kv, proj_size)",
        )
    return specs


def by_name(base: LayerStates, raw: LayerStates) -> list[StateSpec]:
    """Same names (after paddle's spelling is translated) and layouts: each state copied as is."""
    base_names = base.by_torch_name()
    specs = [StateSpec(n, (base_names.get(torch_state_name(n), n),), same) for n in raw.names]
    return _checked(specs, base, raw)


def mha_torch_to_paddle(base: LayerStates, raw: LayerStates) -> list[StateSpec]:
    packed = "in_proj_weight" in base.names
    specs = []
    for index, proj in enumerate("qkv"):
        if packed:
            specs.append(StateSpec(f"{proj}_proj.weight", ("in_proj_weight",), _packed_part(index, True)))
        else:
            specs.append(StateSpec(f"{proj}_proj.weight", (f"{proj}_proj_weight",), transposed))
        if "in_proj_bias" in base.names:
            specs.append(StateSpec(f"{proj}_proj.bias", ("in_proj_bias",), _packed_part(index, False)))
    specs.append(StateSpec("out_proj.weight", ("out_proj.weight",), transposed))
    if "out_proj.bias" in base.names:
        specs.append(StateSpec("out_proj.bias", ("out_proj.bias",), same))
    return _checked(specs, base, raw)


def mha_paddle_to_torch(base: LayerStates, raw: LayerStates) -> list[StateSpec]:
    projections = tuple(f"{proj}_proj.weight" for proj in "qkv")
    if "in_proj_weight" in raw.names:
        specs = [StateSpec("in_proj_weight", projections, _packed(True))]
    else:
        specs = [StateSpec(f"{p}_proj_weight", (f"{p}_proj.weight",), transposed) for p in "qkv"]
    if "in_proj_bias" in raw.names:
        specs.append(StateSpec("in_proj_bias", tuple(f"{p}_proj.bias" for p in "qkv"), _packed(False)))
    specs.append(StateSpec("out_proj.weight", ("out_proj.weight",), transposed))
    if "out_proj.bias" in raw.names:
        specs.append(StateSpec("out_proj.bias", ("out_proj.bias",), same))
    return _checked(specs, base, raw)


# paddle InstanceNorm calls its weight `scale`
_NORM_NAMES = {"scale": "weight"}
_IDENTITY = {"weight": 1.0, "bias": 0.0}
_STATISTICS = ("running_mean", "running_var")


def norm(base: LayerStates, raw: LayerStates) -> list[StateSpec]:
    """Affine parameters and running statistics paired by name; one-sided affine must be identity."""
    base_names = base.by_torch_name(_NORM_NAMES)
    raw_names = raw.by_torch_name(_NORM_NAMES)
    specs = []
    for torch_name, raw_name in raw_names.items():
        if torch_name in base_names:
            specs.append(StateSpec(raw_name, (base_names[torch_name],), same))
        elif torch_name in _IDENTITY:
            _require_identity(raw, base, raw_name, _IDENTITY[torch_name])
    for torch_name, base_name in base_names.items():
        if torch_name in _IDENTITY and torch_name not in raw_names:
            _require_identity(base, raw, base_name, _IDENTITY[torch_name])
    known = (*_IDENTITY, *_STATISTICS)
    unknown = [n for t, n in raw_names.items() if t not in base_names and t not in known]
    unknown += [n for t, n in base_names.items() if t not in raw_names and t not in known]
    if unknown:
        raise WeightTransferError(
            f"{type(base.layer).__name__} -> {type(raw.layer).__name__}: states {unknown} have no counterpart",
            hint="build both norm layers with the same options",
        )
    return specs


def _require_identity(owner: LayerStates, other: LayerStates, name: str, identity: float) -> None:
    value = owner.read(name)
    if np.all(value == identity):
        return
    raise WeightTransferError(
        f"{owner.framework} {type(owner.layer).__name__} has '{name}' (not all {identity:g}) but "
        f"{other.framework} {type(other.layer).__name__} has no affine parameters, so the two cannot agree",
        hint="give both the same affine setting: torch affine=True (elementwise_affine for LayerNorm), or "
        "paddle weight_attr=False, bias_attr=False",
    )


def embedding_paddle_to_torch(base: LayerStates, raw: LayerStates) -> list[StateSpec]:
    """paddle outputs zeros for padding tokens: torch's padding row must be zeros to do the same."""
    padding = getattr(base.layer, "_padding_idx", None)
    specs = by_name(base, raw)
    if padding is None:
        return specs

    def zero_padding_row(values: tuple[np.ndarray, ...]) -> np.ndarray:
        weight = np.array(values[0], copy=True)
        weight[padding % weight.shape[0]] = 0
        return weight

    return [StateSpec(s.raw_name, s.base_names, zero_padding_row) for s in specs]


Rule = Callable[[LayerStates, LayerStates], list[StateSpec]]
_CROSS = (("torch", "paddle"), ("paddle", "torch"))
_BY_NAME_KINDS = ("lstm", "gru", "rnn")  # ConvTranspose needs only its kind alias (rules.KIND_ALIASES)
_NORM_KINDS = (
    *(f"batchnorm{d}d" for d in (1, 2, 3)),
    *(f"instancenorm{d}d" for d in (1, 2, 3)),
    "syncbatchnorm",
    "groupnorm",
    "layernorm",
)

LAYER_RULES: dict[tuple[str, str, str], Rule] = {
    ("multiheadattention", "torch", "paddle"): mha_torch_to_paddle,
    ("multiheadattention", "paddle", "torch"): mha_paddle_to_torch,
    ("embedding", "paddle", "torch"): embedding_paddle_to_torch,
    **{(kind, base, raw): by_name for kind in _BY_NAME_KINDS for base, raw in _CROSS},
    **{(kind, base, raw): norm for kind in _NORM_KINDS for base, raw in _CROSS},
}


def layer_rule(kind: str, base_framework: str, raw_framework: str) -> Rule | None:
    return LAYER_RULES.get((kind, base_framework, raw_framework))
