"""Which way round one 2-D state is copied: by the rule for its pair of classes, else by its shape.

Rule (`orient`): a pair of classes with a rule (`rules.storage`) is converted as the rule says (a 2-D
state it names is transposed, anything else copied as is). For a pair no rule knows, each 2-D state is
fitted by shape, and only when exactly one orientation fits: as is, or transposed; the fit is recorded
on the state pair (`StatePair.fitted`) and the report says so (`fitted_notes`). A square state of an
unknown pair fits both ways: that is a `WeightTransferError` naming both classes and the rule to give.
States of any other rank are copied as is (a shape that does not fit is reported by the shape check).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..errors import WeightTransferError
from .layer_rules import same, transposed
from .rules import PairRule, storage

__all__ = ["Held", "orient", "fitted_notes"]

Transform = Callable[[tuple[np.ndarray, ...]], np.ndarray]


@dataclass(frozen=True)
class Held:
    """One state where it lives: the layer holding it directly, its name there, its full name, its shape."""

    layer: Any
    name: str
    key: str
    shape: tuple[int, ...]


class _Trees(Protocol):  # the part of `pairs.Trees` used here
    frameworks: tuple[str, str]
    rules: tuple[PairRule, ...]

    def mismatch(self, message: str, hint: str, base_path: str, raw_path: str) -> WeightTransferError: ...


def orient(trees: _Trees, base: Held, raw: Held, paths: tuple[str, str]) -> tuple[Transform, str]:
    """(transform, fit) for one state: fit is "" when a rule decided, else "as is" / "transposed"."""
    base_fw, raw_fw = trees.frameworks
    rule = storage((base.layer, base_fw), (raw.layer, raw_fw), trees.rules)
    if len(base.shape) != 2:
        return same, ""
    if rule is not None:
        return (transposed if rule.transposes(base.name, raw.name) else same), ""
    as_is, flipped = base.shape == raw.shape, base.shape[::-1] == raw.shape
    if as_is and flipped:
        raise _square_error(trees, base, raw, paths)
    if flipped:
        return transposed, "transposed"
    return same, "as is" if as_is else ""


def _class_name(layer: Any) -> str:
    return type(layer).__name__


def _square_error(trees: _Trees, base: Held, raw: Held, paths: tuple[str, str]) -> WeightTransferError:
    base_fw, raw_fw = trees.frameworks
    base_cls, raw_cls = _class_name(base.layer), _class_name(raw.layer)
    torch_cls, paddle_cls = (
        (base_cls, raw_cls) if base_fw == "torch" or raw_fw == "paddle" else (raw_cls, base_cls)
    )
    return trees.mismatch(
        f"cannot tell which way round to copy '{base.key}' {list(base.shape)} ({base_fw} {base_cls}) into "
        f"'{raw.key}' {list(raw.shape)} ({raw_fw} {raw_cls}): padiff has no rule for this pair of classes, and a "
        "square weight fits both as is and transposed",
        f"say how {raw_cls} stores it against {base_cls}: layer_map = padiff.LayerMap(); "
        f"layer_map.weight_rule({torch_cls}, {paddle_cls}, transpose=False) (or transpose=True, or the names "
        "of the states kept transposed), then padiff.compare(..., layer_map=layer_map)",
        *paths,
    )


def fitted_notes(pairs: Iterable[Any]) -> list[str]:
    """One note per pair of classes whose 2-D states were fitted by shape (pairs carry `fitted`)."""
    by_classes: dict[str, list[str]] = {}
    for pair in pairs:
        if pair.fitted:
            classes, _, copied = pair.fitted.partition(": ")
            by_classes.setdefault(classes, []).append(copied)
    notes = []
    for classes, copies in by_classes.items():
        shown = "; ".join(copies[:4]) + (f"; and {len(copies) - 4} more" if len(copies) > 4 else "")
        notes.append(
            f"weights: fitted by shape (no rule for {classes}; only one orientation fits each): {shown}"
        )
    return notes
