"""LayerMap.rename_params: pair states by name, for models whose trees differ but whose names translate.

Every state of raw outside the layers LayerMap skips or maps is named as raw spells it
(`encoder.0.fc.weight`, paddle's `bn._mean`), and the user's mapping gives base's name for it (names a
dict leaves out stay as they are). A name base lacks is tried once more with its last part in torch's
spelling (`bn._mean` -> `bn.running_mean`). States pair one to one, so layers whose states are packed
differently (MultiheadAttention) belong in LayerMap.map instead.

Each value is converted by `pairs.fitted_spec` (the rule for the pair of classes holding the two
states, else the shapes, when only one orientation fits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..frameworks.base import Adapter
from .pairs import Owner, StatePair, Trees, fitted_spec
from .rules import torch_state_name

if TYPE_CHECKING:
    from ..match.layermap import LayerMap

__all__ = ["plan_renamed"]


def _named_states(adapter: Adapter, model: Any, skip: set[int]) -> dict[str, tuple[Owner, str]]:
    """{full state name: (owning layer, name within it)}, each tensor once, skipped layers left out."""
    out: dict[str, tuple[Owner, str]] = {}
    seen: set[int] = set()
    for path, layer in adapter.named_sublayers(model):
        if id(layer) in skip:
            continue
        for name, tensor in adapter.direct_state(layer):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                out[f"{path}.{name}" if path else name] = (Owner(path, layer, ((name, tensor),)), name)
    return out


def _base_name(wanted: str, base_states: dict[str, Any]) -> str | None:
    if wanted in base_states:
        return wanted
    head, _, last = wanted.rpartition(".")
    spelled = f"{head}.{torch_state_name(last)}" if head else torch_state_name(last)
    return spelled if spelled in base_states else None


def plan_renamed(
    trees: Trees, layer_map: LayerMap, skip_base: set[int], skip_raw: set[int]
) -> list[StatePair]:
    """One pair per raw state, its base state named by the user's rename_params mapping."""
    base_states = _named_states(*trees.base, skip_base)
    raw_states = _named_states(*trees.raw, skip_raw)
    plan = []
    for raw_full, (raw_owner, raw_name) in raw_states.items():
        wanted = layer_map.base_param_name(raw_full)
        base_full = _base_name(wanted, base_states)
        if base_full is None:
            near = sorted(base_states, key=lambda n: -_shared_prefix(n, wanted))[:5]
            raise trees.mismatch(
                f"LayerMap.rename_params maps raw '{raw_full}' to base '{wanted}', which base does not "
                f"have (closest base names: {near})",
                "fix the mapping: it takes raw's state name and returns base's (as in each state_dict)",
                wanted.rpartition(".")[0],
                raw_owner.path,
            )
        base_owner, base_name = base_states[base_full]
        spec = fitted_spec(
            trees,
            (base_owner.path, raw_owner.path),
            (base_owner.layer, base_name, base_owner.states[0][1]),
            (raw_owner.layer, raw_name, raw_owner.states[0][1]),
        )
        plan.append(trees.state_pair(base_owner, raw_owner, spec))
    return plan


def _shared_prefix(a: str, b: str) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count
