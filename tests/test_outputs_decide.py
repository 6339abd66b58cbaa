"""Outputs decide, inputs localize: an input that differs in form while the layer's output agrees is a
note; a real difference in what a layer takes in is found where it was computed."""

from __future__ import annotations

import copy

import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.models import build, example_input, masked_attention, token_batch

DIRECTIONS = [("torch", "paddle"), ("paddle", "torch")]
FORMS = [("neg_inf", "finfo_min"), ("bool", "neg_inf"), ("finfo_min", "bool")]  # base's mask, raw's


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS)
@pytest.mark.parametrize("base_mask, raw_mask", FORMS)
def test_masks_and_ids_in_other_forms_pass_and_are_noted(base_fw, raw_fw, base_mask, raw_mask):
    base = masked_attention(base_fw, base_mask, ids="int64")
    raw = masked_attention(raw_fw, raw_mask, ids="int32", seed=1)
    report = padiff.compare(base, raw, token_batch())
    assert report.passed, str(report)
    assert_compared(report, base)
    noted = [n for n in report.notes if n.startswith("inputs that differ while the layer's output agrees")]
    assert len(noted) == 1 and "'attn' input mask" in noted[0]
    positions = [d for d in report.diffs if d.base_path == "pos" and d.where == "input"]
    assert positions and all(d.passed for d in positions)  # int32 against int64 ids: equal values


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS)
@pytest.mark.parametrize("base_mask, raw_mask", FORMS)
def test_a_mask_that_is_really_wrong_is_found_where_it_is_built(base_fw, raw_fw, base_mask, raw_mask):
    base = masked_attention(base_fw, base_mask)
    raw = masked_attention(raw_fw, raw_mask, plant="mask_wrong", seed=1)
    report = padiff.compare(base, raw, token_batch())
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("forward", "")
    assert "its own code" in culprit.reason and "'attn'" in culprit.reason
    assert culprit.evidence.where == "input" and culprit.evidence.leaf == "mask"


def test_a_bfloat16_copy_of_a_model_is_judged_at_bfloat16():
    """torch vs torch, float32 against bfloat16 (inputs cast by the user): the inputs differ by bf16
    rounding, which decides nothing, and every pair is judged at the less precise dtype."""
    base = build("transformer", "torch")
    raw = copy.deepcopy(base).to(torch.bfloat16)
    x = torch.tensor(example_input("transformer"))
    report = padiff.compare(base, raw, (x, x.to(torch.bfloat16)))
    assert report.passed, str(report)
    assert_compared(report, base)
    assert {d.diff.dtype for d in report.diffs if d.where == "output"} == {"bfloat16"}
    planted = build("transformer", "torch", plant="softmax_axis").to(torch.bfloat16)
    planted.load_state_dict(raw.state_dict())
    found = padiff.compare(base, planted, (x, x.to(torch.bfloat16)))
    assert found.first_diff is not None and found.first_diff.base_path == "blocks.0.attn"
