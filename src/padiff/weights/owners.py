"""A model's *owners* (the layers whose states are paired), its tied states, and the tie check.

Rule. Owners are listed in definition order: layers with parameters or persistent buffers of their own;
*units*, layers converted as a whole whose sublayers are not listed; and *fusion groups*, the layers of
one `fused.Fusion` on this side, listed once where the first of them is defined, under the fused
layer's path (so the group pairs with the other side's by path or by position). A state already listed
(tied: a head holding the embedding matrix) belongs to the layer that came first; the later layer is
recorded as tied. Tied against untied is refused (`check_ties`): when one model ties a layer's state to
another and the other model's layer at that path keeps a state of the same name of its own, the two
cannot be paired state for state, and the error says which side ties what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..frameworks.base import Adapter
from .fused import Fusion
from .pairs import Owner, Trees, subtree_states
from .rules import torch_state_name

__all__ = ["Listing", "list_owners", "check_ties"]


@dataclass
class Listing:
    """One model's owners, and its tied states: {layer path: [(state name, the key it is tied to)]}."""

    owners: list[Owner] = field(default_factory=list)
    tied: dict[str, list[tuple[str, str]]] = field(default_factory=dict)


def _join(prefix: str, path: str) -> str:
    return ".".join(p for p in (prefix, path) if p)


def list_owners(
    adapter: Adapter,
    root: Any,
    prefix: str,
    skip: set[int],
    is_unit: Callable[[Any], bool],
    fusions: dict[int, Fusion],
) -> Listing:
    """The owners of `root` (see the module docstring); `fusions` maps this side's fused or part layers."""
    listing = Listing()
    seen: set[int] = set()
    sealed: set[int] = set()
    keys: dict[int, str] = {}  # id of each listed tensor -> its full state name
    for path, layer in adapter.named_sublayers(root):
        if id(layer) in seen or id(layer) in skip or id(layer) in sealed:
            continue
        seen.add(id(layer))
        full = _join(prefix, path)
        fusion = fusions.get(id(layer))
        if fusion is not None:
            members = [layer] if layer is fusion.fused[1] else [part for _, part in fusion.parts]
            states = tuple(
                (f"{index}.{name}", tensor)
                for index, member in enumerate(members)
                for name, tensor in adapter.direct_state(member)
            )
            seen.update(id(member) for member in members)
            keys.update((id(t), f"{full}.{n}") for n, t in states)
            listing.owners.append(Owner(fusion.fused[0], fusion, states, unit=True))
            continue
        if is_unit(layer):
            sealed |= {id(sub) for sub_path, sub in adapter.named_sublayers(layer) if sub_path}
            states = subtree_states(adapter, layer)
            keys.update((id(t), _join(full, n)) for n, t in states)
            listing.owners.append(Owner(full, layer, states, unit=True))
            continue
        # a state tied to an earlier layer's (a head Linear holding the embedding matrix) is that
        # layer's: a port may tie it with a matmul and have no layer for it at all
        own = []
        for name, tensor in adapter.direct_state(layer):
            if id(tensor) in keys:
                listing.tied.setdefault(full, []).append((name, keys[id(tensor)]))
            else:
                keys[id(tensor)] = _join(full, name)
                own.append((name, tensor))
        if own:
            listing.owners.append(Owner(full, layer, tuple(own)))
    return listing


def check_ties(base: Listing, raw: Listing, trees: Trees) -> None:
    """Refuse a model that ties a layer's state where the other keeps that state its own (by path)."""
    for role, other_role, listing, other in (("base", "raw", base, raw), ("raw", "base", raw, base)):
        owners = {owner.path: owner for owner in other.owners}
        for path, ties in listing.tied.items():
            owner = owners.get(path)
            if owner is None:
                continue
            own = {torch_state_name(name) for name, _ in owner.states}
            for name, tied_to in ties:
                if torch_state_name(name) not in own:
                    continue
                key = f"{path}.{name}" if path else name
                raise trees.mismatch(
                    f"{role} ties '{key}' to '{tied_to}' (one tensor), but {other_role}'s '{key}' is a "
                    f"weight of its own: the layer is tied in {role} and untied in {other_role}",
                    "build both models with the same tying (e.g. the same tie_word_embeddings), or tie or untie "
                    f"{other_role}'s '{key}' by hand before comparing",
                    path,
                    path,
                )
