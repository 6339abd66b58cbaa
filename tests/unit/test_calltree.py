"""padiff.capture.calltree: parents, solid parents, visible children and positions, without frameworks."""

from __future__ import annotations

import pytest

from padiff.capture.calltree import CallNode, CallTree

from .trees import TreeBuilder


def _net() -> TreeBuilder:
    t = TreeBuilder()
    with t.call("", "Net"):
        t.leaf("fc1", "Linear")
        with t.call("seq", "Sequential", builtin=True, transparent=True):
            t.leaf("seq.0", "ReLU")
            with t.call("seq.1", "Sequential", builtin=True, transparent=True):
                t.leaf("seq.1.0", "Tanh")
            with t.call("seq.2", "Block"):
                t.leaf("seq.2.fc", "Linear")
        t.leaf("fc2", "Linear")
    return t


def test_children_are_recorded_in_call_order():
    tree = _net().tree
    assert [tree[i].path for i in tree.root.children] == ["fc1", "seq", "fc2"]
    assert tree.parent(tree[2]) is tree.root and tree.parent(tree.root) is None


def test_transparent_calls_are_seen_through():
    tree = _net().tree
    paths = [tree[i].path for i in tree.visible_children(tree.root)]
    assert paths == ["fc1", "seq.0", "seq.1.0", "seq.2", "fc2"]  # the two Sequentials are looked through
    block = next(n for n in tree if n.path == "seq.2")
    assert [tree[i].path for i in tree.visible_children(block)] == ["seq.2.fc"]


def test_solid_parent_and_position_are_constant_time_lookups():
    tree = _net().tree
    by_path = {n.path: n for n in tree}
    assert tree.solid_parent(by_path["seq.1.0"]) is tree.root  # through two transparent layers
    assert tree.solid_parent(by_path["seq.2.fc"]) is by_path["seq.2"]
    assert tree.solid_parent(tree.root) is None
    assert [tree.position(by_path[p]) for p in ("fc1", "seq.0", "seq.1.0", "seq.2", "fc2")] == [0, 1, 2, 3, 4]
    assert tree.position(by_path["seq"]) == -1  # transparent: no position of its own


def test_a_layer_called_twice_has_two_calls():
    t = TreeBuilder()
    with t.call("", "Loop"):
        for _ in range(3):
            t.leaf("cell", "Linear")
    assert [n.call for n in t.tree if n.path == "cell"] == [0, 1, 2]


def test_a_tree_rebuilt_from_its_nodes_answers_the_same():
    tree = _net().tree
    again = CallTree.of([CallNode.from_dict(n.to_dict()) for n in tree])
    for node in tree:
        assert again.position(again[node.id]) == tree.position(node)
        assert again.visible_children(again[node.id]) == tree.visible_children(node)
        assert again[node.id].children == node.children


def test_nodes_out_of_order_are_refused():
    tree = CallTree()
    node = CallNode(
        id=3, path="", cls="Net", kind="net", builtin=False, call=0, parent=None, site="", defined=""
    )
    with pytest.raises(ValueError):
        tree.add(node)


def test_chain_walks_to_the_root():
    tree = _net().tree
    leaf = next(n for n in tree if n.path == "seq.1.0")
    assert [n.path for n in tree.chain(leaf)] == ["seq.1.0", "seq.1", "seq", ""]
