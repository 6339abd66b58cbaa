"""The state pairs of a `fused.Fusion`: which raw state is made from which base states, and how.

Rule: states are matched by name (paddle's spelling translated to torch's) between the fused Linear and
each part. When raw holds the fused layer, each of its states is made from the parts' same-named states,
converted to raw's layout by the rule for the two Linear classes and joined along raw's feature axis
(`fused.LINEAR_OUT_AXIS`; a bias's only axis); when base does, each raw part's state is its slice of the
fused one along base's feature axis, converted. The converted shape is checked against raw's before
anything is written, as for every other pair.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .fused import LINEAR_OUT_AXIS, Fusion, fused_transform, split_transform
from .pairs import StatePair, Trees
from .rules import storage, torch_state_name

__all__ = ["fusion_pairs"]


def _states(adapter: Any, layer: Any) -> dict[str, Any]:
    """A layer's own states by torch spelling."""
    return {torch_state_name(name): tensor for name, tensor in adapter.direct_state(layer)}


def _dotted(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _common_parent(paths: list[str]) -> str:
    prefix = os.path.commonprefix([p.split(".") for p in paths])
    return ".".join(prefix) if len(prefix) < len(paths[0].split(".")) else paths[0].rpartition(".")[0]


def fusion_pairs(fusion: Fusion, trees: Trees) -> list[StatePair]:
    """One pair per raw state the fusion makes (see the module docstring)."""
    (base_adapter, _), (raw_adapter, _) = trees.base, trees.raw
    base_fw, raw_fw = trees.frameworks
    fused_path, fused_layer = fusion.fused
    raw_fuses = fusion.fused_side == "raw"
    fused_states = _states(raw_adapter if raw_fuses else base_adapter, fused_layer)
    part_states = [_states(base_adapter if raw_fuses else raw_adapter, part) for _, part in fusion.parts]
    base_layer, raw_layer = (
        (fusion.parts[0][1], fused_layer) if raw_fuses else (fused_layer, fusion.parts[0][1])
    )
    rule = storage((base_layer, base_fw), (raw_layer, raw_fw), trees.rules)
    pairs = []
    for name, fused_tensor in fused_states.items():
        missing = [path for (path, _), states in zip(fusion.parts, part_states) if name not in states]
        if missing:
            raise trees.mismatch(
                f"fused '{_dotted(fused_path, name)}' has no counterpart in {', '.join(missing)} "
                f"({fusion.describe()})",
                "build the fused layer and its parts with the same options (bias)",
                *_paths(fusion),
            )
        weight = (
            len(trees.raw[0].shape(fused_tensor) if raw_fuses else trees.base[0].shape(fused_tensor)) == 2
        )
        axes = (LINEAR_OUT_AXIS[base_fw], LINEAR_OUT_AXIS[raw_fw]) if weight else (0, 0)
        transpose = weight and rule is not None and rule.transposes(name)
        if raw_fuses:
            part_paths = [path for path, _ in fusion.parts]
            parent = _common_parent(part_paths)
            relative = [path[len(parent) + 1 :] if parent else path for path in part_paths]
            pair = StatePair(
                base_path=parent,
                raw_path=fused_path,
                base_name="+".join(_dotted(r, name) for r in relative),
                raw_name=name,
                base_tensors=tuple(states[name] for states in part_states),
                raw_tensor=fused_tensor,
                transform=fused_transform(fusion, axes, transpose),
                base_keys=tuple(_dotted(path, name) for path in part_paths),
                raw_key=_dotted(fused_path, name),
            )
            pairs.append(_checked(pair, trees, fusion))
            continue
        for index, ((part_path, _), states) in enumerate(zip(fusion.parts, part_states)):
            pair = StatePair(
                base_path=fused_path,
                raw_path=part_path,
                base_name=name,
                raw_name=name,
                base_tensors=(fused_tensor,),
                raw_tensor=states[name],
                transform=split_transform(fusion, index, axes, transpose),
                base_keys=(_dotted(fused_path, name),),
                raw_key=_dotted(part_path, name),
            )
            pairs.append(_checked(pair, trees, fusion))
    return pairs


def _paths(fusion: Fusion) -> tuple[str, str]:
    return fusion.base_paths[0], fusion.raw_paths[0]


def _checked(pair: StatePair, trees: Trees, fusion: Fusion) -> StatePair:
    dummies = [np.empty(trees.base[0].shape(t), dtype=np.uint8) for t in pair.base_tensors]
    shape = tuple(pair.convert(dummies).shape)
    raw_shape = tuple(trees.raw[0].shape(pair.raw_tensor))
    if shape != raw_shape:
        raise trees.mismatch(
            f"shape mismatch: '{_dotted(pair.base_path, pair.base_name)}' makes {list(shape)} but "
            f"'{pair.raw_key}' is {list(raw_shape)} ({fusion.describe()})",
            "the parts and the fused layer were built with different sizes, or the declared parts are not "
            "the ones this layer fuses (LayerMap.fuse)",
            *_paths(fusion),
        )
    return pair
