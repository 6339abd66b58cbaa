"""Pairing the calls of layers one model fuses and the other keeps apart (`weights.fused.Fusion`).

Rule. A raw call of a fusion's fused layer (raw fuses) is paired with the first unpaired base call of
each part, in base's call order: the first part's call is its partner, the others are marked paired.
A raw call of one of a fusion's parts (base fuses) is paired with base's call of the fused layer: the
first unpaired one when no group of raw's part calls is open, or when this part was already called in
the open group; the open group's call otherwise (each part once per group). Every such pair is recorded
(`FusedCall`), so that the comparer joins the parts' tensors or cuts the fused one (`judge.fused`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..capture.calltree import CallNode, CallTree
from ..weights.fused import Fusion

__all__ = ["FusedCall", "FusedPairing"]


@dataclass(frozen=True)
class FusedCall:
    """What one raw call was paired with: raw fuses: base's call of each part (`base_ids`, in layout
    order); base fuses: base's call of the fused layer (`base_ids[0]`) and which part raw's call is."""

    fusion: Fusion
    base_ids: tuple[int, ...]
    part: int = -1

    @property
    def fuses(self) -> bool:
        return self.part < 0


class FusedPairing:
    """The fused pairs of one raw run against base's call tree (see the module docstring)."""

    def __init__(
        self, fusions: Sequence[Fusion], base: CallTree, matched: set[int], advance: Callable[[int], None]
    ):
        self.base, self.matched, self.advance = base, matched, advance
        self.roles: dict[str, tuple[Fusion, int]] = {}  # raw path -> (fusion, part index or -1: fused)
        for fusion in fusions:
            if fusion.fused_side == "raw":
                self.roles[fusion.fused[0]] = (fusion, -1)
            else:
                self.roles.update((path, (fusion, index)) for index, (path, _) in enumerate(fusion.parts))
        self.calls: dict[int, FusedCall] = {}  # raw call id -> its fused pair
        self._by_path: dict[str, list[int]] = {}
        self._open: dict[int, tuple[int, set[int]]] = {}  # id(fusion) -> (base call, parts seen)

    def _first_unpaired(self, path: str) -> int | None:
        if path not in self._by_path:
            self._by_path[path] = [n.id for n in self.base if n.path == path and not n.transparent]
        return next((i for i in self._by_path[path] if i not in self.matched), None)

    def match(self, raw: CallNode) -> int | None:
        """The base call `raw` (whose path is in `roles`) is paired with, or None."""
        fusion, part = self.roles[raw.path]
        if part < 0:
            base_ids = [self._first_unpaired(path) for path, _ in fusion.parts]
            if any(i is None for i in base_ids):
                return None
            found = tuple(i for i in base_ids if i is not None)
            self.matched.update(found)
            for base_id in found:
                self.advance(base_id)
            self.calls[raw.id] = FusedCall(fusion, found)
            return found[0]
        base_id, seen = self._open.get(id(fusion), (-1, set()))
        if base_id < 0 or part in seen:
            fresh = self._first_unpaired(fusion.fused[0])
            if fresh is None:
                return None
            base_id, seen = fresh, set()
            self.matched.add(base_id)
            self.advance(base_id)
        seen.add(part)
        self._open[id(fusion)] = (base_id, seen)
        self.calls[raw.id] = FusedCall(fusion, (base_id,), part)
        return base_id
