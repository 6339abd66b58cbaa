"""LayerMap: tell padiff which layers pair up and which to leave out (padiff 0.2.0 API).

`map`: {layer: layer} pairs, in either order (each side is found by membership in a model). A mapped
pair is compared at its boundary only; its weights are copied by a registered special init when there
is one, else all its states by position. `ignore`: the layer needs no counterpart (its sublayers still
do). `ignore_recursively`: the layer and everything inside it are left out. `ignore_class`: ignore every
sublayer of a model that is an instance of the given classes.
"""

from __future__ import annotations

from typing import Any

from .capture import LayerPolicy
from .errors import InputError

__all__ = ["LayerMap"]


def _as_list(layers: Any) -> list[Any]:
    return list(layers) if isinstance(layers, (list, tuple, set)) else [layers]


class LayerMap:
    def __init__(self) -> None:
        self._pairs: list[tuple[Any, Any]] = []
        self._ignored: list[Any] = []
        self._ignored_deep: list[Any] = []

    @property
    def map(self) -> dict[Any, Any]:
        return dict(self._pairs)

    @map.setter
    def map(self, pairs: dict[Any, Any]) -> None:
        if not isinstance(pairs, dict):
            raise InputError(f"LayerMap.map takes a dict {{layer: layer}}, got {type(pairs).__name__}")
        self._pairs.extend(pairs.items())

    def ignore(self, layers: Any) -> None:
        self._ignored.extend(_as_list(layers))

    def ignore_recursively(self, layers: Any) -> None:
        self._ignored_deep.extend(_as_list(layers))

    def ignore_class(self, layer: Any, ign_cls: Any = None) -> None:
        classes = ign_cls if ign_cls is not None else ()
        if not classes:
            return  # padiff ignores containers such as Sequential by itself
        walk = (
            layer.named_modules()
            if hasattr(layer, "named_modules")
            else layer.named_sublayers(include_self=True)
        )
        self._ignored.extend(sub for _, sub in walk if sub is not layer and isinstance(sub, classes))

    # --- used by the engine -------------------------------------------------------------------------

    def pairs(self, base_adapter: Any, base: Any, raw_adapter: Any, raw: Any) -> list[tuple[Any, Any]]:
        """Mapped pairs as (base layer, raw layer); raises InputError for a layer in neither model."""
        base_ids = {id(layer) for _, layer in base_adapter.named_sublayers(base)}
        raw_ids = {id(layer) for _, layer in raw_adapter.named_sublayers(raw)}
        out = []
        for first, second in self._pairs:
            if id(first) in base_ids and id(second) in raw_ids:
                out.append((first, second))
            elif id(second) in base_ids and id(first) in raw_ids:
                out.append((second, first))
            else:
                raise InputError(
                    f"LayerMap.map pair {type(first).__name__} <-> {type(second).__name__} is not one layer of "
                    "each model",
                    hint="map sublayers of the two models passed to padiff",
                )
        return out

    def path_pairs(self, base_adapter: Any, base: Any, raw_adapter: Any, raw: Any) -> dict[str, str]:
        """{raw path: base path} for the mapped pairs."""
        base_paths = _paths(base_adapter, base)
        raw_paths = _paths(raw_adapter, raw)
        return {
            raw_paths[id(r)]: base_paths[id(b)] for b, r in self.pairs(base_adapter, base, raw_adapter, raw)
        }

    def policy(self, adapter: Any, model: Any) -> LayerPolicy:
        mine = {id(layer) for _, layer in adapter.named_sublayers(model)}
        mapped = {id(layer) for pair in self._pairs for layer in pair if id(layer) in mine}
        deep = [layer for layer in self._ignored_deep if id(layer) in mine]
        skipped = _inside(adapter, [layer for layer in (*deep,)], include_self=True)
        skipped |= _inside(
            adapter, [layer for pair in self._pairs for layer in pair if id(layer) in mine], False
        )
        transparent = {id(layer) for layer in self._ignored if id(layer) in mine}
        return LayerPolicy(frozenset(skipped), frozenset(transparent), frozenset(mapped))

    def weight_skips(self, adapter: Any, model: Any) -> set[int]:
        """Layers whose own states are not paired by the generic rule."""
        policy = self.policy(adapter, model)
        return set(policy.skipped) | set(policy.transparent) | set(policy.opaque)


def _paths(adapter: Any, model: Any) -> dict[int, str]:
    paths: dict[int, str] = {}
    for path, layer in adapter.named_sublayers(model):
        paths.setdefault(id(layer), path)
    return paths


def _inside(adapter: Any, layers: list[Any], include_self: bool) -> set[int]:
    ids: set[int] = set()
    for layer in layers:
        for path, sub in adapter.named_sublayers(layer):
            if path or include_self:
                ids.add(id(sub))
    return ids
