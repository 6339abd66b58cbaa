"""Layer inputs pair by name (Hugging Face layers pass extra keyword inputs such as cache_position)."""

from __future__ import annotations

import numpy as np

import padiff
from tests.checks import assert_compared
from tests.models import kit, with_cache_position, without_cache_position

X = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")


def test_an_extra_keyword_input_on_one_side_does_not_shift_the_others():
    report = padiff.compare(with_cache_position("torch"), without_cache_position("paddle"), X)
    assert report.passed, str(report)
    assert_compared(report, pairs=["block", "block.fc", ""])
    inputs = {d.leaf for d in report.diffs if d.where == "input" and d.raw_path == "block"}
    assert "scale" in inputs and "cache_position" not in inputs
    # negative control: a real difference inside the block is still found there
    report = padiff.compare(with_cache_position("torch"), without_cache_position("paddle", factor=1.01), X)
    assert report.first_diff is not None and report.first_diff.raw_path == "block"


def _two_linears(framework: str):
    nn = kit(framework).nn
    return nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))


def test_parameters_keep_their_own_local_error_after_confirmation():
    report = padiff.compare(_two_linears("torch"), _two_linears("paddle"), X, single_step=True)
    grads = [d for d in report.diffs if d.phase.value == "grad"]
    assert len({(d.raw_path, d.leaf) for d in grads}) == len(grads) == 4
    # each parameter's local error is its own: not all the same record
    assert len({id(d.local) for d in grads}) == len(grads)


def _linear_then(framework: str, *acts: str):
    nn = kit(framework).nn
    return nn.Sequential(nn.Linear(4, 4), *(getattr(nn, act)() for act in acts))


def test_ignoring_a_layer_with_weights_says_its_weights_were_not_copied():
    torch_model, paddle_model = _linear_then("torch", "Tanh"), _linear_then("paddle", "Tanh")
    layer_map = padiff.LayerMap()
    layer_map.ignore([torch_model[0], paddle_model[0]])
    report = padiff.compare(torch_model, paddle_model, X, layer_map=layer_map)
    assert any("not copied" in note and "0" in note for note in report.notes), report.notes
    # negative control: without ignore nothing is said
    plain = padiff.compare(_linear_then("torch"), _linear_then("paddle"), X)
    assert not any("not copied" in note for note in plain.notes)
