"""Pair raw's layer calls with base's, online, as raw runs.

Matching rule. Each call is paired among the children of its parent's partner (containers such as
Sequential, and layers given to LayerMap.ignore, are looked through: they need no counterpart). Among
the not yet paired candidates, in this order of preference:
  1. the partner LayerMap.map names;
  2. the candidate with the same attribute name relative to the parent (ports keep names);
  3. the next candidate in call order, if it is of the same kind (`rules.same_kind`);
  4. the first later candidate of the same kind;
  5. the next candidate in call order, if both are built-in or both are user classes (a changed class
     at the same place, e.g. ReLU -> GELU, is a difference of that layer, not a missing layer).
A call whose parent has no partner has none either. Calls left without partner are listed, not fatal.
"""

from __future__ import annotations

from .capture import CallNode

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
        """Nearest ancestor that is not transparent."""
        parent_id = raw.parent
        while parent_id is not None and self.raw_nodes[parent_id].transparent:
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
            self.cursor[base_parent.id] = self.visible[base_parent.id].index(chosen) + 1
        return chosen

    def _choose(
        self, raw: CallNode, raw_parent: CallNode, base_parent: CallNode, candidates, later
    ) -> int | None:
        nodes = self.base_nodes
        name = _relative(raw.path, raw_parent.path)
        for c in candidates:
            if _relative(nodes[c].path, base_parent.path) == name:
                return c
        if later and self._same_kind(nodes[later[0]], raw):
            return later[0]
        for c in later:
            if self._same_kind(nodes[c], raw):
                return c
        if later and nodes[later[0]].builtin == raw.builtin:
            return later[0]
        return None

    @staticmethod
    def _same_kind(base: CallNode, raw: CallNode) -> bool:
        if base.builtin != raw.builtin:
            return False
        return base.kind == raw.kind or not base.builtin

    def unmatched_base(self) -> list[CallNode]:
        return [n for n in self.base_nodes if not n.transparent and n.id not in self.matched]

    def unmatched_raw(self) -> list[CallNode]:
        return [n for n in self.raw_nodes.values() if not n.transparent and n.id not in self.partner]
