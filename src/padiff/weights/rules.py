"""How one layer's 2-D states are stored on each side: conversions keyed by the *pair* of classes, as data.

A `PairRule` names two classes (`ClassKey`: a built-in layer by its kind and framework, any other class
by its name and the package that defines it) and which of their 2-D states one stores transposed
against the other; it holds in either direction (either side may be base). How a pair is decided
(`storage`):

1. the rules the user gave (`LayerMap.weight_rule`), then the built-in ones (`PAIR_RULES`);
2. two built-in layers of one kind store alike unless a rule says otherwise (Conv, Embedding, norms ...),
   and so do two layers of one class in one framework, and a user class paired with its namesake (a
   port keeps the layouts of the class it ports);
3. any other pair is *unknown*: `None`, and `pairs.state_transform` fits each 2-D state by shape, only
   when exactly one orientation fits.

Parameters are named in torch's spelling; `STATE_NAMES` translates paddle's. Layers converted as a whole
(packed attention, recurrent layers, norms) have their rules in `layer_rules`; fused and split weights
(q/k/v, gate/up) in `fused` and `fusion_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..match.kinds import is_builtin, layer_kind

__all__ = ["ClassKey", "PairRule", "PAIR_RULES", "STATE_NAMES", "torch_state_name", "storage", "class_key_of"]

# paddle state name -> torch state name
STATE_NAMES = {"_mean": "running_mean", "_variance": "running_var", "_weight": "weight"}


def torch_state_name(name: str) -> str:
    return STATE_NAMES.get(name, name)


@dataclass(frozen=True)
class ClassKey:
    """One class of layers: a built-in kind of one framework, or a class by name (and defining package)."""

    name: str  # built-in: the kind ("linear"); otherwise the class name ("LMHead")
    framework: str = ""  # "torch" / "paddle"; "" = either
    builtin: bool = False
    package: str = ""  # top-level package that defines the class ("paddleformers"); "" = any
    cls: type | None = None  # this very class (rules the user gives with class objects)

    def matches(self, layer: Any, framework: str) -> bool:
        if self.framework and self.framework != framework:
            return False
        if self.cls is not None:
            return type(layer) is self.cls
        if self.builtin:
            return is_builtin(layer) and layer_kind(layer) == self.name
        if type(layer).__name__ != self.name:
            return False
        return not self.package or type(layer).__module__.split(".")[0] == self.package

    def __str__(self) -> str:
        if self.cls is not None:
            return f"{self.cls.__module__}.{self.cls.__qualname__}"
        where = self.package or self.framework
        return f"{where} {self.name}".strip() if not self.builtin else f"{self.framework}.nn {self.name}"


def class_key_of(cls: Any) -> ClassKey:
    """A user's class (a type, or a class name) as a `ClassKey`."""
    if isinstance(cls, str):
        return ClassKey(cls)
    framework = cls.__module__.split(".")[0]
    return ClassKey(cls.__name__, framework if framework in ("torch", "paddle") else "", cls=cls)


@dataclass(frozen=True)
class PairRule:
    """How two classes store their 2-D states against each other: `transpose` names the states (torch
    spelling) one keeps transposed against the other; True means every 2-D state, False none."""

    first: ClassKey
    second: ClassKey
    transpose: frozenset[str] | bool = False
    why: str = ""

    def matches(self, base: tuple[Any, str], raw: tuple[Any, str]) -> bool:
        (base_layer, base_fw), (raw_layer, raw_fw) = base, raw
        forward = self.first.matches(base_layer, base_fw) and self.second.matches(raw_layer, raw_fw)
        return forward or (self.first.matches(raw_layer, raw_fw) and self.second.matches(base_layer, base_fw))

    def transposes(self, *names: str) -> bool:
        """Whether a 2-D state, named `names` on the two sides (any spelling), is stored transposed."""
        if isinstance(self.transpose, bool):
            return self.transpose
        return any(torch_state_name(name) in self.transpose for name in names)


def _builtin(framework: str, kind: str) -> ClassKey:
    return ClassKey(kind, framework, builtin=True)


PAIR_RULES: tuple[PairRule, ...] = (
    PairRule(
        _builtin("torch", "linear"),
        _builtin("paddle", "linear"),
        frozenset({"weight"}),
        "torch Linear keeps weight [out, in], paddle Linear [in, out]",
    ),
    PairRule(
        _builtin("torch", "linear"),
        ClassKey("LMHead", "paddle", package="paddleformers"),
        False,
        "paddleformers' LMHead keeps weight [vocab, hidden] as torch's Linear does (matmul transpose_y)",
    ),
)

# what `storage` answers for pairs that need no rule
SAME = PairRule(ClassKey("*"), ClassKey("*"), False, "the same class")


def storage(
    base: tuple[Any, str], raw: tuple[Any, str], user_rules: tuple[PairRule, ...] = ()
) -> PairRule | None:
    """The rule for two layers given as (layer, framework): the user's, a built-in one, `SAME` for pairs
    that store alike (see the module docstring), or None for a pair no rule knows."""
    for rule in (*user_rules, *PAIR_RULES):
        if rule.matches(base, raw):
            return rule
    (base_layer, base_fw), (raw_layer, raw_fw) = base, raw
    if is_builtin(base_layer) and is_builtin(raw_layer) and layer_kind(base_layer) == layer_kind(raw_layer):
        return SAME
    if base_fw == raw_fw and type(base_layer) is type(raw_layer):
        return SAME
    if not is_builtin(base_layer) and not is_builtin(raw_layer):
        return SAME if type(base_layer).__name__ == type(raw_layer).__name__ else None
    return None
