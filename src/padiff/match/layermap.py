"""LayerMap: tell padiff which layers pair up and which to leave out (padiff 0.2.0 API, and more).

`map`: {layer: layer} pairs, in either order (each side is found by membership in a model). A mapped
pair is compared at its boundary only; its weights are copied by a registered special init when there
is one (torch base), else by padiff's rules inside the pair, else all its states by position.
`ignore`: the layer needs no counterpart (its sublayers still do). `ignore_recursively`: the layer and
everything inside it are left out. `ignore_class(layer, classes)`: ignore every sublayer of `layer`
that is an instance of `classes`. `auto(layer, module)`: map, in definition order, the sublayers of
both models that padiff converts as a whole (see `LayerMap.auto`). `rename_params(mapping)`: pair
weights by name instead of by position, for models whose trees differ but whose state names translate:
a dict {raw_name: base_name} or a function raw_name -> base_name, names as in each model's state_dict.
`weight_rule(first, second, transpose)`: how two classes padiff has no rule for store their 2-D weights
against each other (`weights.rules`). `fuse(fused, parts, groups)`: a Linear of one model is these
Linears of the other, concatenated or interleaved per head group (`weights.fused`); fusions padiff finds
by name and knows the layout of need no declaration (`weights.fusion_rules`).

Built-in layers whose sublayers differ between torch and paddle (MultiheadAttention, LSTM, GRU, RNN)
are always compared at their boundary only, mapped or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, StructureError
from ..frameworks.base import Adapter
from ..weights.fused import Fusion, LayerPairs
from ..weights.fusion_rules import Declared, find_fusions
from ..weights.registry import special_init_for, special_init_names
from ..weights.rules import PairRule, class_key_of
from .kinds import SEALED_KINDS, is_builtin, layer_kind, same_kind
from .policy import LayerPolicy, build_policy, with_sealed

__all__ = ["LayerMap"]


def _as_list(layers: Any) -> list[Any]:
    return list(layers) if isinstance(layers, (list, tuple, set)) else [layers]


class LayerMap:
    def __init__(self) -> None:
        self._pairs: list[tuple[Any, Any]] = []
        self._ignored: list[Any] = []
        self._ignored_deep: list[Any] = []
        self._rename: dict[str, str] | Callable[[str], str] | None = None
        self._weight_rules: list[PairRule] = []
        self._fusions: list[Declared] = []

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
        from ..frameworks.base import adapter_for

        walk = adapter_for(layer, "LayerMap.ignore_class argument").named_sublayers(layer)
        self._ignored.extend(sub for _, sub in walk if sub is not layer and isinstance(sub, classes))

    def rename_params(self, mapping: dict[str, str] | Callable[[str], str]) -> None:
        """Pair weights (and so gradients) by name: raw state name -> base state name.

        Names are as in each model's state_dict (`blocks.0.fc.weight`); a dict's missing names stay as
        they are. Replaces pairing by position for every layer outside `map`ped pairs.
        """
        if not (isinstance(mapping, dict) or callable(mapping)):
            raise InputError(
                f"LayerMap.rename_params takes a dict {{raw_name: base_name}} or a function, got "
                f"{type(mapping).__name__}",
                hint="e.g. layer_map.rename_params(lambda name: name.replace('mlp.', 'ffn.'))",
            )
        self._rename = dict(mapping) if isinstance(mapping, dict) else mapping

    def weight_rule(self, first: Any, second: Any, transpose: bool | Iterable[str] = False) -> None:
        """How two classes store their 2-D weights against each other, for pairs padiff has no rule for.

        `first` and `second` are layer classes (or class names), one of each model, in either order.
        `transpose`: False when both keep their 2-D states alike (copied as is), True when one keeps every
        2-D state transposed, or the state names kept transposed (torch's spelling: ``{"weight"}``).
        """
        if isinstance(transpose, str) or not isinstance(transpose, (bool, Iterable)):
            raise InputError(
                f"LayerMap.weight_rule takes transpose=True/False or state names, got {transpose!r}",
                hint='e.g. layer_map.weight_rule(torch.nn.Linear, MyHead, transpose={"weight"})',
            )
        names = transpose if isinstance(transpose, bool) else frozenset(transpose)
        rule = PairRule(class_key_of(first), class_key_of(second), names, "LayerMap.weight_rule")
        self._weight_rules.append(rule)

    def fuse(self, fused: Any, parts: Any, groups: int = 1) -> None:
        """Declare that Linear `fused` of one model is the Linears `parts` of the other, in this order:
        concatenated along their output features (groups=1), or interleaved per `groups` head groups
        (each part's features cut into `groups` equal chunks; the fused layer holds chunk 0 of every
        part, then chunk 1, ...). Weights, outputs and gradients are then compared through this layout."""
        parts = _as_list(parts)
        if len(parts) < 2 or not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
            raise InputError(
                f"LayerMap.fuse takes a layer, a list of at least two layers and groups >= 1, got {len(parts)} "
                f"part(s) and groups={groups!r}",
                hint="e.g. layer_map.fuse(raw.attn.qkv_proj, [base.attn.q_proj, base.attn.k_proj, base.attn.v_proj])",
            )
        self._fusions.append(Declared(fused, tuple(parts), groups))

    @property
    def weight_rules(self) -> tuple[PairRule, ...]:
        return tuple(self._weight_rules)

    @property
    def renames_params(self) -> bool:
        return self._rename is not None

    def base_param_name(self, raw_name: str) -> str:
        if isinstance(self._rename, dict):
            return self._rename.get(raw_name, raw_name)
        return str(self._rename(raw_name)) if self._rename is not None else raw_name

    def auto(self, layer: Any, module: Any) -> None:
        """Map the sublayers padiff converts as a whole, pairing the two models' ones in definition order.

        As in padiff 0.2.0: those whose classes have a registered special init, and the built-in
        MultiheadAttention, LSTM, GRU, RNN and BatchNorm2d. Either model may come first. Raises
        StructureError when the two models do not have such layers of matching classes in the same order.
        """
        from ..frameworks.base import adapter_for

        sides = {}
        for model in (layer, module):
            adapter = adapter_for(model, "LayerMap.auto argument")
            sides[adapter.name] = (adapter, model)
        if set(sides) != {"paddle", "torch"}:
            raise InputError(
                "LayerMap.auto takes one paddle layer and one torch module",
                hint="call layer_map.auto(paddle_layer, torch_module)",
            )
        found = {name: list(self._auto_units(*side)) for name, side in sides.items()}
        _check_auto(found["paddle"], found["torch"])
        self.map = {p: t for (_, p), (_, t) in zip(found["paddle"], found["torch"])}

    def _auto_units(self, adapter: Adapter, model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
        ignored = {id(x) for x in self._ignored}
        deep = {id(x) for x in self._ignored_deep}
        for name, child in adapter.named_children(model):
            path = f"{prefix}.{name}" if prefix else name
            if id(child) in deep:
                continue
            if _auto_convertible(adapter.name, child):
                if id(child) not in ignored:
                    yield path, child
                continue
            yield from self._auto_units(adapter, child, path)

    # --- used by the engine -------------------------------------------------------------------------

    def resolve(self, base_adapter: Adapter, base: Any, raw_adapter: Adapter, raw: Any) -> ResolvedMap:
        """This map applied to two models, each walked once: the mapped pairs as (base layer, raw layer),
        their paths, and each side's run policy. InputError for a mapped layer in neither model."""
        base_layers = list(base_adapter.named_sublayers(base))
        raw_layers = list(raw_adapter.named_sublayers(raw))
        base_paths, raw_paths = _first_paths(base_layers), _first_paths(raw_layers)
        pairs = []
        for first, second in self._pairs:
            if id(first) in base_paths and id(second) in raw_paths:
                pairs.append((first, second))
            elif id(second) in base_paths and id(first) in raw_paths:
                pairs.append((second, first))
            else:
                raise InputError(
                    f"LayerMap.map pair {type(first).__name__} <-> {type(second).__name__} is not one layer of "
                    "each model",
                    hint="map sublayers of the two models passed to padiff",
                )
        mapped = [layer for pair in self._pairs for layer in pair]
        base_map, raw_map = (
            build_policy(adapter, mapped, self._ignored, self._ignored_deep, layers)
            for adapter, layers in ((base_adapter, base_layers), (raw_adapter, raw_layers))
        )
        base_policy = with_sealed(base_adapter, base_map, base_layers)
        raw_policy = with_sealed(raw_adapter, raw_map, raw_layers)
        left_out = (base_policy.weight_skips, raw_policy.weight_skips)
        walks = (base_adapter, base_layers), (raw_adapter, raw_layers)
        fusions = tuple(find_fusions(*walks, self._fusions, left_out))
        return ResolvedMap(
            pairs=pairs,
            path_pairs=LayerPairs({raw_paths[id(r)]: base_paths[id(b)] for b, r in pairs}, fusions),
            base_policy=base_policy,
            raw_policy=raw_policy,
            base_skips=base_map.weight_skips,
            raw_skips=raw_map.weight_skips,
            fusions=fusions,
        )


@dataclass(frozen=True)
class ResolvedMap:
    """A LayerMap applied to one pair of models (see `LayerMap.resolve`)."""

    pairs: list[tuple[Any, Any]]  # (base layer, raw layer)
    path_pairs: dict[str, str]  # {raw path: base path}
    base_policy: LayerPolicy  # what each run does per layer
    raw_policy: LayerPolicy
    base_skips: set[int]  # layers whose own states the generic weight rule leaves alone
    raw_skips: set[int]
    fusions: tuple[Fusion, ...] = ()  # layers one model fuses and the other keeps apart (`weights.fused`)


def _first_paths(layers: list[tuple[str, Any]]) -> dict[int, str]:
    paths: dict[int, str] = {}
    for path, layer in layers:
        paths.setdefault(id(layer), path)
    return paths


# built-in kinds LayerMap.auto maps (BatchNorm2d: 0.2.0 shipped a special init for it)
AUTO_KINDS = SEALED_KINDS | {"batchnorm2d"}


def _auto_convertible(framework: str, layer: Any) -> bool:
    if type(layer).__name__ in special_init_names(framework):
        return True
    return is_builtin(layer) and layer_kind(layer) in AUTO_KINDS


def _check_auto(paddle_units: list[tuple[str, Any]], torch_units: list[tuple[str, Any]]) -> None:
    def listed(units: list[tuple[str, Any]]) -> str:
        return ", ".join(f"{path} ({type(layer).__name__})" for path, layer in units) or "none"

    if len(paddle_units) != len(torch_units):
        raise StructureError(
            f"LayerMap.auto found {len(paddle_units)} paddle layers to map [{listed(paddle_units)}] but "
            f"{len(torch_units)} torch modules [{listed(torch_units)}]",
            hint="map the layers yourself with LayerMap.map, or ignore the extra ones first",
        )
    for (paddle_path, paddle_layer), (torch_path, torch_module) in zip(paddle_units, torch_units):
        registered = special_init_for(type(paddle_layer).__name__, type(torch_module).__name__)
        if registered is None and not same_kind(paddle_layer, torch_module):
            raise StructureError(
                f"LayerMap.auto pairs paddle '{paddle_path}' ({type(paddle_layer).__name__}) with torch "
                f"'{torch_path}' ({type(torch_module).__name__}) in definition order, but padiff has no "
                "conversion between these classes",
                hint="register one with padiff.add_special_init, or map the layers yourself with LayerMap.map",
            )
