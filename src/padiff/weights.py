"""Copy base's weights into raw.

Pairing rule: the parameter-owning layers of each model (layers with parameters or persistent buffers of
their own, root included) are listed in definition order. When both lists have the same paths they are
paired by path, else by position. Within a pair, states are paired by name (paddle names translated to
torch's) when the names agree, else by position. Conversions come from `rules`. Any mismatch raises
`WeightTransferError` naming both layers and showing both trees around them, before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import WeightTransferError
from .rules import convert_param, is_builtin, layer_kind, same_kind, special_init_for, torch_state_name
from .tree import format_tree, tree_lines

__all__ = ["transfer_weights", "plan_state_pairs", "StatePair"]


@dataclass(frozen=True)
class StatePair:
    """One raw state (parameter or buffer) and the base state(s) its value is made from.

    `transform` maps base-side arrays (the states' values, or their gradients) to raw's layout; most
    pairs have one base state and a transform that is the identity or a transpose, while packed layouts
    (an attention in_proj split into q/k/v) take a slice or a concatenation.
    """

    base_path: str
    raw_path: str
    base_name: str
    raw_name: str
    base_tensors: tuple[Any, ...]
    raw_tensor: Any
    transform: Callable[[tuple[np.ndarray, ...]], np.ndarray]

    def convert(self, values: Sequence[np.ndarray]) -> np.ndarray:
        """Base-side arrays (values or gradients of `base_tensors`) in raw's layout."""
        return self.transform(tuple(values))

    def base_value(self, adapter: Any) -> np.ndarray:
        return self.convert([adapter.to_numpy(t) for t in self.base_tensors])


def generic_transform(
    kind: str, base_name: str, cross: bool
) -> Callable[[tuple[np.ndarray, ...]], np.ndarray]:
    """The rules-table conversion of one state of a layer of `kind`."""
    name = torch_state_name(base_name)
    return lambda values: convert_param(kind, name, values[0], cross)


def _owners(adapter: Any, model: Any, skip: set[int]) -> list[tuple[str, Any]]:
    """Layers owning states of their own, in definition order, each once; `skip` holds ids left out."""
    owners, seen = [], set()
    for path, layer in adapter.named_sublayers(model):
        if id(layer) in seen or id(layer) in skip:
            continue
        seen.add(id(layer))
        if adapter.direct_state(layer):
            owners.append((path, layer))
    return owners


def _mismatch(
    message: str, hint: str, base: Any, raw: Any, base_path: str, raw_path: str
) -> WeightTransferError:
    base_ad, base_model = base
    raw_ad, raw_model = raw
    here = "<--- HERE"
    trees = (
        f"\nbase ({base_ad.name}) tree:\n"
        + format_tree(tree_lines(base_ad, base_model), {base_path: here}, around=base_path)
        + f"\nraw ({raw_ad.name}) tree:\n"
        + format_tree(tree_lines(raw_ad, raw_model), {raw_path: here}, around=raw_path)
    )
    return WeightTransferError(message + trees, hint=hint)


def _pair_states(base_layer, raw_layer, base, raw, base_path, raw_path) -> list[tuple[str, Any, str, Any]]:
    base_states = base[0].direct_state(base_layer)
    raw_states = raw[0].direct_state(raw_layer)
    if len(base_states) != len(raw_states):
        raise _mismatch(
            f"layer '{base_path}' ({type(base_layer).__name__}) has {len(base_states)} parameters/buffers "
            f"[{', '.join(n for n, _ in base_states)}] but '{raw_path}' ({type(raw_layer).__name__}) has "
            f"{len(raw_states)} [{', '.join(n for n, _ in raw_states)}]",
            "check bias=/affine= options, or pair the layers with LayerMap / add_special_init",
            base,
            raw,
            base_path,
            raw_path,
        )
    raw_by_name = {torch_state_name(n): (n, t) for n, t in raw_states}
    by_name = all(torch_state_name(n) in raw_by_name for n, _ in base_states)
    pairs = []
    for index, (base_name, base_tensor) in enumerate(base_states):
        raw_name, raw_tensor = raw_by_name[torch_state_name(base_name)] if by_name else raw_states[index]
        pairs.append((base_name, base_tensor, raw_name, raw_tensor))
    return pairs


def _plan_pair(base_layer, raw_layer, base, raw, base_path, raw_path) -> list[StatePair]:
    if is_builtin(base_layer) and is_builtin(raw_layer) and not same_kind(base_layer, raw_layer):
        raise _mismatch(
            f"layer '{base_path}' is a {type(base_layer).__name__} but its counterpart '{raw_path}' is a "
            f"{type(raw_layer).__name__}",
            "the two models differ in structure here; pair layers explicitly with padiff.LayerMap",
            base,
            raw,
            base_path,
            raw_path,
        )
    cross = base[0].name != raw[0].name
    plan = []
    for base_name, base_tensor, raw_name, raw_tensor in _pair_states(
        base_layer, raw_layer, base, raw, base_path, raw_path
    ):
        transform = generic_transform(layer_kind(base_layer), base_name, cross)
        pair = StatePair(base_path, raw_path, base_name, raw_name, (base_tensor,), raw_tensor, transform)
        shape = pair.convert([np.empty(base[0].shape(base_tensor), dtype=np.uint8)]).shape
        raw_shape = raw[0].shape(raw_tensor)
        if tuple(shape) != raw_shape:
            raise _mismatch(
                f"shape mismatch: '{base_path}.{base_name}' {list(shape)} (after conversion) vs "
                f"'{raw_path}.{raw_name}' {list(raw_shape)} ({type(base_layer).__name__} vs {type(raw_layer).__name__})",
                "the layers were built with different sizes, or this class needs a conversion rule "
                "(padiff.add_special_init)",
                base,
                raw,
                base_path,
                raw_path,
            )
        plan.append(pair)
    return plan


def _pair_owners(base_owners, raw_owners, base, raw) -> list[tuple[tuple[str, Any], tuple[str, Any]]]:
    base_paths = [p for p, _ in base_owners]
    raw_paths = [p for p, _ in raw_owners]
    if sorted(base_paths) == sorted(raw_paths):
        raw_by_path = dict(raw_owners)
        return [((path, layer), (path, raw_by_path[path])) for path, layer in base_owners]
    if len(base_owners) == len(raw_owners):
        return list(zip(base_owners, raw_owners))
    first = next(
        (i for i, (b, r) in enumerate(zip(base_owners, raw_owners)) if not same_kind(b[1], r[1])),
        min(len(base_owners), len(raw_owners)),
    )
    base_path = base_paths[min(first, len(base_paths) - 1)] if base_paths else ""
    raw_path = raw_paths[min(first, len(raw_paths) - 1)] if raw_paths else ""
    raise _mismatch(
        f"base has {len(base_owners)} layers with parameters but raw has {len(raw_owners)}; "
        f"first difference near base '{base_path}' / raw '{raw_path}'",
        "a layer exists on one side only: remove it, or skip it with LayerMap.ignore / pair it with LayerMap.map",
        base,
        raw,
        base_path,
        raw_path,
    )


def plan_state_pairs(base_adapter: Any, base_model: Any, raw_adapter: Any, raw_model: Any, layer_map=None):
    """Every paired state (the generic rule), and the LayerMap-mapped layer pairs handled apart."""
    base, raw = (base_adapter, base_model), (raw_adapter, raw_model)
    mapped = layer_map.pairs(base_adapter, base_model, raw_adapter, raw_model) if layer_map else []
    skip_base = layer_map.weight_skips(base_adapter, base_model) if layer_map else set()
    skip_raw = layer_map.weight_skips(raw_adapter, raw_model) if layer_map else set()
    owners = _pair_owners(
        _owners(base_adapter, base_model, skip_base), _owners(raw_adapter, raw_model, skip_raw), base, raw
    )
    plan: list[StatePair] = []
    for (base_path, base_layer), (raw_path, raw_layer) in owners:
        plan.extend(_plan_pair(base_layer, raw_layer, base, raw, base_path, raw_path))
    return plan, mapped


def transfer_weights(
    base_adapter: Any, base_model: Any, raw_adapter: Any, raw_model: Any, layer_map=None
) -> list[StatePair]:
    """Copy every paired state of base into raw (all checked before the first write); returns the pairs."""
    plan, mapped = plan_state_pairs(base_adapter, base_model, raw_adapter, raw_model, layer_map)
    for pair in plan:
        raw_adapter.assign(pair.raw_tensor, pair.base_value(base_adapter))
    for base_layer, raw_layer in mapped:
        _special_init(base_adapter, base_layer, raw_adapter, raw_layer)
    return plan


def _special_init(base_adapter, base_layer, raw_adapter, raw_layer) -> None:
    names = {base_adapter.name: type(base_layer).__name__, raw_adapter.name: type(raw_layer).__name__}
    rule = special_init_for(names.get("paddle", ""), names.get("torch", ""))
    if rule is None or base_adapter.name != "torch" or raw_adapter.name != "paddle":
        plan = _plan_subtree(base_adapter, base_layer, raw_adapter, raw_layer)
        for tensor, value in plan:
            raw_adapter.assign(tensor, value)
        return
    rule.func(raw_layer, base_layer)


def _plan_subtree(base_adapter, base_layer, raw_adapter, raw_layer) -> list[tuple[Any, np.ndarray]]:
    """Mapped layers without a special init: the generic rule inside them, else all states by position."""
    base, raw = (base_adapter, base_layer), (raw_adapter, raw_layer)
    try:
        owners = _pair_owners(
            _owners(base_adapter, base_layer, set()), _owners(raw_adapter, raw_layer, set()), base, raw
        )
        plan = [p for (bp, bl), (rp, rl) in owners for p in _plan_pair(bl, rl, base, raw, bp, rp)]
    except WeightTransferError:
        return _plan_by_position(base_adapter, base_layer, raw_adapter, raw_layer)
    return [(pair.raw_tensor, pair.base_value(base_adapter)) for pair in plan]


def _plan_by_position(base_adapter, base_layer, raw_adapter, raw_layer) -> list[tuple[Any, np.ndarray]]:
    """All states of two mapped layers paired by position (a 2-D state transposed when only that fits)."""
    base_states = base_adapter.all_state(base_layer)
    raw_states = raw_adapter.all_state(raw_layer)
    base_states = [(n, t) for n, t in base_states if not n.endswith("num_batches_tracked")]
    if len(base_states) != len(raw_states):
        raise WeightTransferError(
            f"mapped layers {type(base_layer).__name__} ({len(base_states)} states) and "
            f"{type(raw_layer).__name__} ({len(raw_states)} states) cannot be paired by position",
            hint="register a conversion with padiff.add_special_init(paddle_name, torch_name, func)",
        )
    plan = []
    for (base_name, base_tensor), (raw_name, raw_tensor) in zip(base_states, raw_states):
        value = base_adapter.to_numpy(base_tensor)
        if (
            value.shape != raw_adapter.shape(raw_tensor)
            and value.ndim == 2
            and value.T.shape == raw_adapter.shape(raw_tensor)
        ):
            value = np.ascontiguousarray(value.T)
        if value.shape != raw_adapter.shape(raw_tensor):
            raise WeightTransferError(
                f"mapped layers {type(base_layer).__name__} and {type(raw_layer).__name__}: '{base_name}' "
                f"{list(value.shape)} vs '{raw_name}' {list(raw_adapter.shape(raw_tensor))}",
                hint="register a conversion with padiff.add_special_init(paddle_name, torch_name, func)",
            )
        plan.append((raw_tensor, value))
    return plan
