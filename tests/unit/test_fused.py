"""padiff.weights.fused (layouts), fusion_rules (names) and match.fused_calls (pairing calls), without
frameworks: a layout joins and cuts parts as documented, names decide only *that* layers are fused, and a
fused call pairs with every part's call (or each part's call with the fused one)."""

from __future__ import annotations

import numpy as np
import pytest

from padiff.capture.calltree import CallTree
from padiff.weights.fused import Fusion, LayerPairs, Layout
from padiff.weights.fusion_rules import _decompose

from .test_align import align
from .trees import TreeBuilder


def _parts() -> list[np.ndarray]:
    """q (2 kv groups of 4 features), k and v (2 groups of 2), features last, values naming themselves."""
    return [np.arange(8)[None], 100 + np.arange(4)[None], 200 + np.arange(4)[None]]


def test_concatenated_layout_is_the_parts_one_after_the_other():
    fused = Layout(1).fuse(_parts(), axis=1)
    assert fused.tolist() == [[*range(8), 100, 101, 102, 103, 200, 201, 202, 203]]


def test_grouped_layout_holds_each_groups_chunk_of_every_part_in_turn():
    fused = Layout(2).fuse(_parts(), axis=1)
    assert fused.tolist() == [[0, 1, 2, 3, 100, 101, 200, 201, 4, 5, 6, 7, 102, 103, 202, 203]]


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("axis", [0, 1])
def test_cutting_a_part_out_of_the_fused_array_gives_it_back(groups, axis):
    parts = [np.random.default_rng(i).standard_normal((3, size)) for i, size in enumerate((8, 4, 4))]
    parts = [p if axis == 1 else p.T for p in parts]
    layout = Layout(groups)
    fused = layout.fuse(parts, axis=axis)
    for index, part in enumerate(parts):
        assert np.array_equal(layout.part(fused, index, [8, 4, 4], axis=axis), part)


def test_a_wrong_order_gives_another_array():
    """Negative control: the layout depends on the parts' order (gate and up swapped)."""
    gate, up = np.arange(3)[None], 10 + np.arange(3)[None]
    assert not np.array_equal(Layout(1).fuse([gate, up], 1), Layout(1).fuse([up, gate], 1))


@pytest.mark.parametrize(
    ("name", "candidates", "parts"),
    [
        ("qkv_proj", ["q_proj", "k_proj", "v_proj"], ["q_proj", "k_proj", "v_proj"]),
        ("up_gate_proj", ["gate_proj", "up_proj"], ["up_proj", "gate_proj"]),
        ("gate_up_proj", ["up_proj", "gate_proj", "o_proj"], ["gate_proj", "up_proj"]),
        ("wqkv", ["wq", "wk", "wv"], None),  # the parts' names do not spell it
        ("qkv_proj", ["q_proj"], None),  # one part is no fusion
        ("fc12", ["fc1", "fc2"], None),
    ],
)
def test_a_fused_name_is_its_parts_names_joined(name, candidates, parts):
    assert _decompose(name, candidates) == parts


def _attention(fused: bool) -> CallTree:
    t = TreeBuilder()
    with t.call("", "Net"):
        with t.call("attn", "Attention"):
            for name in ("qkv_proj",) if fused else ("q_proj", "k_proj", "v_proj"):
                t.leaf(f"attn.{name}", "Linear")
            t.leaf("attn.o_proj", "Linear")
    return t.tree


def _fusion(side: str) -> Fusion:
    parts = tuple((f"attn.{p}_proj", None) for p in "qkv")
    return Fusion(side, ("attn.qkv_proj", None), parts, Layout(2), (8, 4, 4), "test")


def test_a_fused_raw_call_pairs_with_the_call_of_every_part():
    aligner = align(_attention(False), _attention(True), LayerPairs({}, [_fusion("raw")]))
    raw = {n.path: n.id for n in aligner.raw}
    call = aligner.fused.calls[raw["attn.qkv_proj"]]
    assert [aligner.base[i].path for i in call.base_ids] == ["attn.q_proj", "attn.k_proj", "attn.v_proj"]
    assert aligner.base[aligner.partner[raw["attn.o_proj"]]].path == "attn.o_proj"
    assert aligner.unmatched_base() == []


def test_raw_part_calls_pair_with_base_fused_call():
    aligner = align(_attention(True), _attention(False), LayerPairs({}, [_fusion("base")]))
    by_path = {n.path: n.id for n in aligner.raw}
    fused = {aligner.base[aligner.partner[by_path[f"attn.{p}_proj"]]].path for p in "qkv"}
    assert fused == {"attn.qkv_proj"}
    assert [aligner.fused.calls[by_path[f"attn.{p}_proj"]].part for p in "qkv"] == [0, 1, 2]


def test_without_the_fusion_the_fused_call_pairs_with_the_first_part_by_kind():
    """Negative control: plain alignment pairs qkv_proj with q_proj alone (and leaves k, v unpaired)."""
    aligner = align(_attention(False), _attention(True))
    assert not aligner.fused.calls
    assert {n.path for n in aligner.unmatched_base()} == {"attn.k_proj", "attn.v_proj"}
