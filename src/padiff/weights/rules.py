"""How one parameter is stored in each framework: state names and per-kind layout conversions, as data.

Parameter conversions are keyed by layer kind (`match.kinds.layer_kind`) and apply only when the two
models are of different frameworks; parameters are named in torch's spelling, and `STATE_NAMES`
translates paddle's spelling to it. Layers converted as a whole (packed attention, recurrent layers,
norms) have their rules in `layer_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ParamRule", "PARAM_RULES", "STATE_NAMES", "torch_state_name", "transposes", "convert_param"]

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
