"""Narrowing a culprit in a layer's own code down to the op and its line (localize/ops.py, api_level)."""

from __future__ import annotations

import linecache

import paddle
import pytest
import torch

import padiff
from tests.models import build, example_input

PAIRS = [("torch", "paddle"), ("paddle", "torch")]


def _line(site: str) -> str:
    filename, lineno = site.rsplit(":", 1)
    return linecache.getline(filename, int(lineno))


@pytest.mark.parametrize("base_fw, raw_fw", PAIRS)
@pytest.mark.parametrize(
    "twin, plant, op", [("transformer", "softmax_axis", "softmax"), ("embedding", "pool_sum", "sum")]
)
def test_own_code_culprit_is_narrowed_to_the_op_and_its_line(base_fw, raw_fw, twin, plant, op):
    report = padiff.compare(
        build(twin, base_fw), build(twin, raw_fw, plant=plant, seed=1), example_input(twin)
    )
    culprit = report.first_diff
    assert culprit.kind == "api" and f"'{op}'" in culprit.reason
    assert op in _line(culprit.raw_site), culprit.raw_site
    assert culprit.base_path == culprit.raw_path  # the layer stays named
    # negative control: without api_level the culprit stays the layer, located where it is called
    plain = padiff.compare(
        build(twin, base_fw), build(twin, raw_fw, plant=plant, seed=1), example_input(twin), api_level=False
    )
    assert plain.first_diff.kind == "layer" and plain.first_diff.base_path == culprit.base_path
    assert op not in _line(plain.first_diff.raw_site)


@pytest.mark.parametrize(
    "twin, plant", [("cnn", "bn_eps"), ("mlp", "activation"), ("cnn", "dropped_residual")]
)
def test_builtin_layers_and_missing_ops_stay_layer_culprits(twin, plant):
    report = padiff.compare(
        build(twin, "torch"), build(twin, "paddle", plant=plant, seed=1), example_input(twin)
    )
    assert report.first_diff.kind == "layer"


def test_narrowing_leaves_nothing_behind():
    add, softmax = paddle.Tensor.__add__, paddle.nn.functional.softmax
    base, raw = build("transformer", "torch"), build("transformer", "paddle", plant="softmax_axis", seed=1)
    base.train()
    raw.train()
    before = {n: b.clone() for n, b in base.named_buffers()} | {
        n: p.detach().clone() for n, p in base.named_parameters()
    }
    report = padiff.compare(base, raw, example_input("transformer"))
    assert report.first_diff.kind == "api"
    assert paddle.Tensor.__add__ is add and paddle.nn.functional.softmax is softmax
    assert not torch.overrides._get_current_function_mode_stack()
    after = {n: b for n, b in base.named_buffers()} | {n: p.detach() for n, p in base.named_parameters()}
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert base.training and all(m.training for m in base.modules())
