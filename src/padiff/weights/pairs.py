"""State pairs and the generic pairing of two layers' states: the pieces weight transfer is built from.

Generic rule: two layers' states pair by name (paddle's spelling translated to torch's) when every name
agrees, else by position; each value is converted by the rule for the pair of classes that hold the two
states (`rules.storage`), or, for a pair no rule knows, fitted by shape (`orientation.orient`). Layers
the user paired (LayerMap.map, rename_params) go through the same conversion, state by state.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import WeightTransferError
from ..frameworks.base import Adapter
from ..match.kinds import layer_kind
from ..report.tree import format_tree, tree_lines
from .layer_rules import LayerStates, StateSpec
from .orientation import Held, orient
from .rules import PairRule, torch_state_name

__all__ = [
    "StatePair",
    "Owner",
    "Trees",
    "subtree_states",
    "layer_states",
    "generic_specs",
    "fitted_spec",
    "by_position",
]


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
    base_keys: tuple[str, ...] = ()  # each base tensor's full state name (`blocks.0.fc.weight`)
    raw_key: str = ""
    fitted: str = ""  # a pair of classes no rule knows: how the shape fitted (see `orientation`)

    def convert(self, values: Sequence[np.ndarray]) -> np.ndarray:
        """Base-side arrays (values or gradients of `base_tensors`) in raw's layout."""
        return self.transform(tuple(values))

    def base_value(self, adapter: Adapter) -> np.ndarray:
        return self.convert([adapter.to_numpy(t) for t in self.base_tensors])


@dataclass(frozen=True)
class Owner:
    """A layer whose states are paired together; a unit's states include its sublayers' ones."""

    path: str
    layer: Any
    states: tuple[tuple[str, Any], ...]
    unit: bool = False


def subtree_states(adapter: Adapter, layer: Any) -> tuple[tuple[str, Any], ...]:
    """Every state of `layer` and its sublayers, named relative to it, each tensor once."""
    out, seen = [], set()
    for path, sub in adapter.named_sublayers(layer):
        for name, tensor in adapter.direct_state(sub):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                out.append((f"{path}.{name}" if path else name, tensor))
    return tuple(out)


def layer_states(adapter: Adapter, owner: Owner) -> LayerStates:
    tensors = dict(owner.states)
    return LayerStates(
        adapter.name, owner.layer, tuple(tensors), lambda name: adapter.to_numpy(tensors[name])
    )


class Trees:
    """Both whole models: errors show them around the layers concerned, and pairs are checked here."""

    def __init__(self, base: tuple[Adapter, Any], raw: tuple[Adapter, Any], rules: tuple[PairRule, ...] = ()):
        self.base, self.raw = base, raw
        self.frameworks = (base[0].name, raw[0].name)
        self.rules = rules  # the user's LayerMap.weight_rule rules, tried before the built-in ones

    def mismatch(self, message: str, hint: str, base_path: str, raw_path: str) -> WeightTransferError:
        here = "<--- HERE"
        trees = ""
        for role, (adapter, model), path in (("base", self.base, base_path), ("raw", self.raw, raw_path)):
            lines = tree_lines(adapter, model)
            trees += f"\n{role} ({adapter.name}) tree:\n" + format_tree(lines, {path: here}, around=path)
        error = WeightTransferError(message + trees, hint=hint)
        error.paths = (base_path, raw_path)
        return error

    def pair_owners(self, base_owners: list[Owner], raw_owners: list[Owner]) -> list[tuple[Owner, Owner]]:
        base_paths = [o.path for o in base_owners]
        raw_paths = [o.path for o in raw_owners]
        if sorted(base_paths) == sorted(raw_paths):
            raw_by_path = {o.path: o for o in raw_owners}
            return [(owner, raw_by_path[owner.path]) for owner in base_owners]
        if len(base_owners) == len(raw_owners):
            return list(zip(base_owners, raw_owners))
        base_path, raw_path = _first_unpaired(base_owners, raw_owners)
        raise self.mismatch(
            f"base has {len(base_owners)} layers with parameters but raw has {len(raw_owners)}; "
            f"first difference near base '{base_path}' / raw '{raw_path}'",
            "a layer exists on one side only: remove it, or skip it with LayerMap.ignore / pair it with "
            "LayerMap.map",
            base_path,
            raw_path,
        )

    def state_pair(self, base_owner: Owner, raw_owner: Owner, spec: StateSpec) -> StatePair:
        """The pair `spec` describes, after checking the converted shape against raw's."""
        base_tensors = dict(base_owner.states)
        raw_tensor = dict(raw_owner.states)[spec.raw_name]
        tensors = tuple(base_tensors[n] for n in spec.base_names)
        base_name = "+".join(spec.base_names)
        pair = StatePair(
            base_path=base_owner.path,
            raw_path=raw_owner.path,
            base_name=base_name,
            raw_name=spec.raw_name,
            base_tensors=tensors,
            raw_tensor=raw_tensor,
            transform=spec.transform,
            base_keys=tuple(_dotted(base_owner.path, n) for n in spec.base_names),
            raw_key=_dotted(raw_owner.path, spec.raw_name),
            fitted=_fitted(self, base_owner, raw_owner, spec),
        )
        dummies = [np.empty(self.base[0].shape(t), dtype=np.uint8) for t in tensors]
        shape = tuple(pair.convert(dummies).shape)
        raw_shape = tuple(self.raw[0].shape(raw_tensor))
        if shape != raw_shape:
            raise self.mismatch(
                f"shape mismatch: '{_dotted(base_owner.path, base_name)}' {list(shape)} (after conversion) vs "
                f"'{_dotted(raw_owner.path, spec.raw_name)}' {list(raw_shape)} "
                f"({type(base_owner.layer).__name__} vs {type(raw_owner.layer).__name__})",
                "the layers were built with different sizes, or this class needs a conversion rule "
                "(padiff.add_special_init)",
                base_owner.path,
                raw_owner.path,
            )
        return pair


def _dotted(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _fitted(trees: Trees, base_owner: Owner, raw_owner: Owner, spec: StateSpec) -> str:
    """`spec.fitted` spelled for the report: classes, then the states and how they were copied."""
    if not spec.fitted:
        return ""
    (base_fw, raw_fw), base_name = trees.frameworks, "+".join(spec.base_names)
    classes = f"{base_fw} {type(base_owner.layer).__name__} -> {raw_fw} {type(raw_owner.layer).__name__}"
    copied = (
        f"'{_dotted(base_owner.path, base_name)}' -> '{_dotted(raw_owner.path, spec.raw_name)}' {spec.fitted}"
    )
    return f"{classes}: {copied}"


def generic_specs(base_owner: Owner, raw_owner: Owner, trees: Trees) -> list[StateSpec]:
    """States paired by name (paddle's spelling translated) when all names agree, else by position."""
    base_states, raw_states = base_owner.states, raw_owner.states
    if len(base_states) != len(raw_states):
        raise trees.mismatch(
            f"layer '{base_owner.path}' ({type(base_owner.layer).__name__}) has {len(base_states)} "
            f"parameters/buffers [{', '.join(n for n, _ in base_states)}] but '{raw_owner.path}' "
            f"({type(raw_owner.layer).__name__}) has {len(raw_states)} [{', '.join(n for n, _ in raw_states)}]",
            "check bias=/affine= options, or pair the layers with LayerMap / add_special_init",
            base_owner.path,
            raw_owner.path,
        )
    raw_by_name = {torch_state_name(n): n for n, _ in raw_states}
    by_name = all(torch_state_name(n) in raw_by_name for n, _ in base_states)
    raw_tensors = dict(raw_states)
    specs = []
    for index, (base_name, base_tensor) in enumerate(base_states):
        raw_name = raw_by_name[torch_state_name(base_name)] if by_name else raw_states[index][0]
        base = (base_owner.layer, base_name, base_tensor)
        raw = (raw_owner.layer, raw_name, raw_tensors[raw_name])
        specs.append(fitted_spec(trees, (base_owner.path, raw_owner.path), base, raw))
    return specs


def fitted_spec(
    trees: Trees, paths: tuple[str, str], base: tuple[Any, str, Any], raw: tuple[Any, str, Any]
) -> StateSpec:
    """The spec copying one state, given as (layer holding it directly, its name there, tensor) per side
    and the paths of the two owners: converted by the rule for the two classes, else fitted by shape."""
    held = []
    for (adapter, _), path, (layer, name, tensor) in zip((trees.base, trees.raw), paths, (base, raw)):
        direct = name.rpartition(".")[2]  # its name in the layer holding it
        held.append(Held(layer, direct, _dotted(path, name), tuple(adapter.shape(tensor))))
    transform, fitted = orient(trees, held[0], held[1], paths)
    return StateSpec(raw[1], (base[1],), transform, fitted)


def _owning_layers(adapter: Adapter, layer: Any) -> dict[int, tuple[Any, str]]:
    """{id of tensor: (the sublayer holding it directly, its name there)} for a layer and its sublayers."""
    out: dict[int, tuple[Any, str]] = {}
    for _, sub in adapter.named_sublayers(layer):
        for name, tensor in adapter.direct_state(sub):
            out.setdefault(id(tensor), (sub, name))
    return out


def by_position(base_owner: Owner, raw_owner: Owner, trees: Trees) -> list[StatePair]:
    """All states of two mapped layers paired by position, each converted by `fitted_spec`."""
    if len(base_owner.states) != len(raw_owner.states):
        raise trees.mismatch(
            f"mapped layers '{base_owner.path}' {type(base_owner.layer).__name__} ({len(base_owner.states)} "
            f"states) and '{raw_owner.path}' {type(raw_owner.layer).__name__} ({len(raw_owner.states)} states) "
            "cannot be paired by position",
            "register a conversion with padiff.add_special_init(paddle_name, torch_name, func)",
            base_owner.path,
            raw_owner.path,
        )
    base_holders = _owning_layers(trees.base[0], base_owner.layer)
    raw_holders = _owning_layers(trees.raw[0], raw_owner.layer)
    pairs = []
    for (base_name, base_tensor), (raw_name, raw_tensor) in zip(base_owner.states, raw_owner.states):
        base_layer, raw_layer = base_holders[id(base_tensor)][0], raw_holders[id(raw_tensor)][0]
        spec = fitted_spec(
            trees,
            (base_owner.path, raw_owner.path),
            (base_layer, base_name, base_tensor),
            (raw_layer, raw_name, raw_tensor),
        )
        pairs.append(trees.state_pair(base_owner, raw_owner, spec))
    return pairs


def _first_unpaired(base_owners: list[Owner], raw_owners: list[Owner]) -> tuple[str, str]:
    """Where two owner lists of different lengths first part: the first path only one side has when the
    trees share names, else the first insertion or deletion in the sequence of layer kinds."""
    base_paths = [o.path for o in base_owners]
    raw_paths = [o.path for o in raw_owners]
    only_base = [p for p in base_paths if p not in set(raw_paths)]
    only_raw = [p for p in raw_paths if p not in set(base_paths)]
    if len(only_base) + len(only_raw) < max(len(base_paths), len(raw_paths)) // 2 + 1:
        base_path = only_base[0] if only_base else ""
        raw_path = only_raw[0] if only_raw else ""
        if base_path and not raw_path:
            raw_path = _neighbour(base_path, base_paths, raw_paths)
        if raw_path and not base_path:
            base_path = _neighbour(raw_path, raw_paths, base_paths)
        return base_path, raw_path
    kinds = difflib.SequenceMatcher(
        None,
        [layer_kind(o.layer) for o in base_owners],
        [layer_kind(o.layer) for o in raw_owners],
        autojunk=False,
    )
    for tag, i1, _, j1, _ in kinds.get_opcodes():
        if tag != "equal":
            return _at(base_paths, i1), _at(raw_paths, j1)
    return _at(base_paths, len(base_paths)), _at(raw_paths, len(raw_paths))


def _at(paths: list[str], index: int) -> str:
    return paths[min(index, len(paths) - 1)] if paths else ""


def _neighbour(path: str, paths: list[str], other: list[str]) -> str:
    """The path on the other side next to where `path` would be (its predecessor's counterpart)."""
    index = paths.index(path)
    for earlier in reversed(paths[:index]):
        if earlier in other:
            return earlier
    return other[0] if other else ""
