"""Tensors laid out in other axis orders: a unique permutation is compared under it, an ambiguous one
is a shape difference excused when the parents agree, and the model's own output is never permuted."""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from tests.checks import assert_compared
from tests.models import head_layouts, time_major_output

DIRECTIONS = [("torch", "paddle"), ("paddle", "torch")]


def _x(batch: int) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((batch, 6, 32)).astype(np.float32)


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS)
def test_heads_laid_out_bhsd_against_bshd_are_compared_under_the_permutation(base_fw, raw_fw):
    base, raw = head_layouts(base_fw, "bhsd"), head_layouts(raw_fw, "bshd", seed=1)
    report = padiff.compare(base, raw, _x(2))
    assert report.passed, str(report)
    assert_compared(report, base, pairs=["attn.q_norm"])
    norm = [d for d in report.diffs if d.base_path == "attn.q_norm"]
    assert {d.where.value for d in norm} >= {"input", "output", "grad_out", "grad_in"}
    assert all(d.diff.note.startswith("permuted [0, 2, 1, 3]") for d in norm)  # gradients too
    assert any("compared under the axis order [0, 2, 1, 3]" in n for n in report.notes)


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS)
def test_a_planted_change_in_the_permuted_layer_is_found_there(base_fw, raw_fw):
    base, raw = head_layouts(base_fw, "bhsd"), head_layouts(raw_fw, "bshd", plant="norm_eps", seed=1)
    culprit = padiff.compare(base, raw, _x(2)).first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("forward", "attn.q_norm")


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS)
def test_single_step_feeds_a_permuted_layer_base_s_values_in_its_own_layout(base_fw, raw_fw):
    """raw's attention shifts q before q_norm: single-step isolation gives q_norm base's input and
    incoming gradient laid out as raw's (permuted), so q_norm agrees locally and the attention's own code
    is the culprit; fed nothing, q_norm would keep the accumulated error as its own."""
    base, raw = head_layouts(base_fw, "bhsd"), head_layouts(raw_fw, "bshd", plant="q_shift", seed=1)
    report = padiff.compare(base, raw, _x(2), single_step=True)
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("forward", "attn"), str(
        report
    )
    norm = [
        d for d in report.diffs if d.base_path == "attn.q_norm" and d.where.value in ("output", "grad_in")
    ]
    assert len(norm) == 2 and not all(d.diff.passed for d in norm)  # the accumulated error...
    assert all(d.local is not None and d.local.passed for d in norm), [
        d.local for d in norm
    ]  # ...not its own


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS)
def test_axes_of_equal_size_are_a_shape_difference_excused_when_the_parent_agrees(base_fw, raw_fw):
    base, raw = head_layouts(base_fw, "bhsd", heads=2), head_layouts(raw_fw, "bshd", heads=2, seed=1)
    report = padiff.compare(base, raw, _x(2))  # batch 2 and 2 heads: which axis went where is unknown
    assert report.passed, str(report)
    assert_compared(report, base, pairs=["attn"])
    assert any("permute axes of equal size), not blamed: attn.q_norm" in n for n in report.notes)
    planted = padiff.compare(base, head_layouts(raw_fw, "bshd", heads=2, plant="norm_eps", seed=1), _x(2))
    assert planted.first_diff is not None and planted.first_diff.base_path == "attn"  # found at its parent


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS)
def test_a_time_major_model_output_against_a_batch_major_one_is_a_difference(base_fw, raw_fw):
    report = padiff.compare(
        time_major_output(base_fw), time_major_output(raw_fw, time_major=True, seed=1), _x(2)
    )
    culprit = report.first_diff
    assert culprit is not None and culprit.base_path == "" and culprit.evidence.where == "output"
    assert "shape mismatch [2, 6, 32] vs [6, 2, 32]" in culprit.metrics.note
    same = padiff.compare(time_major_output(base_fw), time_major_output(raw_fw, seed=1), _x(2))
    assert same.passed  # negative control
    assert_compared(same, pairs=["fc", ""])
