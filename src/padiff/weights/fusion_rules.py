"""Where two models fuse differently: fusions declared with LayerMap.fuse, and fusions found by name.

Detection rule (`find_fusions`). Under two layers of the same path, a Linear child that one model has and
the other lacks is *fused* when its name is the other model's missing Linear children's names joined (a
shared suffix kept once): `qkv_proj` from `q_proj`, `k_proj`, `v_proj`; `up_gate_proj` and `gate_up_proj`
from `gate_proj`, `up_proj`. Names only say *that* layers are fused. How the parts lie in the fused
layer comes from `FUSION_RULES` (the fused side's parent class, the fused name, the parts in layout
order, the number of head groups) or from a declaration; a fusion found by name that neither explains is
a `WeightTransferError` saying how to declare it. Layers the LayerMap leaves out are not looked at.
Each rule below was read from the library's source.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, WeightTransferError
from ..frameworks.base import Adapter
from ..match.kinds import is_builtin, layer_kind
from .fused import LINEAR_OUT_AXIS, Fusion, Layout

__all__ = ["FusionRule", "FUSION_RULES", "Declared", "find_fusions"]

Walk = tuple[Adapter, list[tuple[str, Any]]]  # a model's adapter and its (path, layer) list


@dataclass(frozen=True)
class FusionRule:
    """A fused Linear of a library: under a parent of one of `classes` (defined in `package`, or deriving
    from such a class when `subclasses`), the child named one of `fused` is `parts` in this order,
    interleaved per `groups(parent)` head groups (1: concatenated)."""

    package: str
    classes: frozenset[str]
    fused: tuple[str, ...]
    parts: tuple[str, ...]
    groups: Callable[[Any], int]
    why: str
    subclasses: bool = False

    def matches(self, parent: Any, fused_name: str, part_names: set[str]) -> bool:
        if fused_name not in self.fused or set(self.parts) != part_names:
            return False
        classes = type(parent).__mro__ if self.subclasses else (type(parent),)
        return any(c.__name__ in self.classes and c.__module__.split(".")[0] == self.package for c in classes)


def _kv_heads(attention: Any) -> int:
    heads = getattr(attention, "num_key_value_heads", None)
    if heads is None:  # a stand-in for a dumped layer keeps no attributes
        raise WeightTransferError(
            f"the {type(attention).__name__} holding a fused qkv_proj does not say its number of kv heads",
            hint="declare the fusion with its groups (the number of kv heads): LayerMap.fuse, or 'fuse' in a "
            "layer map for dumps",
        )
    return int(heads)


def _concatenated(_: Any) -> int:
    return 1


_GROUPED_QKV = frozenset(
    "Ernie4_5Attention Gemma3Attention Qwen2Attention Qwen3Attention Qwen2MoeAttention Qwen3MoeAttention "
    "Glm4MoeAttention Glm4vMoeTextAttention Qwen2_5_VLAttention Qwen3VLTextAttention Qwen3VLMoeTextAttention".split()
)
QKV = ("q_proj", "k_proj", "v_proj")
GATE_UP = ("gate_proj", "up_proj")

FUSION_RULES: tuple[FusionRule, ...] = (
    FusionRule(
        "paddleformers", _GROUPED_QKV, ("qkv_proj",), QKV, _kv_heads,
        "qkv_proj's output is reshaped to [b, s, kv_heads, (query heads per kv head + 2) * head_dim] and "
        "split per kv head into that kv head's query heads, its k and its v",
    ),
    FusionRule(
        "paddleformers", frozenset({"Phi3Attention"}), ("qkv_proj",), QKV, _concatenated,
        "qkv_proj's output is sliced [q | k | v]",
    ),
    FusionRule(
        "paddleformers", frozenset({"MLP"}), ("up_gate_proj", "gate_up_proj"), GATE_UP, _concatenated,
        "MLP(fuse_up_gate=True) chunks the fused output in two, gate first", subclasses=True,
    ),
    FusionRule(
        "transformers", frozenset({"Phi3Attention"}), ("qkv_proj",), QKV, _concatenated,
        "qkv_proj's output is sliced [q | k | v]",
    ),
    FusionRule(
        "transformers", frozenset({"Phi3MLP"}), ("gate_up_proj",), GATE_UP, _concatenated,
        "gate_up_proj's output is chunked in two, gate first",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Declared:
    """A LayerMap.fuse declaration: `fused` is `parts` (in this order) interleaved per `groups` groups."""

    fused: Any
    parts: tuple[Any, ...]
    groups: int


def _is_linear(layer: Any) -> bool:
    return is_builtin(layer) and layer_kind(layer) == "linear"


def _out_features(adapter: Adapter, layer: Any) -> int:
    weight = dict(adapter.direct_state(layer))["weight"]
    return int(adapter.shape(weight)[LINEAR_OUT_AXIS[adapter.name]])


def _dotted(parent: str, name: str) -> str:
    return f"{parent}.{name}" if parent else name


def _fusion(
    fused: tuple[Adapter, str, Any],
    parts: tuple[Adapter, list[tuple[str, Any]]],
    role: str,
    groups: int,
    source: str,
) -> Fusion:
    """A checked Fusion, `fused` (adapter, path, layer) in the `role` model: Linear layers whose sizes fit
    `groups` and add up to the fused layer's."""
    (fused_adapter, fused_path, fused_layer), (parts_adapter, named_parts) = fused, parts
    named = [(fused_path, fused_layer), *named_parts]
    if not all(_is_linear(layer) for _, layer in named):
        kinds = ", ".join(f"'{path}' {type(layer).__name__}" for path, layer in named)
        raise InputError(f"LayerMap.fuse joins Linear layers only, got {kinds}", hint="declare Linear layers")
    sizes = tuple(_out_features(parts_adapter, layer) for _, layer in named_parts)
    total = _out_features(fused_adapter, fused_layer)
    if sum(sizes) != total or any(size % groups for size in sizes):
        error = WeightTransferError(
            f"'{fused_path}' has {total} output features but its parts "
            f"{[path for path, _ in named_parts]} have {list(sizes)}"
            + (f", which do not split into {groups} head groups" if sum(sizes) == total else ""),
            hint="declare the parts this layer fuses, with the number of head groups they are interleaved by",
        )
        error.paths = (fused_path, named_parts[0][0]) if role == "base" else (named_parts[0][0], fused_path)
        raise error
    return Fusion(role, (fused_path, fused_layer), tuple(named_parts), Layout(groups), sizes, source)


def _decompose(name: str, candidates: Sequence[str]) -> list[str] | None:
    """The candidates whose names joined (with or without "_", a shared suffix kept once) make `name`."""
    for cut in sorted({0, *(i for i, c in enumerate(name) if c == "_")}, reverse=True):
        stem, suffix = (name[:cut], name[cut:]) if cut else (name, "")
        stems = {
            c[: len(c) - len(suffix)]: c for c in candidates if c.endswith(suffix) and len(c) > len(suffix)
        }
        found = _join(stem, stems)
        if found is not None and len(found) > 1:
            return found
    return None


def _join(stem: str, stems: dict[str, str]) -> list[str] | None:
    """Names whose stems, in some order, spell `stem` (separated by "_" or not); None when none do."""
    if not stem:
        return []
    for part, name in stems.items():
        if part and stem.startswith(part):
            tail = _join(stem[len(part) :].lstrip("_"), {p: n for p, n in stems.items() if n != name})
            if tail is not None:
                return [name, *tail]
    return None


def _children(layers: list[tuple[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path, layer in layers:
        if path:
            parent, _, name = path.rpartition(".")
            out.setdefault(parent, {}).setdefault(name, layer)
    return out


def find_fusions(
    base: Walk, raw: Walk, declared: Sequence[Declared], left_out: tuple[set[int], set[int]]
) -> list[Fusion]:
    """The declared fusions, then those found by name (see the module docstring)."""
    fusions = [_declared(base, raw, d) for d in declared]
    taken = {id(layer) for f in fusions for layer in (f.fused[1], *(p for _, p in f.parts))}
    walks, roles = (base, raw), ("base", "raw")
    parents = (dict(base[1]), dict(raw[1]))
    children = (_children(base[1]), _children(raw[1]))
    for parent in [p for p in children[0] if p in children[1]]:
        for side in (0, 1):
            mine, theirs = children[side][parent], children[1 - side][parent]
            missing = [n for n, layer in theirs.items() if n not in mine and _is_linear(layer)]
            for name, layer in mine.items():
                parts = None if name in theirs or not _is_linear(layer) else _decompose(name, missing)
                if not parts:
                    continue
                involved = [(side, layer), *((1 - side, theirs[p]) for p in parts)]
                if any(id(x) in taken or id(x) in left_out[s] for s, x in involved):
                    continue
                fused = (walks[side][0], _dotted(parent, name), layer)
                parts_side = (walks[1 - side][0], {_dotted(parent, p): theirs[p] for p in parts})
                fusions.append(_by_rule(fused, parts_side, roles[side], parents[side][parent]))
                taken.update(id(x) for _, x in involved)
    return fusions


def _by_rule(
    fused: tuple[Adapter, str, Any], parts: tuple[Adapter, dict[str, Any]], role: str, owner: Any
) -> Fusion:
    """The fusion a rule explains, else the error saying how to declare it."""
    fused_path, (parts_adapter, by_path) = fused[1], parts
    parent, _, name = fused_path.rpartition(".")
    names = {path.rpartition(".")[2]: path for path in by_path}
    rule = next((r for r in FUSION_RULES if r.matches(owner, name, set(names))), None)
    if rule is None:
        other, first = ("raw" if role == "base" else "base"), next(iter(by_path))
        error = WeightTransferError(
            f"{role}'s '{fused_path}' (in {type(owner).__name__}) is, by its name, {other}'s "
            f"{', '.join(by_path)} fused into one Linear, but padiff has no rule saying how the parts lie in it",
            hint=f"declare it, for each such layer: layer_map.fuse(<{role} model>.{fused_path}, "
            f"[<{other} model>.{first}, ...], groups=1), the parts in the order the fused layer holds them and "
            "groups the number of head groups they are interleaved by (1: concatenated); offline, 'fuse' in the "
            "layer map",
        )
        error.paths = (fused_path, first) if role == "base" else (first, fused_path)
        raise error
    named = [(names[p], by_path[names[p]]) for p in rule.parts]
    source = f"rule for {rule.package} {type(owner).__name__}: {rule.why}"
    return _fusion(fused, (parts_adapter, named), role, rule.groups(owner), source)


def _declared(base: Walk, raw: Walk, declared: Declared) -> Fusion:
    """A declaration as a Fusion: the fused layer in one model, every part in the other."""
    for role, (fused_walk, parts_walk) in (("raw", (raw, base)), ("base", (base, raw))):
        fused_paths = {id(layer): path for path, layer in reversed(fused_walk[1])}
        part_paths = {id(layer): path for path, layer in reversed(parts_walk[1])}
        if id(declared.fused) in fused_paths and all(id(p) in part_paths for p in declared.parts):
            fused = (fused_walk[0], fused_paths[id(declared.fused)], declared.fused)
            named = [(part_paths[id(p)], p) for p in declared.parts]
            return _fusion(fused, (parts_walk[0], named), role, declared.groups, "LayerMap.fuse")
    raise InputError(
        f"LayerMap.fuse: the fused {type(declared.fused).__name__} and its parts are not one layer of one model "
        "and layers of the other",
        hint="pass the fused layer of one model and the list of its parts in the other model",
    )
