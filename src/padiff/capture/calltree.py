"""The call tree of one run: one node per layer call, in the order the calls began.

A node's `parent` is the layer call it happened inside (None for the root). Containers such as
Sequential, and layers given to LayerMap.ignore, are `transparent`: they need no counterpart, and the
layers called inside them count as children of their nearest non-transparent ancestor, the *solid
parent*. The tree answers, in constant time, a node's solid parent, the calls it holds seen through
transparent ones (its *visible children*), and a node's position among its solid parent's visible
children. Alignment, localization and reports all walk the tree through these, never by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CallNode", "CallTree"]


@dataclass
class CallNode:
    """One call of one layer."""

    id: int
    path: str
    cls: str
    kind: str
    builtin: bool
    call: int  # 0 for the first call of this layer in the run, 1 for the second, ...
    parent: int | None
    site: str  # where the user's code called it
    defined: str  # where its forward is defined
    transparent: bool = False  # needs no counterpart (container, LayerMap.ignore)
    opaque: bool = False  # compared at its boundary only (LayerMap.map)
    fused: str = ""  # an activation the layer applies to its own output (paddle BatchNorm(act=...))
    inputs: tuple[
        str, ...
    ] = ()  # keys of its tensor inputs, positional ones named by its forward's signature
    children: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CallNode:
        return cls(
            **{**data, "inputs": tuple(data.get("inputs", ())), "children": list(data.get("children", []))}
        )


class CallTree:
    """The nodes of one run by id (ids are positions, 0 is the root), with constant-time structure."""

    def __init__(self) -> None:
        self.nodes: list[CallNode] = []
        self._solid: list[int | None] = []  # node id -> its solid parent's id
        self._visible: dict[int, list[int]] = {}  # node id -> its visible children, in call order
        self._position: list[int] = []  # node id -> index among its solid parent's visible children

    def add(self, node: CallNode) -> CallNode:
        """Append the next call; its parent (if any) was added before it."""
        if node.id != len(self.nodes):
            raise ValueError(f"call {node.id} added as call {len(self.nodes)}")
        solid = None
        if node.parent is not None:
            parent = self.nodes[node.parent]
            parent.children.append(node.id)
            solid = parent.id if not parent.transparent else self._solid[parent.id]
        self.nodes.append(node)
        self._solid.append(solid)
        position = -1
        if solid is not None and not node.transparent:
            visible = self._visible.setdefault(solid, [])
            position = len(visible)
            visible.append(node.id)
        self._position.append(position)
        return node

    @classmethod
    def of(cls, nodes: list[CallNode]) -> CallTree:
        """A tree of nodes already made (e.g. read back from a dump), children lists rebuilt."""
        tree = cls()
        for node in nodes:
            node.children = []
            tree.add(node)
        return tree

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[CallNode]:
        return iter(self.nodes)

    def __getitem__(self, node_id: int) -> CallNode:
        return self.nodes[node_id]

    def get(self, node_id: int | None) -> CallNode | None:
        return None if node_id is None or not 0 <= node_id < len(self.nodes) else self.nodes[node_id]

    def same_calls(self, other: CallTree) -> bool:
        """Whether `other` is a run with the same calls: the same layers, called in the same order from
        the same places, so that node ids mean the same call in both."""

        def calls(tree: CallTree) -> list[tuple]:
            return [(n.path, n.cls, n.call, n.parent, n.transparent, n.inputs) for n in tree.nodes]

        return len(self.nodes) == len(other.nodes) and calls(self) == calls(other)

    @property
    def root(self) -> CallNode | None:
        return self.nodes[0] if self.nodes else None

    def parent(self, node: CallNode) -> CallNode | None:
        return None if node.parent is None else self.nodes[node.parent]

    def solid_parent(self, node: CallNode) -> CallNode | None:
        """The nearest ancestor that is not transparent."""
        solid = self._solid[node.id]
        return None if solid is None else self.nodes[solid]

    def visible_children(self, node: CallNode) -> list[int]:
        """Ids of the calls inside `node` that need a counterpart, seen through transparent ones."""
        return self._visible.get(node.id, [])

    def position(self, node: CallNode) -> int:
        """Index of `node` among its solid parent's visible children (-1: the root, or transparent)."""
        return self._position[node.id]

    def chain(self, node: CallNode) -> list[CallNode]:
        """`node` and its ancestors, innermost first."""
        out = [node]
        while out[-1].parent is not None:
            out.append(self.nodes[out[-1].parent])
        return out
