"""Fused and split weights (padiff.weights.fused, fusion_rules, judge.fused): q/k/v with grouped kv heads
and gate/up, one model fusing them and the other not, in both directions and with either model fusing.

Positive: the twins pass, the fused layer is compared against its parts (forward, backward, parameter
gradients and updates). Negative controls: a wrong declared order (gate and up swapped) or layout is
found at the block whose code reads the fused layer, a changed fused (or part) weight at that layer.
"""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from padiff import LayerMap
from padiff.judge.records import Phase
from tests.checks import assert_compared
from tests.models import KV_HEADS, fused_block, split_block
from tests.models.frameworks import kit

RNG = np.random.default_rng(12)
X = RNG.standard_normal((2, 5, 16)).astype(np.float32)
# (base framework, raw framework, which model fuses)
CASES = [(b, r, side) for b, r in (("torch", "paddle"), ("paddle", "torch")) for side in ("raw", "base")]
IDS = [f"{b}->{r}, {side} fuses" for b, r, side in CASES]


def _models(base_fw: str, raw_fw: str, side: str, grouped: bool = True):
    if side == "raw":
        return split_block(base_fw, seed=1), fused_block(raw_fw, grouped, seed=2)
    return fused_block(base_fw, grouped, seed=1), split_block(raw_fw, seed=2)


def _declared(base, raw, side: str, qkv=("q", "k", "v"), gate_up=("gate", "up"), groups: int = KV_HEADS):
    fused, split = (raw, base) if side == "raw" else (base, raw)
    layer_map = LayerMap()
    layer_map.fuse(fused.attn.qkv_proj, [getattr(split.attn, f"{p}_proj") for p in qkv], groups=groups)
    layer_map.fuse(fused.mlp.up_gate_proj, [getattr(split.mlp, f"{p}_proj") for p in gate_up])
    return layer_map


def _fused_pairs(side: str) -> list[tuple[str, str]]:
    parts = [("attn.qkv_proj", f"attn.{p}_proj") for p in "qkv"]
    parts += [("mlp.up_gate_proj", f"mlp.{p}_proj") for p in ("gate", "up")]
    return [(fused, part) if side == "base" else (part, fused) for fused, part in parts]


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_declared_fusions_pass_with_the_fused_layer_compared_against_its_parts(base_fw, raw_fw, side):
    base, raw = _models(base_fw, raw_fw, side)
    report = padiff.compare(base, raw, X, layer_map=_declared(base, raw, side))
    assert report.passed, str(report)
    pairs = _fused_pairs(side)
    if side == "raw":  # raw's fused call is paired with base's first part (the others join it)
        pairs = [("attn.q_proj", "attn.qkv_proj"), ("mlp.gate_proj", "mlp.up_gate_proj")]
    assert_compared(report, pairs=[*pairs, "attn.o_proj", "mlp.down_proj"], phases=("forward", "backward"))
    grads = {(d.base_path, d.raw_path, d.leaf) for d in report.diffs if d.phase is Phase.GRAD}
    if side == "raw":  # one gradient of raw's fused weight against base's parts' joined
        expected = {
            ("attn", "attn.qkv_proj", "q_proj.weight+k_proj.weight+v_proj.weight <-> weight"),
            ("mlp", "mlp.up_gate_proj", "gate_proj.bias+up_proj.bias <-> bias"),
        }
    else:  # each raw part's gradient against its cut of base's fused one
        expected = {
            ("attn.qkv_proj", "attn.k_proj", "weight <-> weight"),
            ("mlp.up_gate_proj", "mlp.up_proj", "bias <-> bias"),
        }
    assert expected <= grads, sorted(grads)
    assert all(
        d.paired_by == "fused" for d in report.diffs if "qkv" in d.base_path + d.raw_path and d.base_id >= 0
    )
    assert any("interleaved per 2 head groups (LayerMap.fuse)" in note for note in report.notes), report.notes


def _numpy(fw: str, tensor) -> np.ndarray:
    return kit(fw).numpy(tensor)


def _out_features(fw: str, weight: np.ndarray) -> np.ndarray:
    """A Linear weight as [out, in] whatever its framework."""
    return weight if fw == "torch" else weight.T


@pytest.mark.parametrize(("base_fw", "raw_fw"), [("torch", "paddle"), ("paddle", "torch")])
def test_the_fused_weight_holds_each_kv_heads_query_heads_then_its_k_then_its_v(base_fw, raw_fw):
    base, raw = _models(base_fw, raw_fw, "raw")
    report = padiff.compare(base, raw, X, layer_map=_declared(base, raw, "raw"), keep_weights=True)
    assert report.passed, str(report)
    q, k, v = (_out_features(base_fw, _numpy(base_fw, getattr(base.attn, f"{p}_proj").weight)) for p in "qkv")
    fused = _out_features(raw_fw, _numpy(raw_fw, raw.attn.qkv_proj.weight))
    expected = np.concatenate([q[:8], k[:4], v[:4], q[8:], k[4:], v[4:]])  # 2 query heads of 4 per kv head
    assert np.array_equal(fused, expected)
    gate, up = (
        _out_features(base_fw, _numpy(base_fw, getattr(base.mlp, f"{p}_proj").weight)) for p in ("gate", "up")
    )
    assert np.array_equal(
        _out_features(raw_fw, _numpy(raw_fw, raw.mlp.up_gate_proj.weight)), np.concatenate([gate, up])
    )


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_gate_and_up_declared_in_the_wrong_order_are_found_at_the_mlp(base_fw, raw_fw, side):
    base, raw = _models(base_fw, raw_fw, side)
    report = padiff.compare(base, raw, X, layer_map=_declared(base, raw, side, gate_up=("up", "gate")))
    assert not report.passed
    first = report.first_diff
    assert (first.phase, first.base_path, first.raw_path) == (Phase.FORWARD, "mlp", "mlp"), str(report)


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES[:2], ids=IDS[:2])
def test_qkv_declared_concatenated_where_it_is_grouped_is_found_at_the_attention(base_fw, raw_fw, side):
    base, raw = _models(base_fw, raw_fw, side)
    report = padiff.compare(base, raw, X, layer_map=_declared(base, raw, side, groups=1))
    assert not report.passed
    first = report.first_diff
    assert (first.phase, first.base_path, first.raw_path) == (Phase.FORWARD, "attn", "attn"), str(report)


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_concatenated_qkv_passes_declared_with_one_group(base_fw, raw_fw, side):
    base, raw = _models(base_fw, raw_fw, side, grouped=False)
    report = padiff.compare(base, raw, X, layer_map=_declared(base, raw, side, groups=1))
    assert report.passed, str(report)
    assert_compared(report, pairs=["attn.o_proj", "mlp.down_proj"])


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_a_changed_weight_of_the_fused_or_split_layer_is_found_there(base_fw, raw_fw, side):
    """Negative control of the joined / cut comparison: raw holds base's weights but for one element of
    the fused layer's k part (or of the split k_proj), so that layer's own output differs."""
    base, raw = _models(base_fw, raw_fw, side)
    layer_map = _declared(base, raw, side)
    assert padiff.compare(base, raw, X, layer_map=layer_map, keep_weights=True).passed
    layer = raw.attn.qkv_proj if side == "raw" else raw.attn.k_proj
    weight = _numpy(raw_fw, layer.weight).copy()
    row = 8 if side == "raw" else 0  # the fused layer's first k feature: after kv head 0's 8 query features
    if raw_fw == "torch":
        weight[row, 0] += 0.5
    else:
        weight[0, row] += 0.5
    kit(raw_fw).assign(layer.weight, weight)
    report = padiff.compare(base, raw, X, layer_map=layer_map, init_weights=False)
    first = report.first_diff
    expected = ("attn.q_proj", "attn.qkv_proj") if side == "raw" else ("attn.qkv_proj", "attn.k_proj")
    assert (first.phase, first.base_path, first.raw_path) == (Phase.FORWARD, *expected), str(report)


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_the_float64_judge_re_runs_a_fused_layer_through_the_fusion(base_fw, raw_fw, side):
    """Every pair failing rtol 1e-12 goes to the judge: a fused layer's output and input gradient are
    judged against base's parts' units joined (or summed), or its cut of base's fused unit, and excused
    as rounding; with one element of raw's k weights changed, that layer's output is judged and refused."""
    tight = {"rtol": 1e-12, "atol": 0.0, "single_step": True}
    base, raw = _models(base_fw, raw_fw, side)
    layer_map = _declared(base, raw, side)
    report = padiff.compare(base, raw, X, layer_map=layer_map, keep_weights=True, **tight)
    fused = [d for d in report.diffs if d.paired_by == "fused" and d.where in ("output", "grad_in")]
    judged = [d for d in fused if d.judged is not None]
    assert judged and all(d.judged.excused for d in judged), [(d.raw_path, d.judged) for d in judged]
    layer = raw.attn.qkv_proj if side == "raw" else raw.attn.k_proj
    weight = _numpy(raw_fw, layer.weight).copy()
    row = 8 if side == "raw" else 0  # as in the test above: the first k feature
    weight[(row, 0) if raw_fw == "torch" else (0, row)] += 0.5
    kit(raw_fw).assign(layer.weight, weight)
    planted = padiff.compare(base, raw, X, layer_map=layer_map, init_weights=False, **tight)
    found = [d for d in planted.diffs if d.raw_path == _changed_layer(side) and d.where == "output"]
    assert found and found[0].judged is not None and found[0].judged.excused is False, found


def _changed_layer(side: str) -> str:
    return "attn.qkv_proj" if side == "raw" else "attn.k_proj"


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_updates_of_fused_weights_are_compared_through_the_layout(base_fw, raw_fw, side):
    base, raw = _models(base_fw, raw_fw, side)
    sgd = {
        "torch": lambda ps: __import__("torch").optim.SGD(ps, lr=0.1, momentum=0.9),
        "paddle": lambda ps: __import__("paddle").optimizer.Momentum(
            parameters=ps, learning_rate=0.1, momentum=0.9
        ),
    }
    report = padiff.compare(
        base, raw, X, layer_map=_declared(base, raw, side), optimizers=(sgd[base_fw], sgd[raw_fw]), steps=2
    )
    assert report.passed, str(report)
    updated = {(d.base_path, d.raw_path) for d in report.diffs if d.phase is Phase.WEIGHT and d.step == 1}
    fused = ("attn", "attn.qkv_proj") if side == "raw" else ("attn.qkv_proj", "attn.v_proj")
    assert fused in updated, sorted(updated)


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_single_step_isolation_feeds_the_fused_layers_joined_or_cut_gradients(base_fw, raw_fw, side):
    base, raw = _models(base_fw, raw_fw, side)
    report = padiff.compare(base, raw, X, layer_map=_declared(base, raw, side), single_step=True)
    assert report.passed, str(report)
    fused = [d for d in report.diffs if d.paired_by == "fused" and d.where == "grad_out"]
    assert fused and all(d.local is not None for d in fused)


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), CASES, ids=IDS)
def test_a_fusion_found_by_name_without_a_rule_asks_for_a_declaration(base_fw, raw_fw, side):
    base, raw = _models(base_fw, raw_fw, side)
    with pytest.raises(padiff.WeightTransferError) as error:
        padiff.compare(base, raw, X)
    message = str(error.value)
    other = "base" if side == "raw" else "raw"
    assert (
        f"{side}'s 'attn.qkv_proj'" in message
        and f"{other}'s attn.q_proj, attn.k_proj, attn.v_proj" in message
    )
    assert "layer_map.fuse(" in message, message


def test_fuse_takes_linear_layers_of_the_two_models():
    base, raw = _models("torch", "paddle", "raw")
    for fused, parts, match in (
        (raw.attn.qkv_proj, [base.attn.q_proj], "at least two layers"),
        (raw.attn, [base.attn.q_proj, base.attn.k_proj], "Linear layers only"),
        (raw.attn.qkv_proj, [raw.attn.o_proj, base.attn.k_proj], "not one layer of one model"),
    ):
        layer_map = LayerMap()
        with pytest.raises(padiff.InputError, match=match):
            layer_map.fuse(fused, parts)
            padiff.compare(base, raw, X, layer_map=layer_map)


def test_fuse_with_parts_that_do_not_add_up_names_both_layers():
    base, raw = _models("torch", "paddle", "raw")
    layer_map = LayerMap()
    layer_map.fuse(raw.attn.qkv_proj, [base.attn.q_proj, base.attn.k_proj])
    with pytest.raises(
        padiff.WeightTransferError, match=r"'attn.qkv_proj' has 32 output features but its parts"
    ):
        padiff.compare(base, raw, X, layer_map=layer_map)


OFFLINE = {
    "fuse": {
        "attn.qkv_proj": {"parts": ["attn.q_proj", "attn.k_proj", "attn.v_proj"], "groups": KV_HEADS},
        "mlp.up_gate_proj": {"parts": ["mlp.gate_proj", "mlp.up_proj"]},
    }
}


@pytest.mark.parametrize(("base_fw", "raw_fw", "side"), [CASES[0], CASES[3]], ids=[IDS[0], IDS[3]])
def test_dumps_compare_through_a_fusion_declared_in_the_layer_map(base_fw, raw_fw, side, tmp_path):
    base, raw = _models(base_fw, raw_fw, side)
    padiff.dump(base, X, tmp_path / "base")
    with pytest.raises(padiff.WeightTransferError, match="'fuse' in the layer map"):
        padiff.load_weights(raw, tmp_path / "base")  # found by name; no rule for these twins
    padiff.load_weights(raw, tmp_path / "base", layer_map=OFFLINE)
    padiff.dump(raw, X, tmp_path / "raw")
    report = padiff.compare_dumps(tmp_path / "base", tmp_path / "raw", layer_map=OFFLINE)
    assert report.passed, str(report)
    live = padiff.compare(base, raw, X, layer_map=_declared(base, raw, side), confirm=False, api_level=False)
    assert [(d.phase, d.base_path, d.raw_path, d.leaf) for d in report.diffs] == [
        (d.phase, d.base_path, d.raw_path, d.leaf) for d in live.diffs
    ]
