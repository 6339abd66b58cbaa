"""Copy base's weights into raw, and pair every raw state with the base state(s) it is made from.

Pairing rule. The *owners* of each model are listed in definition order: layers with parameters or
persistent buffers of their own, and *units*, layers converted as a whole whose sublayers are not listed
(a built-in layer with a rule in `layer_rules.LAYER_RULES` for this pair of frameworks, such as
MultiheadAttention or LSTM, and a class named by a registered `add_special_init`). Owners are paired by
path when both lists have the same paths, else by position; a unit without any state (torch's
InstanceNorm2d(affine=False)) is left out of a second try when the first does not pair. Within a pair,
states are converted by the layer rule when there is one, else paired by name (paddle's names translated
to torch's) when the names agree, else by position, through `rules`' conversions. A pair whose classes
have a registered special init is copied by it when torch is the base. LayerMap.map pairs are planned
alone, inside the pair; LayerMap.rename_params pairs states by name instead (see `renamed`). Any mismatch
raises `WeightTransferError` naming both layers and showing both trees, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import WeightTransferError
from ..frameworks.base import Adapter
from ..match.kinds import is_builtin, layer_kind, same_kind
from .fused import Fusion, members_by_side
from .fused_pairs import fusion_pairs
from .layer_rules import StateSpec
from .layer_rules import layer_rule as rule_for
from .owners import Listing, check_ties, list_owners
from .pairs import Owner, StatePair, Trees, by_position, generic_specs, layer_states, subtree_states
from .registry import SpecialInit, special_init_for, special_init_names
from .renamed import plan_renamed

if TYPE_CHECKING:
    from ..match.layermap import LayerMap, ResolvedMap

__all__ = ["transfer_weights", "plan_state_pairs", "StatePair", "SpecialCopy"]


@dataclass(frozen=True)
class SpecialCopy:
    """A pair copied by a user's add_special_init function (torch base, paddle raw).

    `candidates` are the pairs padiff's own rules would give; those the function's copy satisfies are
    kept for the gradient check, since the function itself says nothing about which state went where.
    """

    base_path: str
    raw_path: str
    base_layer: Any
    raw_layer: Any
    init: SpecialInit
    candidates: tuple[StatePair, ...]


class _Planner:
    """Plans the state pairs of one base model and one raw model (or of one LayerMap-mapped pair)."""

    def __init__(
        self,
        base: tuple[Adapter, Any],
        raw: tuple[Adapter, Any],
        trees: Trees | None = None,
        prefixes: tuple[str, str] = ("", ""),
        use_specials: bool = True,
        fusions: tuple[Fusion, ...] = (),
    ):
        self.base, self.raw = base, raw
        self.trees = trees or Trees(base, raw)
        self.fusions = fusions
        self.members = members_by_side(fusions)  # per side: {id of a fused or part layer: its fusion}
        self.prefixes = prefixes  # paths of base's and raw's roots in the whole models
        self.frameworks = (base[0].name, raw[0].name)
        self.cross = self.frameworks[0] != self.frameworks[1]
        # user special inits apply between torch and paddle, and not while planning what one of them did
        self.use_specials = use_specials and set(self.frameworks) == {"torch", "paddle"}

    def is_unit(self, adapter: Adapter, layer: Any) -> bool:
        if not self.cross:
            return False
        if is_builtin(layer) and rule_for(layer_kind(layer), *self.frameworks) is not None:
            return True
        return self.use_specials and type(layer).__name__ in special_init_names(adapter.name)

    def owners(self, side: tuple[Adapter, Any], skip: set[int]) -> Listing:
        adapter, root = side
        index = 0 if side is self.base else 1
        is_unit = partial(self.is_unit, adapter)
        return list_owners(adapter, root, self.prefixes[index], skip, is_unit, self.members[index])

    def pair_owners(self, base_owners: list[Owner], raw_owners: list[Owner]) -> list[tuple[Owner, Owner]]:
        try:
            return self.trees.pair_owners(base_owners, raw_owners)
        except WeightTransferError:
            stateful = [[o for o in owners if o.states or not o.unit] for owners in (base_owners, raw_owners)]
            if [len(s) for s in stateful] == [len(base_owners), len(raw_owners)]:
                raise
            return self.trees.pair_owners(*stateful)

    def plan_all(self, skip_base: set[int], skip_raw: set[int]) -> list[StatePair | SpecialCopy]:
        base_listing, raw_listing = self.owners(self.base, skip_base), self.owners(self.raw, skip_raw)
        check_ties(base_listing, raw_listing, self.trees)
        owners = self.pair_owners(base_listing.owners, raw_listing.owners)
        out: list[StatePair | SpecialCopy] = []
        for base_owner, raw_owner in owners:
            if isinstance(base_owner.layer, Fusion) or isinstance(raw_owner.layer, Fusion):
                out.extend(self.plan_fusion(base_owner, raw_owner))
                continue
            special = self.special_init(base_owner, raw_owner)
            if special is not None:
                out.append(self.special_copy(base_owner, raw_owner, special))
            else:
                out.extend(self.plan_pair(base_owner, raw_owner))
        return out

    def plan_fusion(self, base_owner: Owner, raw_owner: Owner) -> list[StatePair]:
        if base_owner.layer is raw_owner.layer:
            return fusion_pairs(base_owner.layer, self.trees)
        fusion = base_owner.layer if isinstance(base_owner.layer, Fusion) else raw_owner.layer
        raise self.trees.mismatch(
            f"the layers of {fusion.describe()} pair with '{raw_owner.path if fusion is base_owner.layer else base_owner.path}', "
            "which is not their counterpart",
            "the two models differ in structure around the fused layer; pair layers with padiff.LayerMap",
            base_owner.path,
            raw_owner.path,
        )

    def plan_pair(self, base_owner: Owner, raw_owner: Owner) -> list[StatePair]:
        base_layer, raw_layer = base_owner.layer, raw_owner.layer
        if is_builtin(base_layer) and is_builtin(raw_layer) and not same_kind(base_layer, raw_layer):
            raise self.trees.mismatch(
                f"layer '{base_owner.path}' is a {type(base_layer).__name__} but its counterpart "
                f"'{raw_owner.path}' is a {type(raw_layer).__name__}",
                "the two models differ in structure here; pair layers explicitly with padiff.LayerMap",
                base_owner.path,
                raw_owner.path,
            )
        return [
            self.trees.state_pair(base_owner, raw_owner, spec) for spec in self.specs(base_owner, raw_owner)
        ]

    def specs(self, base_owner: Owner, raw_owner: Owner) -> list[StateSpec]:
        rule = None
        if same_kind(base_owner.layer, raw_owner.layer) and is_builtin(base_owner.layer):
            rule = rule_for(layer_kind(base_owner.layer), *self.frameworks)
        if rule is None:
            return generic_specs(base_owner, raw_owner, self.trees)
        base_states = layer_states(self.base[0], base_owner)
        raw_states = layer_states(self.raw[0], raw_owner)
        try:
            return rule(base_states, raw_states)
        except WeightTransferError as error:
            raise self.trees.mismatch(
                f"layer '{base_owner.path}' -> '{raw_owner.path}': {str(error).splitlines()[0]}",
                error.hint or "",
                base_owner.path,
                raw_owner.path,
            ) from error

    def special_init(self, base_owner: Owner, raw_owner: Owner) -> SpecialInit | None:
        """The user's special init for this pair; raises when it would have to write into base (paddle)."""
        if not self.use_specials:
            return None
        names = dict(zip(self.frameworks, (type(base_owner.layer).__name__, type(raw_owner.layer).__name__)))
        init = special_init_for(names["paddle"], names["torch"])
        if init is None or self.frameworks[0] == "torch":
            return init
        if same_kind(base_owner.layer, raw_owner.layer) and is_builtin(base_owner.layer):
            if rule_for(layer_kind(base_owner.layer), *self.frameworks) is not None:
                return None  # padiff's own conversion works in this direction
        raise self.trees.mismatch(
            f"layer '{base_owner.path}' (paddle {names['paddle']}) and '{raw_owner.path}' (torch "
            f"{names['torch']}) have a special init registered with padiff.add_special_init, but such a "
            "function copies torch -> paddle and here paddle is the base",
            "make the torch model the base (padiff.compare(torch_model, paddle_model, ...)), or give the "
            "two layers states that pair by name or position",
            base_owner.path,
            raw_owner.path,
        )

    def special_copy(self, base_owner: Owner, raw_owner: Owner, init: SpecialInit) -> SpecialCopy:
        plain = _Planner(self.base, self.raw, self.trees, self.prefixes, False, self.fusions)
        try:
            candidates = tuple(plain.plan_inside(base_owner, raw_owner))
        except WeightTransferError:
            candidates = ()
        return SpecialCopy(
            base_owner.path, raw_owner.path, base_owner.layer, raw_owner.layer, init, candidates
        )

    def plan_inside(self, base_owner: Owner, raw_owner: Owner) -> list[StatePair]:
        """The pairs of two layers planned alone: by a layer rule, by owners inside, else by position."""
        if base_owner.unit and raw_owner.unit and same_kind(base_owner.layer, raw_owner.layer):
            return self.plan_pair(base_owner, raw_owner)
        inner = _Planner(
            (self.base[0], base_owner.layer),
            (self.raw[0], raw_owner.layer),
            self.trees,
            (base_owner.path, raw_owner.path),
            self.use_specials,
            self.fusions,
        )
        try:
            return [p for p in inner.plan_all(set(), set()) if isinstance(p, StatePair)]
        except WeightTransferError:
            return by_position(base_owner, raw_owner, self.trees)

    def plan_mapped(self, base_layer: Any, raw_layer: Any) -> list[StatePair | SpecialCopy]:
        base_owner = self.whole(self.base, base_layer)
        raw_owner = self.whole(self.raw, raw_layer)
        special = self.special_init(base_owner, raw_owner)
        if special is not None:
            return [self.special_copy(base_owner, raw_owner, special)]
        return list(self.plan_inside(base_owner, raw_owner))

    def whole(self, side: tuple[Adapter, Any], layer: Any) -> Owner:
        adapter, root = side
        path = next((p for p, sub in adapter.named_sublayers(root) if sub is layer), "")
        return Owner(path, layer, subtree_states(adapter, layer), unit=self.is_unit(adapter, layer))


def plan_state_pairs(
    base_adapter: Adapter,
    base_model: Any,
    raw_adapter: Adapter,
    raw_model: Any,
    layer_map: LayerMap | None = None,
    resolved: ResolvedMap | None = None,
) -> tuple[list[StatePair], list[SpecialCopy]]:
    """Every paired state, and the pairs a user's special init copies (their grads are paired after it).
    `resolved` is `layer_map` applied to the two models, when the caller has it already."""
    sides = (base_adapter, base_model), (raw_adapter, raw_model)
    if resolved is None:
        from ..match.layermap import LayerMap  # weights come before matching; a LayerMap is only data here

        resolved = (layer_map or LayerMap()).resolve(base_adapter, base_model, raw_adapter, raw_model)
    rules = layer_map.weight_rules if layer_map is not None else ()
    planner = _Planner(*sides, Trees(*sides, rules), fusions=resolved.fusions)
    mapped = resolved.pairs
    skip_base, skip_raw = resolved.base_skips, resolved.raw_skips
    if layer_map is not None and layer_map.renames_params:
        fused_base, fused_raw = (set(members) for members in planner.members)
        planned: list[Any] = plan_renamed(
            planner.trees, layer_map, skip_base | fused_base, skip_raw | fused_raw
        )
        planned.extend(p for fusion in resolved.fusions for p in fusion_pairs(fusion, planner.trees))
    else:
        planned = planner.plan_all(skip_base, skip_raw)
    for base_layer, raw_layer in mapped:
        planned.extend(planner.plan_mapped(base_layer, raw_layer))
    plan = [p for p in planned if isinstance(p, StatePair)]
    return plan, [p for p in planned if isinstance(p, SpecialCopy)]


def transfer_weights(
    base_adapter: Adapter,
    base_model: Any,
    raw_adapter: Adapter,
    raw_model: Any,
    layer_map: LayerMap | None = None,
    resolved: ResolvedMap | None = None,
) -> list[StatePair]:
    """Copy every paired state of base into raw (all planned before the first write); returns the pairs."""
    plan, specials = plan_state_pairs(base_adapter, base_model, raw_adapter, raw_model, layer_map, resolved)
    for pair in plan:
        raw_adapter.assign(pair.raw_tensor, pair.base_value(base_adapter))
    for copy in specials:
        _run_special(copy)
        plan.extend(p for p in copy.candidates if _holds(p, base_adapter, raw_adapter))
    return plan


def _run_special(copy: SpecialCopy) -> None:
    try:
        copy.init.func(copy.raw_layer, copy.base_layer)
    except Exception as error:
        raise WeightTransferError(
            f"the special init for paddle {copy.init.paddle_name} '{copy.raw_path}' and torch "
            f"{copy.init.torch_name} '{copy.base_path}' raised {type(error).__name__}: {error}",
            hint="fix the function given to padiff.add_special_init (it is called as func(paddle_layer, torch_module))",
        ) from error


def _holds(pair: StatePair, base_adapter: Adapter, raw_adapter: Adapter) -> bool:
    """Whether raw's state now holds what the pair says it is made from (after a special init)."""
    raw_value = raw_adapter.to_numpy(pair.raw_tensor)
    base_value = pair.base_value(base_adapter)
    return raw_value.shape == base_value.shape and np.array_equal(
        raw_value, base_value.astype(raw_value.dtype)
    )
