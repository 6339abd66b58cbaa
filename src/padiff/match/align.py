"""Pair raw's layer calls with base's, online, as raw runs.

Matching rule. Each call is paired among the children of its parent's partner (containers such as
Sequential, and layers given to LayerMap.ignore, are looked through: they need no counterpart). Among
the not yet paired candidates, in this order of preference:
  1. the partner LayerMap.map names;
  2. the candidate with the same attribute name relative to the parent (ports keep names);
  3. the next candidate in call order, if it is of the same kind (built-in classes: `kinds.layer_kind`;
     user classes: any user class);
  4. the first later candidate of the same kind (user classes: of the same class name);
  5. the next candidate in call order, if both are user classes or built-ins of one family
     (`kinds.KIND_FAMILIES`): a changed class at the same place, e.g. ReLU -> GELU, is a difference of
     that layer, not a missing layer.
Ports also regroup layers: a built-in call with no candidate is looked for inside the user-class
candidates (a flat conv/bn/relu on one side, a fused ConvBN layer on the other), and a user-class call
with no candidate is looked through, its sublayers paired in its place.
A call whose parent has no partner has none either. Calls left without partner are listed, not fatal.
"""

from __future__ import annotations

from ..capture.calltree import CallNode
from .kinds import kind_family

__all__ = ["Aligner"]


def _relative(path: str, parent_path: str) -> str:
    if parent_path == "":
        return path
    prefix = parent_path + "."
    return path[len(prefix) :] if path.startswith(prefix) else path


class Aligner:
    def __init__(self, base_nodes: list[CallNode], mapped_paths: dict[str, str] | None = None):
        self.base_nodes = base_nodes
        self.mapped_paths = mapped_paths or {}
        self.visible = {node.id: self._visible_children(node) for node in base_nodes}
        self.cursor: dict[int, int] = {}
        self.matched: set[int] = set()
        self.raw_nodes: dict[int, CallNode] = {}
        self.partner: dict[int, int] = {}  # raw node id -> base node id
        self.through: set[int] = set()  # raw user-class calls looked through

    def _visible_children(self, node: CallNode) -> list[int]:
        out: list[int] = []
        for child_id in node.children:
            child = self.base_nodes[child_id]
            if child.transparent:
                out.extend(self._visible_children(child))
            else:
                out.append(child_id)
        return out

    def _effective_parent(self, raw: CallNode) -> CallNode | None:
        """Nearest ancestor that is not transparent nor looked through."""
        parent_id = raw.parent
        while parent_id is not None and (self.raw_nodes[parent_id].transparent or parent_id in self.through):
            parent_id = self.raw_nodes[parent_id].parent
        return None if parent_id is None else self.raw_nodes[parent_id]

    def match(self, raw: CallNode) -> int | None:
        """The base call paired with raw call `raw`, or None; transparent calls are never paired."""
        self.raw_nodes[raw.id] = raw
        if raw.transparent or not self.base_nodes:
            return None
        if raw.parent is None:
            base_id = 0 if not self.base_nodes[0].transparent else None
        else:
            base_id = self._match_child(raw)
        if base_id is not None:
            self.partner[raw.id] = base_id
            self.matched.add(base_id)
        return base_id

    def _match_child(self, raw: CallNode) -> int | None:
        if raw.path in self.mapped_paths:
            want = self.mapped_paths[raw.path]
            return next((n.id for n in self.base_nodes if n.path == want and n.id not in self.matched), None)
        raw_parent = self._effective_parent(raw)
        if raw_parent is None or raw_parent.id not in self.partner:
            return None
        base_parent = self.base_nodes[self.partner[raw_parent.id]]
        if base_parent.opaque:
            return None
        candidates = [c for c in self.visible[base_parent.id] if c not in self.matched]
        cursor = self.cursor.get(base_parent.id, 0)
        later = [c for c in candidates if self.visible[base_parent.id].index(c) >= cursor]
        chosen = self._choose(raw, raw_parent, base_parent, candidates, later)
        if chosen is not None:
            self._advance(chosen)
            return chosen
        if raw.builtin:
            chosen = self._inside_user_candidates(raw, candidates)
            if chosen is not None:
                self._advance(chosen)
            return chosen
        self.through.add(raw.id)
        return None

    def _advance(self, chosen: int) -> None:
        """Move the cursor of the chosen call's parent past it, and each higher ancestor's up to the
        user layer it lies in (which may hold more calls to pair)."""
        node, step = self.base_nodes[chosen], 1
        while node.parent is not None:
            parent = self._solid_parent(node)
            if parent is None:
                return
            visible = self.visible[parent.id]
            if node.id in visible:
                self.cursor[parent.id] = max(self.cursor.get(parent.id, 0), visible.index(node.id) + step)
            node, step = parent, 0

    def _solid_parent(self, node: CallNode) -> CallNode | None:
        parent_id = node.parent
        while parent_id is not None and self.base_nodes[parent_id].transparent:
            parent_id = self.base_nodes[parent_id].parent
        return None if parent_id is None else self.base_nodes[parent_id]

    def _inside_user_candidates(self, raw: CallNode, candidates: list[int]) -> int | None:
        """The first unpaired call of raw's kind inside the user-class candidates, depth first."""
        stack = [c for c in reversed(candidates) if not self.base_nodes[c].builtin]
        while stack:
            node = self.base_nodes[stack.pop()]
            for child in self.visible[node.id]:
                if child not in self.matched and self._same_kind(self.base_nodes[child], raw):
                    return child
            stack.extend(c for c in reversed(self.visible[node.id]) if not self.base_nodes[c].builtin)
        return None

    def _choose(
        self,
        raw: CallNode,
        raw_parent: CallNode,
        base_parent: CallNode,
        candidates: list[int],
        later: list[int],
    ) -> int | None:
        nodes = self.base_nodes
        name = _relative(raw.path, raw_parent.path)
        for c in candidates:
            if _relative(nodes[c].path, base_parent.path) == name:
                return c
        if later and self._same_kind(nodes[later[0]], raw):
            return later[0]
        for c in later:
            if self._same_kind(nodes[c], raw) and (raw.builtin or nodes[c].kind == raw.kind):
                return c
            if raw.builtin and not nodes[c].builtin:  # a user layer in between may hold it (fused ports)
                inside = self._inside_user_candidates(raw, [c])
                if inside is not None:
                    return inside
        if later and self._same_family(nodes[later[0]], raw):
            return later[0]
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
        return [n for n in self.base_nodes if not n.transparent and n.id not in self.matched]

    def unmatched_raw(self) -> list[CallNode]:
        return [
            n
            for n in self.raw_nodes.values()
            if not n.transparent and n.id not in self.partner and n.id not in self.through
        ]
