"""What a run does with each layer object of one model, from the user's LayerMap and padiff's own rules.

skipped: not hooked at all (inside a LayerMap.map pair, inside `ignore_recursively`, inside a built-in
layer whose sublayers differ between frameworks: MultiheadAttention, LSTM, GRU, RNN);
transparent: needs no counterpart, its sublayers still do (LayerMap.ignore);
opaque: compared at its boundary only (LayerMap.map).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..frameworks.base import Adapter
from .kinds import SEALED_KINDS, is_builtin, layer_kind

__all__ = ["LayerPolicy", "build_policy", "with_sealed", "inside"]


@dataclass(frozen=True)
class LayerPolicy:
    """What the run does per layer object (by id): left unhooked, transparent, or opaque."""

    skipped: frozenset[int] = frozenset()
    transparent: frozenset[int] = frozenset()
    opaque: frozenset[int] = frozenset()

    @property
    def weight_skips(self) -> set[int]:
        """Layers whose own states are not paired by the generic weight rule."""
        return set(self.skipped) | set(self.transparent) | set(self.opaque)


def inside(adapter: Adapter, layers: Iterable[Any], include_self: bool) -> set[int]:
    """Ids of every sublayer of `layers` (and of the layers themselves with `include_self`)."""
    ids: set[int] = set()
    for layer in layers:
        for path, sub in adapter.named_sublayers(layer):
            if path or include_self:
                ids.add(id(sub))
    return ids


def build_policy(
    adapter: Adapter,
    mapped: Iterable[Any],
    ignored: Iterable[Any],
    ignored_deep: Iterable[Any],
    layers: list[tuple[str, Any]],
) -> LayerPolicy:
    """The policy for a model whose (path, layer) list is `layers`, given the layers of it (and of the
    other model: they are filtered out) the user mapped, ignored and ignored recursively."""
    mine = {id(layer) for _, layer in layers}
    mapped = [layer for layer in mapped if id(layer) in mine]
    skipped = inside(adapter, [layer for layer in ignored_deep if id(layer) in mine], include_self=True)
    skipped |= inside(adapter, mapped, include_self=False)
    transparent = {id(layer) for layer in ignored if id(layer) in mine}
    return LayerPolicy(frozenset(skipped), frozenset(transparent), frozenset(id(layer) for layer in mapped))


def with_sealed(adapter: Adapter, policy: LayerPolicy, layers: list[tuple[str, Any]]) -> LayerPolicy:
    """`policy`, with built-in layers whose sublayers differ between frameworks left unhooked inside."""
    sealed = [layer for _, layer in layers if is_builtin(layer) and layer_kind(layer) in SEALED_KINDS]
    return replace(policy, skipped=policy.skipped | frozenset(inside(adapter, sealed, include_self=False)))
