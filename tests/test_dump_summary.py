"""summary_only dumps: statistics instead of layer tensors, judged by the rule in `padiff.dump.summary`.

Clean twins pass on summaries and planted changes are found at their layer, with one side or both
summarised; every summarised pair says so and carries the tensors' real shapes; the sampled indices
are the same in every process; a summary dump is much smaller than a full one.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import padiff
from padiff.dump.step import _with_shapes
from padiff.dump.summary import SAMPLES, judging_vector, sample_indices, summarize
from padiff.judge.metrics import compare_arrays
from padiff.judge.records import LayerDiff, Phase, Where
from padiff.judge.trace import Stored
from tests.checks import assert_compared
from tests.dumps import offline
from tests.models import build, example_input

SIDES = {"both": {"summary_only": True}, "raw-only": {"raw_kwargs": {"summary_only": True}}}


@pytest.mark.parametrize("sides", list(SIDES))
@pytest.mark.parametrize("twin, plant, layer", [
    ("mlp", None, None), ("transformer", None, None),
    ("mlp", "activation", "act1"), ("transformer", "softmax_axis", "blocks.0.attn"),
])  # fmt: skip
def test_summaries_pass_clean_twins_and_find_plants(twin, plant, layer, sides, tmp_path):
    base, raw = build(twin, "torch"), build(twin, "paddle", plant=plant, seed=1)
    report = offline(base, raw, example_input(twin), tmp_path, **SIDES[sides])
    layer_pairs = [d for d in report.diffs if d.phase.value in ("forward", "backward")]
    assert layer_pairs and all("summary" in d.diff.note for d in layer_pairs)
    assert all("summary" not in d.diff.note for d in report.diffs if d.phase.value == "grad")
    assert any(
        f"{len(layer_pairs)} pairs of layer tensors were judged on summary statistics" in n
        for n in report.notes
    )
    out = next(d for d in layer_pairs if d.where.value == "output" and d.base_path == "")
    assert out.diff.base_shape == out.diff.raw_shape and len(out.diff.base_shape) >= 2  # the real shapes
    if plant is None:
        assert report.passed, str(report)
        assert_compared(report, base)
    else:
        assert report.first_diff.base_path == layer


def test_a_summary_dump_is_smaller(tmp_path):
    x = example_input("transformer", batch=4, seq=64)
    model = build("transformer", "torch")
    full = padiff.dump(model, x, tmp_path / "full")
    small = padiff.dump(model, x, tmp_path / "small", summary_only=True)
    size = [sum(p.stat().st_size for p in folder.glob("step_*")) for folder in (full, small)]
    assert size[1] * 3 < size[0], size


def test_the_sampled_indices_are_the_same_in_every_process():
    here = {n: sample_indices(n).tolist() for n in (10, 1000, 123457)}
    code = "import json; from padiff.dump.summary import sample_indices; " \
           "print(json.dumps({n: sample_indices(n).tolist() for n in (10, 1000, 123457)}))"  # fmt: skip
    there = json.loads(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    )
    assert {int(k): v for k, v in there.items()} == here
    assert here[10] == list(range(10)) and len(here[123457]) == SAMPLES == len(set(here[123457]))


def test_the_summary_rule_sees_a_changed_sampled_value_and_a_changed_norm():
    rng = np.random.default_rng(0)
    base = rng.standard_normal(5000).astype(np.float32)
    same = judging_vector(summarize(base), base.size)
    assert compare_arrays(same, judging_vector(summarize(base.copy()), base.size), dtype="float32").passed
    moved = base.copy()
    moved[sample_indices(base.size)[3]] += 1.0  # a sampled position
    assert not compare_arrays(same, judging_vector(summarize(moved), base.size), dtype="float32").passed
    scaled = base * 1.01  # every value a little: the statistics see it
    assert not compare_arrays(same, judging_vector(summarize(scaled), base.size), dtype="float32").passed


def test_summarised_pairs_of_sizes_that_cannot_agree_fail_as_a_shape_mismatch():
    vector = judging_vector(summarize(np.ones(12, np.float32)), 12)
    diff = compare_arrays(vector, vector)
    record = LayerDiff(Phase.FORWARD, 0, Where.OUTPUT, 0, "a", "a", "L", "L", 0, "out", diff)
    stored = Stored("out", ("t/0", (3, 4)), "float32")
    kept = _with_shapes(record, stored, (4, 3))  # same size: reshaped, as compare_arrays would
    assert kept.diff.passed and kept.diff.base_shape == (3, 4) and kept.diff.raw_shape == (4, 3)
    broken = _with_shapes(record, stored, (5, 3))
    assert not broken.diff.passed and "shape mismatch" in broken.diff.note
