"""padiff.match.align on synthetic call trees: each matching rule, the reason it records, and its cost."""

from __future__ import annotations

import dataclasses

import pytest

from padiff.capture.calltree import CallTree
from padiff.match.align import Aligner, PairedBy

from .trees import TreeBuilder


def align(base: CallTree, raw: CallTree, mapped: dict[str, str] | None = None) -> Aligner:
    """Pair raw's calls as a run does: each call is matched right after it enters the raw tree."""
    aligner = Aligner(base, mapped)
    live = CallTree()
    aligner.on_start(live)
    for node in raw:
        aligner.match(live.add(dataclasses.replace(node, children=[])))
    return aligner


def pairs(aligner: Aligner) -> dict[str, tuple[str, PairedBy]]:
    """{raw path: (base path, why)} of every paired call (the last call of each path)."""
    return {
        aligner.raw[r].path: (aligner.base[b].path, aligner.paired_by[r]) for r, b in aligner.partner.items()
    }


def _mlp(names: tuple[str, str, str], acts: tuple[str, str] = ("ReLU", "ReLU")) -> CallTree:
    t = TreeBuilder()
    with t.call("", "Net"):
        t.leaf(names[0], "Linear")
        t.leaf(names[1], acts[0])
        t.leaf(names[2], "Linear")
    return t.tree


def test_same_names_pair_by_name_and_the_root_by_being_the_root():
    result = pairs(align(_mlp(("fc1", "act", "fc2")), _mlp(("fc1", "act", "fc2"))))
    assert result == {"": ("", PairedBy.ROOT), "fc1": ("fc1", PairedBy.NAME), "act": ("act", PairedBy.NAME),
                      "fc2": ("fc2", PairedBy.NAME)}  # fmt: skip


def test_other_names_pair_in_call_order_when_the_kinds_agree():
    result = pairs(align(_mlp(("fc1", "act", "fc2")), _mlp(("l0", "a0", "l1"))))
    assert result["l0"] == ("fc1", PairedBy.ORDER) and result["l1"] == ("fc2", PairedBy.ORDER)


def test_a_changed_activation_pairs_by_family_but_a_linear_never_pairs_with_an_activation():
    result = pairs(align(_mlp(("fc1", "act", "fc2")), _mlp(("l0", "a0", "l1"), acts=("GELU", "ReLU"))))
    assert result["a0"] == ("act", PairedBy.FAMILY)
    t = TreeBuilder()
    with t.call("", "Net"):
        t.leaf("l0", "Linear")
        t.leaf("extra", "Linear")  # one more Linear where base has an activation
        t.leaf("l1", "Linear")
    result = pairs(align(_mlp(("fc1", "act", "fc2")), t.tree))
    assert result["l0"] == ("fc1", PairedBy.ORDER)
    assert result["extra"] == ("fc2", PairedBy.KIND)  # the first later Linear
    assert "l1" not in result  # nothing left to pair with; ReLU is never taken for a Linear


def test_a_flat_builtin_is_found_inside_a_fused_user_layer():
    base = TreeBuilder()
    with base.call("", "Net"):
        with base.call("block", "ConvBN"):
            base.leaf("block.conv", "Conv2d")
            base.leaf("block.bn", "BatchNorm2d")
        base.leaf("head", "Linear")
    raw = TreeBuilder()
    with raw.call("", "Net"):
        raw.leaf("conv", "Conv2d")
        raw.leaf("bn", "BatchNorm2d")
        raw.leaf("head", "Linear")
    aligner = align(base.tree, raw.tree)
    result = pairs(aligner)
    assert result["conv"] == ("block.conv", PairedBy.INSIDE) and result["bn"] == ("block.bn", PairedBy.INSIDE)
    assert result["head"] == ("head", PairedBy.NAME)
    assert [n.path for n in aligner.looked_into_base()] == ["block"]  # base's fused layer: looked into,
    assert aligner.unmatched_base() == []  # not "without counterpart"


def test_a_user_layer_without_counterpart_is_looked_through():
    base = _mlp(("fc1", "act", "fc2"))
    raw = TreeBuilder()
    with raw.call("", "Net"):
        with raw.call("wrap", "Wrapper"):
            raw.leaf("wrap.fc1", "Linear")
            raw.leaf("wrap.act", "ReLU")
        raw.leaf("fc2", "Linear")
    aligner = align(base, raw.tree)
    result = pairs(aligner)
    assert "wrap" not in result and [aligner.raw[i].path for i in aligner.through] == ["wrap"]
    assert result["wrap.fc1"] == ("fc1", PairedBy.ORDER) and result["fc2"] == ("fc2", PairedBy.NAME)
    assert aligner.unmatched_raw() == [] and aligner.unmatched_base() == []


def test_layer_map_pairs_name_the_partner():
    result = pairs(align(_mlp(("fc1", "act", "fc2")), _mlp(("x", "y", "z")), mapped={"x": "fc2", "z": "fc1"}))
    assert result["x"] == ("fc2", PairedBy.MAP) and result["z"] == ("fc1", PairedBy.MAP)
    assert result["y"] == ("act", PairedBy.KIND)


def test_calls_without_partner_are_listed_not_fatal():
    t = TreeBuilder()
    with t.call("", "Net"):
        t.leaf("fc1", "Linear")
    aligner = align(_mlp(("fc1", "act", "fc2")), t.tree)
    assert [n.path for n in aligner.unmatched_base()] == ["act", "fc2"]


def _loop(n: int, name: str) -> CallTree:
    t = TreeBuilder()
    with t.call("", "Loop"):
        for _ in range(n):
            with t.call(name, "Cell"):
                t.leaf(f"{name}.fc", "Linear")
                t.leaf(f"{name}.act", "Tanh")
    return t.tree


@pytest.mark.parametrize("raw_name", ["cell", "step"])  # paired by name, or (other names) by call order
def test_a_layer_called_ten_thousand_times_aligns_in_linear_operations(raw_name):
    counts = {}
    for n in (1_000, 10_000):
        aligner = align(_loop(n, "cell"), _loop(n, raw_name))
        assert len(aligner.partner) == 1 + 3 * n  # every call paired...
        cells = [
            (aligner.raw[r], aligner.base[b])
            for r, b in aligner.partner.items()
            if aligner.raw[r].cls == "Cell"
        ]
        assert all(r.call == b.call for r, b in cells)  # ...with the base call of the same iteration
        counts[n] = aligner.operations[0]
    assert counts[10_000] <= 10 * len(_loop(10_000, "cell"))  # a few operations per call
    assert counts[10_000] / counts[1_000] < 12  # ten times the calls, about ten times the work


def test_the_operation_count_grows_when_the_work_does():
    """Negative control for the scaling check: more calls to pair cost more counted operations."""
    small, large = align(_loop(10, "cell"), _loop(10, "cell")), align(_loop(100, "cell"), _loop(100, "cell"))
    assert large.operations[0] > 5 * small.operations[0]
