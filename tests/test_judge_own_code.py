"""The float64 judge on the gradient a layer's own code sends back to a sublayer's output (`grad_out`):
its unit is the parent's call, its backward read at that sublayer's output.

Before, such pairs were never judged: torch under bfloat16 autocast against paddle in float32 failed on
the gradient an attention's own code sends to its q and k projections, rounding only. A real difference
in the own code's backward must still be found there.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import padiff
from tests.models import build, example_input, xtanh_functions
from tests.models.frameworks import kit

X = np.random.default_rng(0).standard_normal((16, 16)).astype("float32")
SIZE = {"batch": 4, "seq": 16, "d_model": 64, "depth": 2}


@functools.cache
def _own_code_net(framework: str) -> type:
    k = kit(framework)
    XTanh, XTanhWrongGrad = xtanh_functions(framework)

    class OwnCodeNet(k.Layer):
        """fc1 -> x tanh(x) in the root's own code (a hand-written backward) -> fc2."""

        def __init__(self, wrong: bool) -> None:
            super().__init__()
            self.fc1, self.fc2 = k.nn.Linear(16, 32), k.nn.Linear(32, 8)
            self.fn = XTanhWrongGrad if wrong else XTanh

        def forward(self, x: Any) -> Any:
            return self.fc2(self.fn.apply(self.fc1(x)))

    return OwnCodeNet


def _net(framework: str, wrong: bool = False) -> Any:
    return _own_code_net(framework)(wrong)


@pytest.mark.parametrize("autocast", [None, (None, "bfloat16")], ids=["float32", "raw bfloat16"])
def test_a_wrong_backward_in_the_own_code_is_found_and_not_excused(autocast):
    report = padiff.compare(_net("paddle"), _net("torch"), X, autocast=autocast)
    assert report.passed, str(report)
    report = padiff.compare(_net("paddle"), _net("torch", wrong=True), X, autocast=autocast)
    assert not report.passed, str(report)
    culprit = report.first_diff
    assert (culprit.phase.value, culprit.base_path, culprit.evidence.raw_path) == ("backward", "", "fc1"), (
        str(report)
    )
    assert culprit.evidence.where.value == "grad_out"
    judged = culprit.evidence.judged
    assert judged is not None and judged.excused is False, judged  # the judge ran, and refused


def test_rounding_in_an_attention_s_own_backward_is_judged_as_rounding():
    x = example_input("transformer", **SIZE)
    base, raw = build("transformer", "paddle", **SIZE), build("transformer", "torch", seed=1, **SIZE)
    report = padiff.compare(base, raw, x, autocast=(None, "bfloat16"))
    assert report.passed, str(report)
    excused = [d for d in report.diffs if d.where.value == "grad_out" and d.judged is not None]
    assert excused and all(d.judged.excused for d in excused), excused
    assert {d.raw_path for d in excused} <= {f"blocks.{i}.attn.{p}" for i in range(2) for p in "qkv"}
    # control: the same models, with a planted attention, still fail at it
    planted = build("transformer", "paddle", plant="softmax_axis", **SIZE)
    report = padiff.compare(planted, raw, x, autocast=(None, "bfloat16"))
    assert not report.passed and report.first_diff.base_path == "blocks.0.attn", str(report)


def test_no_unit_is_re_run_once_the_verdict_is_decided():
    """A planted softmax axis fails in the forward; the backward pairs it also spoils are left unjudged
    (re-running the attention for them would change nothing). Control: the own-code backward test above,
    where the backward decides, has its pair judged."""
    size = {"depth": 2, "d_model": 64, "seq": 32, "batch": 4}
    x = example_input("transformer", **size)
    base, raw = (
        build("transformer", "torch", **size),
        build("transformer", "paddle", plant="softmax_axis", **size),
    )
    report = padiff.compare(base, raw, x)
    assert not report.passed and report.first_diff.phase.value == "forward", str(report)
    spoiled = [d for d in report.diffs if d.phase.value == "backward" and not d.passed]
    assert spoiled and all(d.judged is None for d in spoiled), spoiled
    assert any("after those that decide the verdict were not judged" in n for n in report.notes), report.notes
