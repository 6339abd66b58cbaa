"""padiff.localize on synthetic call trees and pairs: which check fails first, and who is blamed."""

from __future__ import annotations

import numpy as np

from padiff.capture.calltree import CallTree
from padiff.judge.metrics import compare_arrays
from padiff.judge.records import LayerDiff, Phase, Where
from padiff.localize.culprit import Kind, find_culprit, first_failure, regrouped

from .trees import TreeBuilder

SAME = compare_arrays(np.ones(4, np.float32), np.ones(4, np.float32))
DIFFERENT = compare_arrays(np.ones(4, np.float32), np.full(4, 2.0, np.float32))
RESHAPED = compare_arrays(np.ones((2, 4), np.float32), np.ones((2, 8), np.float32))


def _tree() -> CallTree:
    t = TreeBuilder()
    with t.call("", "Net"):
        with t.call("block", "Block"):
            t.leaf("block.fc", "Linear")
            with t.call("block.seq", "Sequential", builtin=True, transparent=True):
                t.leaf("block.seq.0", "ReLU")
        t.leaf("head", "Linear")
    return t.tree


def _diff(tree: CallTree, path: str, where: Where, passed: bool, diff=None) -> LayerDiff:
    node = next(n for n in tree if n.path == path)
    phase = Phase.FORWARD if where in (Where.INPUT, Where.OUTPUT) else Phase.BACKWARD
    return LayerDiff(
        phase=phase, step=0, where=where, order=0, base_path=path, raw_path=path, base_type=node.cls,
        raw_type=node.cls, call=0, leaf="out", diff=diff or (SAME if passed else DIFFERENT),
        base_id=node.id, raw_id=node.id,
    )  # fmt: skip


def test_a_layer_whose_inputs_agree_but_output_differs_is_the_culprit():
    tree = _tree()
    failure = _diff(tree, "block.fc", Where.OUTPUT, passed=False)
    culprit = find_culprit(failure, tree, tree)
    assert (culprit.base_path, culprit.kind) == ("block.fc", Kind.LAYER)
    assert "inputs agree but its output differs" in culprit.reason


def test_an_input_that_differs_blames_the_solid_parents_own_code():
    tree = _tree()
    failure = _diff(tree, "block.seq.0", Where.INPUT, passed=False)
    culprit = find_culprit(failure, tree, tree)
    assert culprit.base_path == "block"  # the Sequential in between is looked through
    assert "its own code" in culprit.reason and "'block.seq.0'" in culprit.reason


def test_an_input_of_the_root_that_differs_is_the_model_inputs():
    tree = _tree()
    culprit = find_culprit(_diff(tree, "", Where.INPUT, passed=False), tree, tree)
    assert culprit.base_path == "" and culprit.reason == "the model inputs differ"


def test_a_gradient_arriving_at_the_root_that_differs_is_the_loss():
    tree = _tree()
    culprit = find_culprit(_diff(tree, "", Where.GRAD_OUT, passed=False), tree, tree)
    assert "check loss_fn" in culprit.reason


def test_the_first_failure_follows_the_order_of_the_phases():
    tree = _tree()
    forward = [_diff(tree, "block.fc", Where.OUTPUT, True), _diff(tree, "head", Where.OUTPUT, False)]
    backward = [_diff(tree, "block.fc", Where.GRAD_IN, False)]
    assert first_failure(forward, backward).base_path == "head"
    assert first_failure([forward[0]], backward).base_path == "block.fc"
    assert first_failure([forward[0]], []) is None


def test_a_boundary_drawn_elsewhere_is_excused_only_when_the_parent_agrees():
    tree = _tree()
    child = _diff(tree, "block", Where.OUTPUT, passed=False, diff=RESHAPED)
    parent_ok = _diff(tree, "", Where.OUTPUT, passed=True)
    assert regrouped([child, parent_ok], tree, tree) == [child]
    parent_bad = _diff(tree, "", Where.OUTPUT, passed=False)
    assert regrouped([child, parent_bad], tree, tree) == []  # negative control: the whole model differs
    same_shape = _diff(tree, "block", Where.OUTPUT, passed=False)
    assert regrouped([same_shape, parent_ok], tree, tree) == []  # a value difference is never excused
