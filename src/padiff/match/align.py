"""Pair raw's layer calls with base's, online, as raw runs.

Matching rule. Each call is paired among the visible children of its parent's partner (containers such
as Sequential, and layers given to LayerMap.ignore, are looked through: they need no counterpart).
Among the not yet paired candidates, in this order of preference (the `PairedBy` recorded):
  1. MAP: the partner LayerMap.map names;
  2. NAME: the candidate with the same attribute name relative to the parent (ports keep names);
  3. ORDER: the next candidate in call order, if it is of the same kind (built-in classes:
     `kinds.layer_kind`; user classes: any user class);
  4. KIND: the first later candidate of the same kind (user classes: of the same class name);
  5. FAMILY: the next candidate in call order, if both are user classes or built-ins of one family
     (`kinds.KIND_FAMILIES`): a changed class at the same place, e.g. ReLU -> GELU, is a difference of
     that layer, not a missing layer.
Ports also regroup layers: a built-in call with no candidate is looked for INSIDE the user-class
candidates (a flat conv/bn/relu on one side, a fused ConvBN layer on the other), and a user-class call
with no candidate is looked through, its sublayers paired in its place.
A call whose parent has no partner has none either. Calls left without partner are listed, not fatal.
Before all of these, the calls of a layer one model fuses and the other keeps apart (q/k/v, gate/up) are
paired by `fused_calls` (FUSED): raw's fused Linear with base's parts, raw's parts with base's fused one.

Cost: each call is paired in amortised near-constant time (indexes per base parent, by name and by
kind, with "first unpaired at or after" lists), so a layer called n times aligns in O(n log n) or
better; `operations` counts the candidates looked at, for tests that check the scaling.
"""

from __future__ import annotations

from bisect import bisect_left
from enum import Enum

from ..capture.calltree import CallNode, CallTree
from .fused_calls import FusedPairing
from .kinds import kind_family

__all__ = ["Aligner", "PairedBy"]


class PairedBy(str, Enum):
    """Why a raw call was paired with its base call (see the matching rule)."""

    ROOT = "root"
    MAP = "map"
    NAME = "name"
    ORDER = "order"
    KIND = "kind"
    FAMILY = "family"
    INSIDE = "inside"
    FUSED = "fused"  # a fused layer and its parts (`fused_calls`)

    def __str__(self) -> str:
        return self.value


def _relative(path: str, parent_path: str) -> str:
    if parent_path == "":
        return path
    prefix = parent_path + "."
    return path[len(prefix) :] if path.startswith(prefix) else path


class _FreeList:
    """Base call ids in call order; the first one not yet paired at or after a position, found by
    skipping paired ones with path compression (each paired id is skipped about once)."""

    def __init__(self, ids: list[int], paired: set[int], counter: list[int]):
        self.ids, self.paired, self.counter = ids, paired, counter
        self.skip = list(range(len(ids) + 1))
        self.positions: list[int] = []  # set by the caller when it needs `from_position`

    def first(self, start: int = 0) -> int:
        """Index (into ids) of the first unpaired id at or after `start`; len(ids) when none is left."""
        visited, index = [], start
        while index < len(self.ids) and self.ids[index] in self.paired:
            self.counter[0] += 1
            visited.append(index)
            index = max(self.skip[index], index + 1)
        for seen in visited:
            self.skip[seen] = index
        return index

    def first_id(self, start: int = 0) -> int | None:
        index = self.first(start)
        return self.ids[index] if index < len(self.ids) else None

    def from_position(self, position: int) -> int | None:
        """The first unpaired id whose position among all visible children is at least `position`."""
        return self.first_id(bisect_left(self.positions, position))


class _Parent:
    """Indexes over one base call's visible children, made the first time a raw call is paired under it."""

    def __init__(self, tree: CallTree, parent: CallNode, paired: set[int], counter: list[int]):
        children = tree.visible_children(parent)
        self.all = _FreeList(children, paired, counter)
        by_name: dict[str, list[int]] = {}
        by_kind: dict[tuple[bool, str], list[int]] = {}
        users: list[int] = []
        for child_id in children:
            child = tree[child_id]
            by_name.setdefault(_relative(child.path, parent.path), []).append(child_id)
            by_kind.setdefault((child.builtin, child.kind), []).append(child_id)
            if not child.builtin:
                users.append(child_id)
        self.by_name = {name: _FreeList(ids, paired, counter) for name, ids in by_name.items()}
        self.by_kind = {key: self._positioned(tree, ids, paired, counter) for key, ids in by_kind.items()}
        self.users = self._positioned(tree, users, paired, counter)
        self.cursor = 0  # position (among visible children) of the next call expected in order

    @staticmethod
    def _positioned(tree: CallTree, ids: list[int], paired: set[int], counter: list[int]) -> _FreeList:
        free = _FreeList(ids, paired, counter)
        free.positions = [tree.position(tree[i]) for i in ids]
        return free


class Aligner:
    def __init__(self, base_tree: CallTree, mapped_paths: dict[str, str] | None = None):
        self.base = base_tree
        self.raw = CallTree()  # replaced by the raw run's own tree when it starts (`on_start`)
        self.mapped_paths = mapped_paths or {}
        self.matched: set[int] = set()
        self.partner: dict[int, int] = {}  # raw node id -> base node id
        self.paired_by: dict[int, PairedBy] = {}  # raw node id -> why
        self.through: set[int] = set()  # raw user-class calls looked through
        self.operations = [0]  # candidates looked at (a list so the indexes can count into it)
        self._parents: dict[int, _Parent] = {}
        self._by_path: dict[str, _FreeList] = {}
        self.fused = FusedPairing(
            getattr(mapped_paths, "fusions", ()), base_tree, self.matched, self._advance
        )

    def on_start(self, raw_tree: CallTree) -> None:
        self.raw = raw_tree

    def match(self, raw: CallNode) -> int | None:
        """The base call paired with raw call `raw`, or None; transparent calls are never paired."""
        self.operations[0] += 1
        if raw.transparent or not len(self.base):
            return None
        if raw.parent is None:
            base_id, reason = (0, PairedBy.ROOT) if not self.base[0].transparent else (None, PairedBy.ROOT)
        else:
            base_id, reason = self._match_child(raw)
        if base_id is not None:
            self.partner[raw.id] = base_id
            self.paired_by[raw.id] = reason
            self.matched.add(base_id)
            if reason not in (PairedBy.ROOT, PairedBy.MAP, PairedBy.FUSED):
                self._advance(base_id)
        return base_id

    def _parent_index(self, parent: CallNode) -> _Parent:
        if parent.id not in self._parents:
            self._parents[parent.id] = _Parent(self.base, parent, self.matched, self.operations)
        return self._parents[parent.id]

    def _effective_parent(self, raw: CallNode) -> CallNode | None:
        """Nearest ancestor that is not transparent nor looked through."""
        parent = self.raw.solid_parent(raw)
        while parent is not None and parent.id in self.through:
            parent = self.raw.solid_parent(parent)
        return parent

    def _match_child(self, raw: CallNode) -> tuple[int | None, PairedBy]:
        if raw.path in self.fused.roles:
            return self.fused.match(raw), PairedBy.FUSED
        if raw.path in self.mapped_paths:
            return self._mapped(self.mapped_paths[raw.path]), PairedBy.MAP
        raw_parent = self._effective_parent(raw)
        if raw_parent is None or raw_parent.id not in self.partner:
            return None, PairedBy.NAME
        base_parent = self.base[self.partner[raw_parent.id]]
        if base_parent.opaque:
            return None, PairedBy.NAME
        index = self._parent_index(base_parent)
        chosen = self._choose(raw, raw_parent, base_parent, index)
        if chosen[0] is not None:
            return chosen
        if raw.builtin:
            return self._inside_user_candidates(raw, index.users, 0), PairedBy.INSIDE
        self.through.add(raw.id)
        return None, PairedBy.NAME

    def _mapped(self, want: str) -> int | None:
        if want not in self._by_path:
            ids = [n.id for n in self.base if n.path == want]
            self._by_path[want] = _FreeList(ids, self.matched, self.operations)
        return self._by_path[want].first_id()

    def _choose(
        self, raw: CallNode, raw_parent: CallNode, base_parent: CallNode, index: _Parent
    ) -> tuple[int | None, PairedBy]:
        named = index.by_name.get(_relative(raw.path, raw_parent.path))
        by_name = None if named is None else named.first_id()
        if by_name is not None:
            return by_name, PairedBy.NAME
        next_id = index.all.first_id(index.cursor) if index.cursor < len(index.all.ids) else None
        if next_id is not None and self._same_kind(self.base[next_id], raw):
            return next_id, PairedBy.ORDER
        kind_list = index.by_kind.get((raw.builtin, raw.kind))
        same_kind = None if kind_list is None else kind_list.from_position(index.cursor)
        if raw.builtin:  # a user layer before it may hold it (fused ports)
            limit = len(index.all.ids) if same_kind is None else self.base.position(self.base[same_kind])
            inside = self._inside_user_candidates(raw, index.users, index.cursor, limit)
            if inside is not None:
                return inside, PairedBy.INSIDE
        if same_kind is not None:
            return same_kind, PairedBy.KIND
        if next_id is not None and self._same_family(self.base[next_id], raw):
            return next_id, PairedBy.FAMILY
        return None, PairedBy.NAME

    def _advance(self, chosen: int) -> None:
        """Move the cursor of the chosen call's parent past it, and each higher ancestor's up to the
        user layer it lies in (which may hold more calls to pair)."""
        node, step = self.base[chosen], 1
        while node.parent is not None:
            parent = self.base.solid_parent(node)
            if parent is None:
                return
            self.operations[0] += 1
            position = self.base.position(node)
            if position >= 0:
                index = self._parent_index(parent)
                index.cursor = max(index.cursor, position + step)
            node, step = parent, 0

    def _inside_user_candidates(
        self, raw: CallNode, users: _FreeList, start: int, limit: int | None = None
    ) -> int | None:
        """The first unpaired call of raw's kind inside the unpaired user-class candidates at positions
        [start, limit), depth first."""
        candidate = users.from_position(start)
        while candidate is not None:
            position = self.base.position(self.base[candidate])
            if limit is not None and position >= limit:
                return None
            found = self._inside(raw, self.base[candidate])
            if found is not None:
                return found
            following = users.first(bisect_left(users.positions, position + 1))
            candidate = users.ids[following] if following < len(users.ids) else None
        return None

    def _inside(self, raw: CallNode, user: CallNode) -> int | None:
        stack = [user.id]
        while stack:
            node = self.base[stack.pop()]
            children = self.base.visible_children(node)
            for child in children:
                self.operations[0] += 1
                if child not in self.matched and self._same_kind(self.base[child], raw):
                    return child
            stack.extend(c for c in reversed(children) if not self.base[c].builtin)
        return None

    @staticmethod
    def _same_family(base: CallNode, raw: CallNode) -> bool:
        if base.builtin != raw.builtin:
            return False
        return not base.builtin or kind_family(base.kind) == kind_family(raw.kind)

    @staticmethod
    def _same_kind(base: CallNode, raw: CallNode) -> bool:
        if base.builtin != raw.builtin:
            return False
        return base.kind == raw.kind or not base.builtin

    def unmatched_base(self) -> list[CallNode]:
        """Base calls that need a counterpart and got none, nor had any call inside them paired."""
        looked_into = {n.id for n in self.looked_into_base()}
        return [
            n for n in self.base if not n.transparent and n.id not in self.matched and n.id not in looked_into
        ]

    def looked_into_base(self) -> list[CallNode]:
        """Unpaired base user-class calls some call inside which was paired (a fused layer of base's whose
        parts raw calls one by one): looked into, as raw's are looked through."""
        holders: set[int] = set()
        for base_id in self.matched:
            parent = self.base.solid_parent(self.base[base_id])
            while parent is not None and parent.id not in holders:
                holders.add(parent.id)
                parent = self.base.solid_parent(parent)
        return [n for n in self.base if n.id in holders and n.id not in self.matched and not n.builtin]

    def unmatched_raw(self) -> list[CallNode]:
        return [
            n for n in self.raw if not n.transparent and n.id not in self.partner and n.id not in self.through
        ]
