"""Random twin networks (tests/gen.py): every clean twin passes, and one planted change is reported at
exactly the planted layer, in the forward phase.

The default run checks PADIFF_FUZZ_CASES=50 seeds from PADIFF_FUZZ_SEED0=0; `make fuzz` runs many more.
A failure prints the seed, the spec and the plant as JSON, and the command that reruns just that seed.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import padiff
from tests.checks import PHASES, assert_compared
from tests.gen import PLANT_KINDS, build, describe, make_input, make_spec, plant, randomize_norms

CASES = int(os.environ.get("PADIFF_FUZZ_CASES", "50"))
SEED0 = int(os.environ.get("PADIFF_FUZZ_SEED0", "0"))
DEFAULT_SEEDS = range(50)

# seeds of the default run that fail because of a padiff bug, with the bug (strict xfails). Seed 41
# (sigmoid -> GroupNorm) was one until padiff confirmed failing runs with single-step isolation.
KNOWN_FAILURES: dict[int, str] = {}


# seeds beyond the default range that once exposed a padiff bug, checked on every run. 153: a conv's
# padding changed, its output one shape longer; a LayerNorm after a mean pool hides it from the model
# output, and the shape difference was excused as a boundary drawn elsewhere (the parent agreed).
REGRESSIONS = (153,)


def _seeds() -> list:
    seeds = list(range(SEED0, SEED0 + CASES))
    seeds += [seed for seed in REGRESSIONS if seed not in seeds]
    return [
        pytest.param(seed, marks=pytest.mark.xfail(strict=True, reason=KNOWN_FAILURES[seed]))
        if seed in KNOWN_FAILURES
        else seed
        for seed in seeds
    ]


def _context(spec: dict, plant_info: dict | None, report: padiff.Report) -> str:
    rerun = f"PADIFF_FUZZ_SEED0={spec['seed']} PADIFF_FUZZ_CASES=1 pytest tests/test_generated.py"
    return f"{describe(spec, plant_info)}\nrerun: {rerun}\n{report}"


def _phases(model) -> tuple[str, ...]:
    """The phases a clean run of ``model`` compares: no parameter gradients without parameters."""
    return PHASES if list(model.parameters()) else ("forward", "backward")


def _base(spec: dict):
    base = build(spec, spec["base"], seed=0)
    randomize_norms(base, spec["base"], spec["seed"])
    return base


@pytest.mark.parametrize("seed", _seeds())
def test_clean_twin_passes_and_the_planted_change_is_found_at_its_layer(seed):
    spec = make_spec(seed)
    x = make_input(spec)
    base = _base(spec)
    clean = padiff.compare(base, build(spec, spec["raw"], seed=1), x)
    assert clean.passed, "clean twin reported as different\n" + _context(spec, None, clean)
    assert_compared(clean, base, phases=_phases(base))
    if spec["mode"] == "train" and '"dropout"' in json.dumps(spec):
        assert any("dropout" in n for n in clean.notes), _context(spec, None, clean)

    planted_spec, plant_info = plant(spec)
    report = padiff.compare(base, build(planted_spec, spec["raw"], seed=1), x)
    context = _context(spec, plant_info, report)
    culprit = report.first_diff
    assert not report.passed and culprit is not None, "planted change not found\n" + context
    assert culprit.phase.value == "forward", context
    assert culprit.base_path == culprit.raw_path == plant_info["path"], context
    assert culprit.evidence.where == "output", context
    if plant_info["kind"] == "padding":
        assert "shape mismatch" in culprit.evidence.diff.note, context


# --- the generator itself ---------------------------------------------------------------------------------


def _paths(model) -> list[str]:
    if hasattr(model, "named_modules"):
        return [path for path, _ in model.named_modules()]
    return [path for path, _ in model.named_sublayers(include_self=True)]


def _node_paths(nodes: list[dict]) -> list[str]:
    out = []
    for node in nodes:
        out.append(node["path"])
        out += _node_paths(node.get("body", []))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_a_spec_is_plain_data_and_gives_both_frameworks_the_same_layer_paths(seed):
    spec = make_spec(seed)
    assert json.loads(json.dumps(spec)) == spec == make_spec(seed)
    torch_paths, paddle_paths = _paths(build(spec, "torch")), _paths(build(spec, "paddle"))
    assert torch_paths == paddle_paths
    assert set(_node_paths(spec["layers"])) <= set(torch_paths)
    # a plant changes one value of one node, never the structure
    planted, info = plant(spec)
    assert _paths(build(planted, spec["raw"])) == torch_paths
    changed = [
        (a["path"], key)
        for a, b in zip(_flat(spec["layers"]), _flat(planted["layers"]))
        for key in a
        if key != "body" and a[key] != b[key]
    ]
    assert changed and {path for path, _ in changed} == {info["path"]}, (changed, info)
    # negative control: another seed gives another spec
    assert make_spec(seed + 1000) != spec


def _flat(nodes: list[dict]) -> list[dict]:
    out = []
    for node in nodes:
        out.append(node)
        out += _flat(node.get("body", []))
    return out


def test_the_default_seeds_cover_every_plant_and_both_cross_framework_directions():
    specs = [make_spec(seed) for seed in DEFAULT_SEEDS]
    assert {plant(spec)[1]["kind"] for spec in specs} == set(PLANT_KINDS)
    assert {("torch", "paddle"), ("paddle", "torch")} <= {(s["base"], s["raw"]) for s in specs}
    assert {s["input"]["kind"] for s in specs} == {"vector", "seq", "image", "signal", "tokens"}
    assert {s["mode"] for s in specs} == {"train", "eval"}
    ops = {node["op"] for spec in specs for node in _flat(spec["layers"])}
    assert ops >= {"linear", "conv1d", "conv2d", "bn1d", "bn2d", "ln", "gn", "act", "pool1d", "pool2d"}
    assert ops >= {"embed", "attn", "gpool", "seq", "stack", "residual", "dropout"}


def test_inputs_are_reproducible_and_token_ids_stay_in_the_vocabulary():
    for seed in DEFAULT_SEEDS:
        spec = make_spec(seed)
        x = make_input(spec)
        assert np.array_equal(x, make_input(spec)) and list(x.shape) == spec["input"]["shape"]
        if spec["input"]["kind"] == "tokens":
            assert x.dtype == np.int64 and 0 <= x.min() and x.max() < spec["input"]["vocab"]
        else:
            assert x.dtype == np.float32


# --- a minimal repro of a padiff bug the generator found ------------------------------------------------

# Linear -> Sigmoid -> BatchNorm1d in train mode, the last layer: under the mean loss the gradient of the
# norm's input is zero in exact arithmetic, and each framework computes rounding noise divided by the
# small batch std of the sigmoid's output.
SIGMOID_BN_SPEC = {
    "seed": 7,
    "base": "torch",
    "raw": "paddle",
    "mode": "train",
    "input": {"kind": "vector", "shape": [8, 8]},
    "layers": [
        {"op": "linear", "in": 8, "out": 8, "path": "fc"},
        {"op": "act", "fn": "sigmoid", "path": "act"},
        {"op": "bn1d", "c": 8, "eps": 1e-5, "path": "norm"},
    ],
}


def test_a_train_mode_batchnorm_after_a_sigmoid_passes():
    """The norm's local input gradient differs beyond the tolerance (rounding amplified by 1/std); the
    float64 judge finds raw no further from the exact gradient than base is, and excuses it."""
    spec = SIGMOID_BN_SPEC
    base = build(spec, "torch")
    report = padiff.compare(base, build(spec, "paddle", seed=1), make_input(spec))
    assert report.passed, str(report)
    assert_compared(report, base)
    judged = [d for d in report.diffs if d.judged is not None]
    assert judged and all(d.judged.excused for d in judged) and judged[0].base_path == "norm"
    assert any(note.startswith("judged against float64 as rounding") for note in report.notes)


def test_a_train_mode_batchnorm_after_a_sigmoid_passes_with_a_paddle_base():
    """The same twins the other way round pass: single-step confirmation finds no local error."""
    spec = SIGMOID_BN_SPEC
    base = build(spec, "paddle")
    report = padiff.compare(base, build(spec, "torch", seed=1), make_input(spec))
    assert report.passed, str(report)
    assert_compared(report, base)
    assert any("single-step isolation" in note for note in report.notes), report.notes


def test_the_sigmoid_batchnorm_twins_pass_where_the_gradient_is_not_noise():
    """Controls for the xfail above: one framework on both sides (the same noise), eval mode, or a
    nonlinearity after the norm (a real gradient) pass; a planted change is found."""
    spec = SIGMOID_BN_SPEC
    x = make_input(spec)
    in_eval = {**spec, "mode": "eval"}
    with_tanh = {**spec, "layers": [*spec["layers"], {"op": "act", "fn": "tanh", "path": "out"}]}
    for variant, raw_framework in ((spec, "torch"), (in_eval, "paddle"), (with_tanh, "paddle")):
        base = build(variant, "torch")
        report = padiff.compare(base, build(variant, raw_framework, seed=1), x)
        assert report.passed, str(report)
        assert_compared(report, base)
    planted, info = plant(spec)
    report = padiff.compare(build(spec, "torch"), build(planted, "paddle", seed=1), x)
    assert not report.passed and report.first_diff.raw_path == info["path"], str(report)
