"""Narrowing a culprit found by single-step isolation runs raw's call on base's inputs too.

The model: a chaotic deep tanh MLP (its float noise grows past any tolerance) and a head whose own code
computes exp(2 x) + shift, raw's shift planted. The plain run first fails deep in the MLP on amplified
rounding; confirmation (isolated) finds the head. Narrowed on base's inputs, the first op of the head
that differs is the planted add; on raw's own inputs every op already differs, and the multiply would be
named instead.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

import padiff
from padiff.comparison import Comparison
from padiff.frameworks.base import adapter_for
from padiff.localize.culprit import Kind
from padiff.match.layermap import LayerMap
from padiff.options import Options
from tests.checks import assert_compared
from tests.models import chaotic_with_head

X = np.random.default_rng(0).standard_normal((16, 64)).astype("float32")


def _pair(shift: float):
    return chaotic_with_head("torch", gain=2.5), chaotic_with_head("paddle", shift=shift)


def test_the_planted_op_is_named_when_the_culprit_came_from_isolation():
    report = padiff.compare(*_pair(shift=1.5), X)
    culprit = report.first_diff
    assert culprit is not None and culprit.base_path == "head" and culprit.kind is Kind.API
    assert "confirmed layer by layer" in report.notes[0]
    assert "'__add__'" in culprit.reason, culprit.reason
    assert culprit.raw_site.endswith(":29")  # the `grown + self.shift` line of ExpHead.forward


def test_on_raws_own_inputs_the_first_op_would_be_blamed():
    """Negative control: the same culprit narrowed without isolation names the multiply."""
    base, raw = _pair(shift=1.5)
    options = Options.parse(atol=None, rtol=None, compare_mode="strict", diff_phase="both", single_step=False,
                            api_level=False, confirm=True)  # fmt: skip
    comparison = Comparison.prepare(
        (adapter_for(base), base), (adapter_for(raw), raw), init_weights=True, loss_fn=None, optimizers=None,
        layer_map=LayerMap(), options=options, notes=[],
    )  # fmt: skip
    isolated = comparison.run_steps([X], True, [])
    from padiff.localize.verdict import judge_steps

    verdict = judge_steps(isolated, options.diff_phase, [], isolated=True)
    assert verdict.culprit.base_path == "head"
    on_base_inputs = comparison.narrow(verdict, isolated[0]).culprit
    on_raw_inputs = comparison.narrow(replace(verdict, isolated=False), isolated[0]).culprit
    assert "'__add__'" in on_base_inputs.reason
    assert "'__mul__'" in on_raw_inputs.reason


def test_the_same_model_without_the_plant_passes():
    base, raw = _pair(shift=1.0)
    report = padiff.compare(base, raw, X)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert "float noise the model amplifies" in report.notes[0]
    assert any(d.base_path == "head" and d.where == "output" for d in report.diffs)
