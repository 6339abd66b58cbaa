"""Ports may draw a layer's boundary elsewhere (DenseNet: torchvision's layer returns its new channels,
paddle's returns them joined to its input). A shape difference at such a pair's edge is excused when
the parent agrees; a real difference inside is still found. Single-step isolation cannot feed such a
layer base's gradient: it says so, and the float64 judge gives no verdict on what that layer computed."""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from padiff.judge.referee import Referee
from tests.checks import assert_compared
from tests.models import build, concat_in_block, concat_in_parent, example_input

X = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype("float32")


def test_a_layer_boundary_drawn_elsewhere_passes():
    report = padiff.compare(concat_in_parent("torch"), concat_in_block("paddle"), X)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block", "block.conv", "head", ""])


def test_a_real_difference_inside_such_a_layer_is_still_found():
    report = padiff.compare(concat_in_parent("torch"), concat_in_block("paddle", scale=1.01), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "block", str(report)


def _unfed_of_each_isolated_step(monkeypatch: pytest.MonkeyPatch) -> list[dict[int, str]]:
    """What single-step isolation could not feed raw's calls, one dict per isolated step (a spy on the
    referee's constructor; nothing is changed)."""
    seen: list[dict[int, str]] = []
    build = Referee.for_isolated.__func__  # type: ignore[attr-defined]

    def spy(cls, adapter, model, trace, pairs, isolated):
        seen.append(dict(isolated.unfed))
        return build(cls, adapter, model, trace, pairs, isolated)

    monkeypatch.setattr(Referee, "for_isolated", classmethod(spy))
    return seen


def test_isolation_records_a_layer_it_could_not_feed_base_s_gradient(monkeypatch):
    """raw's block returns 6 channels where base's returns 2: base's gradient at its output cannot stand
    in raw's place, so the block's pairs hold no local error; twins are fed everywhere."""
    seen = _unfed_of_each_isolated_step(monkeypatch)
    assert padiff.compare(concat_in_parent("torch"), concat_in_block("paddle"), X, single_step=True).passed
    assert [list(step.values()) for step in seen] == [["base's incoming gradient 0"]]
    seen.clear()
    assert padiff.compare(concat_in_parent("torch"), concat_in_parent("paddle"), X, single_step=True).passed
    assert seen == [{}]


def test_a_refusal_of_the_judge_at_a_layer_not_fed_is_no_verdict_but_an_excuse_stands(monkeypatch):
    """Every raw call marked unfed (as if isolation could feed none): a planted change's refusal becomes
    'not judged' with the reason, the run still fails there; rounding the judge excuses stays excused."""
    from padiff.judge.isolated import IsolatedComparer

    finish = IsolatedComparer.finish

    def unfed_everywhere(self):
        finish(self)
        self.unfed.update({node.id: "anything (a test's mark)" for node in self.aligner.raw})

    monkeypatch.setattr(IsolatedComparer, "finish", unfed_everywhere)
    base, raw = build("cnn", "torch"), build("cnn", "paddle", plant="bn_eps")
    planted = padiff.compare(base, raw, example_input("cnn"), single_step=True)
    judged = planted.first_diff.evidence.judged
    assert not planted.passed and judged is not None and judged.excused is None, judged
    assert "was not fed anything (a test's mark) in isolation" in judged.reason
    tight = {"single_step": True, "rtol": 1e-12, "atol": 0.0}
    clean = padiff.compare(build("cnn", "torch"), build("cnn", "paddle"), example_input("cnn"), **tight)
    assert any(d.judged is not None and d.judged.excused for d in clean.diffs)
