"""padiff.localize on synthetic call trees and pairs: outputs decide, inputs localize, without frameworks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from padiff.capture.calltree import CallTree
from padiff.judge.metrics import compare_arrays
from padiff.judge.records import LayerDiff, Phase, Where
from padiff.localize.culprit import Checks, Kind, decides, find_culprit, first_failure, regrouped

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


def _diff(tree: CallTree, path: str, where: Where, passed: bool, diff=None, local=None) -> LayerDiff:
    """A check of the call at `path`; `local` (passed or not) makes it a check of an isolated run."""
    node = next(n for n in tree if n.path == path)
    phase = {Where.INPUT: Phase.FORWARD, Where.OUTPUT: Phase.FORWARD, Where.PARAM: Phase.GRAD}.get(
        where, Phase.BACKWARD
    )
    ids = (-1, -1) if where is Where.PARAM else (node.id, node.id)
    return LayerDiff(
        phase=phase, step=0, where=where, order=0, base_path=path, raw_path=path, base_type=node.cls,
        raw_type=node.cls, call=0, leaf="out", diff=diff or (SAME if passed else DIFFERENT),
        base_id=ids[0], raw_id=ids[1], local=None if local is None else (SAME if local else DIFFERENT),
    )  # fmt: skip


def _culprit(tree: CallTree, *diffs: LayerDiff):
    checks = Checks(list(diffs))
    failure = first_failure(list(diffs), checks=checks)
    return None if failure is None else find_culprit(failure, tree, tree, checks)


def test_a_layer_whose_inputs_agree_but_output_differs_is_the_culprit():
    tree = _tree()
    culprit = _culprit(
        tree, _diff(tree, "block.fc", Where.INPUT, True), _diff(tree, "block.fc", Where.OUTPUT, False)
    )
    assert (culprit.base_path, culprit.kind) == ("block.fc", Kind.LAYER)
    assert "inputs agree but its output differs" in culprit.reason


def test_an_input_that_differs_while_the_output_agrees_decides_nothing():
    tree = _tree()
    mask = _diff(tree, "block.seq.0", Where.INPUT, False)  # e.g. -inf against the dtype's minimum
    assert not decides(mask, Checks([mask]))
    assert _culprit(tree, mask, _diff(tree, "block.seq.0", Where.OUTPUT, True)) is None


def test_an_input_that_differs_under_a_differing_output_blames_the_solid_parents_own_code():
    tree = _tree()
    culprit = _culprit(
        tree,
        _diff(tree, "block", Where.INPUT, True),
        _diff(tree, "block.seq.0", Where.INPUT, False),
        _diff(tree, "block.seq.0", Where.OUTPUT, False),
    )
    assert culprit.base_path == "block"  # the Sequential in between is looked through
    assert "its own code" in culprit.reason and "'block.seq.0'" in culprit.reason
    assert culprit.evidence.where is Where.INPUT


def test_the_climb_goes_on_while_the_parents_inputs_differ_too():
    tree = _tree()
    culprit = _culprit(
        tree,
        _diff(tree, "", Where.INPUT, True),
        _diff(tree, "block", Where.INPUT, False),
        _diff(tree, "block.fc", Where.INPUT, False),
        _diff(tree, "block.fc", Where.OUTPUT, False),
    )
    assert culprit.base_path == "" and "'block'" in culprit.reason  # the root's own code fed the block


def test_an_input_of_the_root_that_differs_is_the_model_inputs():
    tree = _tree()
    culprit = _culprit(
        tree,
        _diff(tree, "", Where.INPUT, False),
        _diff(tree, "head", Where.INPUT, False),  # the model's input, passed on by the root
        _diff(tree, "head", Where.OUTPUT, False),
    )
    assert culprit.base_path == "" and culprit.reason == "the model inputs differ"


def test_a_gradient_arriving_at_the_root_that_differs_is_the_loss():
    tree = _tree()
    culprit = _culprit(
        tree,
        _diff(tree, "", Where.GRAD_OUT, False),
        _diff(tree, "head", Where.GRAD_OUT, False),  # the loss gradient, passed on by the root
        _diff(tree, "head", Where.GRAD_IN, False),
    )
    assert culprit.base_path == "" and "check loss_fn" in culprit.reason


def test_a_parameter_gradient_whose_layer_got_a_differing_gradient_blames_where_that_came_from():
    tree = _tree()
    culprit = _culprit(
        tree, _diff(tree, "head", Where.GRAD_OUT, False), _diff(tree, "head", Where.PARAM, False)
    )
    assert culprit.base_path == "" and "sends back a gradient" in culprit.reason
    alone = _culprit(tree, _diff(tree, "head", Where.GRAD_OUT, True), _diff(tree, "head", Where.PARAM, False))
    assert alone.base_path == "head" and alone.reason == "the gradient of its parameter differs"


def test_isolated_runs_blame_the_layer_by_its_local_error_whatever_its_inputs():
    tree = _tree()
    own = _culprit(
        tree,
        _diff(tree, "block.fc", Where.INPUT, False, local=False),
        _diff(tree, "block.fc", Where.OUTPUT, False, local=False),  # wrong even given base's inputs
    )
    assert own.base_path == "block.fc"
    parents = _culprit(
        tree,
        _diff(tree, "block.fc", Where.INPUT, False, local=False),  # the parent computed it differently
        _diff(tree, "block.fc", Where.OUTPUT, False, local=True),  # right given base's inputs
    )
    assert parents.base_path == "block" and parents.evidence.where is Where.INPUT
    harmless = _diff(tree, "block.fc", Where.INPUT, False, local=False)
    assert _culprit(tree, harmless, _diff(tree, "block.fc", Where.OUTPUT, True, local=True)) is None


def test_the_first_failure_follows_the_order_of_the_phases():
    tree = _tree()
    forward = [_diff(tree, "block.fc", Where.OUTPUT, True), _diff(tree, "head", Where.OUTPUT, False)]
    backward = [_diff(tree, "block.fc", Where.GRAD_IN, False)]
    checks = Checks(forward + backward)
    assert first_failure(forward, backward, checks=checks).base_path == "head"
    assert first_failure([forward[0]], backward, checks=checks).base_path == "block.fc"
    assert first_failure([forward[0]], [], checks=checks) is None


def test_a_boundary_drawn_elsewhere_is_excused_only_when_the_parent_agrees():
    tree = _tree()
    child = _diff(tree, "block", Where.OUTPUT, passed=False, diff=RESHAPED)
    parent_ok = _diff(tree, "", Where.OUTPUT, passed=True)
    assert regrouped([child, parent_ok], tree, tree) == [child]
    parent_bad = _diff(tree, "", Where.OUTPUT, passed=False)
    assert regrouped([child, parent_bad], tree, tree) == []  # negative control: the whole model differs
    same_shape = _diff(tree, "block", Where.OUTPUT, passed=False)
    assert regrouped([same_shape, parent_ok], tree, tree) == []  # a value difference is never excused
    assert replace(child, where=Where.INPUT) not in regrouped([replace(child, where=Where.INPUT)], tree, tree)


def test_a_boundary_is_not_excused_when_a_sibling_differs_where_shapes_line_up():
    """A parent can agree over a real difference (a scale-invariant norm after it): the rest of the
    block must agree too, or the shape difference is the first difference, not a boundary."""
    tree = _tree()
    child = _diff(tree, "block", Where.OUTPUT, passed=False, diff=RESHAPED)
    parent_ok = _diff(tree, "", Where.OUTPUT, passed=True)
    sibling_bad = _diff(tree, "head", Where.OUTPUT, passed=False)
    assert regrouped([child, sibling_bad, parent_ok], tree, tree) == []
    sibling_ok = _diff(tree, "head", Where.OUTPUT, passed=True)
    assert regrouped([child, sibling_ok, parent_ok], tree, tree) == [child]  # control
    inner_bad = _diff(tree, "block.fc", Where.OUTPUT, passed=False)  # inside the block: not a sibling
    assert regrouped([child, inner_bad, parent_ok], tree, tree) == [child]
