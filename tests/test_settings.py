"""The settings diff (judge/settings.py, judge/settings_table.py, explain.py): every setting of the table
planted once on one side and explained, in the notes of every run and in the culprit's reason; one that
moves outputs less than the tolerance passes and is still listed; optimizer settings likewise; the worst
element of a report (an Embedding's padding row is row 0)."""

from __future__ import annotations

import paddle
import pytest
import torch

import padiff
from tests.checks import assert_compared
from tests.models import SETTINGS, build, example_input, setting_input, setting_twin

DIRECTIONS = [("torch", "paddle"), ("paddle", "torch")]


def _settings_notes(report: padiff.Report) -> list[str]:
    return [n for n in report.notes if "settings differ" in n]


def _pair(name: str, base_fw: str, raw_fw: str, planted: bool):
    case = SETTINGS[name]
    torch.manual_seed(0)
    paddle.seed(0)
    base = setting_twin(base_fw, name)
    raw = setting_twin(raw_fw, name, case.planted) if planted else setting_twin(raw_fw, name)
    if name == "dropout_mode":  # paddle's downscale_in_infer scales in eval mode
        base.eval()
        raw.eval()
    return base, raw


@pytest.mark.parametrize("name", [n for n in SETTINGS if n != "groups"])
def test_a_planted_setting_is_listed_and_explains_the_culprit(name):
    case = SETTINGS[name]
    base, raw = _pair(name, "torch", "paddle", planted=False)
    clean = padiff.compare(base, raw, setting_input(name))
    assert clean.passed, str(clean)
    assert_compared(clean, base)
    assert _settings_notes(clean) == []
    base, raw = _pair(name, "torch", "paddle", planted=True)
    report = padiff.compare(base, raw, setting_input(name))
    notes = _settings_notes(report)
    assert len(notes) == 1 and notes[0].startswith(f"settings differ (base vs raw): {case.shown} in "), notes
    assert f"'{case.layer}'" in notes[0]
    if case.phase is None:  # within the tolerance: the run passes, and the note says what differs
        assert report.passed, str(report)
        assert_compared(report, base)
        return
    culprit = report.first_diff
    assert culprit is not None, str(report)
    assert (culprit.phase.value, culprit.base_path, culprit.raw_path) == (case.phase, case.layer, case.layer)
    assert culprit.reason.endswith(f"; settings differ: {case.shown}"), culprit.reason
    assert f"why: {culprit.reason}" in str(report)


@pytest.mark.parametrize("base_fw, raw_fw", DIRECTIONS, ids=lambda fw: fw)
def test_settings_are_read_in_either_direction(base_fw, raw_fw):
    base, raw = _pair("count_include_pad", base_fw, raw_fw, planted=False)
    assert _settings_notes(padiff.compare(base, raw, setting_input("count_include_pad"))) == []
    torch.manual_seed(0)
    paddle.seed(0)
    base = setting_twin(base_fw, "count_include_pad", False)
    raw = setting_twin(raw_fw, "count_include_pad", True)
    notes = _settings_notes(padiff.compare(base, raw, setting_input("count_include_pad")))
    exclusive = " (paddle exclusive=True)" if base_fw == "paddle" else ""
    assert notes and f"count_include_pad False{exclusive} vs True" in notes[0], notes


def test_a_groups_difference_is_named_in_the_weight_transfer_error():
    """groups change a convolution's weight shape: the transfer fails, and says why."""
    base, raw = _pair("groups", "torch", "paddle", planted=False)
    report = padiff.compare(base, raw, setting_input("groups"))
    assert report.passed, str(report)
    assert_compared(report, base)
    base, raw = _pair("groups", "torch", "paddle", planted=True)
    with pytest.raises(padiff.WeightTransferError) as caught:
        padiff.compare(base, raw, setting_input("groups"))
    first_line = str(caught.value).splitlines()[0]
    assert "'conv.weight'" in first_line and first_line.endswith("; settings differ: groups 1 vs 2"), (
        first_line
    )
    assert "\nhint: " in str(caught.value)


def test_many_layers_with_one_difference_make_one_note():
    """The same difference in several layers is one note naming them (a port with every eps wrong)."""
    base, raw = build("cnn", "torch"), build("cnn", "paddle", seed=1)
    for layer in raw.sublayers():
        if isinstance(layer, paddle.nn.BatchNorm2D):
            layer._epsilon = 1e-3
    report = padiff.compare(base, raw, example_input("cnn"))
    notes = _settings_notes(report)
    assert notes == [
        "settings differ (base vs raw): epsilon 1e-05 vs 0.001 in 3 BatchNorm2d / BatchNorm2D layers "
        "'stem.bn', 'block.bn1', 'block.bn2'"
    ], notes


def _optimizers(lr_raw: float):
    return (
        lambda params: torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01),
        lambda params: paddle.optimizer.AdamW(parameters=params, learning_rate=lr_raw, weight_decay=0.01),
    )


def test_optimizer_settings_are_listed_and_explain_an_update_culprit():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    report = padiff.compare(base, raw, example_input("mlp"), optimizers=_optimizers(1e-3))
    assert report.passed, str(report)
    assert_compared(report, base, phases=("forward", "backward", "grad", "weight"))
    assert _settings_notes(report) == []
    report = padiff.compare(base, raw, example_input("mlp"), optimizers=_optimizers(1e-2))
    assert _settings_notes(report) == ["optimizer settings differ (base vs raw): learning_rate 0.001 vs 0.01"]
    culprit = report.first_diff
    assert culprit is not None and culprit.phase.value == "weight", str(report)
    assert culprit.reason.endswith("; optimizer settings differ: learning_rate 0.001 vs 0.01"), culprit.reason


def test_optimizers_of_different_kinds_and_decays_are_named():
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    optimizers = (
        lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda params: paddle.optimizer.Momentum(
            parameters=params, learning_rate=0.1, momentum=0.9, weight_decay=0.001
        ),
    )
    report = padiff.compare(base, raw, example_input("mlp"), optimizers=optimizers)
    assert _settings_notes(report) == ["optimizer settings differ (base vs raw): weight_decay 0.01 vs 0.001"]
    optimizers = (optimizers[0], lambda params: paddle.optimizer.Adam(parameters=params, learning_rate=0.1))
    notes = _settings_notes(padiff.compare(base, raw, example_input("mlp"), optimizers=optimizers))
    assert notes and notes[0].startswith("optimizer settings differ (base vs raw): optimizer SGD vs Adam"), (
        notes
    )


def test_the_padding_row_of_an_embedding_is_the_worst_element():
    """torch's padding_idx=0 zeroes row 0's gradient; a port without it does not: the gradient differs
    in row 0 only, and the report says so with both values."""
    base, raw = _pair("padding_idx", "torch", "paddle", planted=True)
    report = padiff.compare(base, raw, setting_input("padding_idx"))
    culprit = report.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("grad", "emb"), str(report)
    metrics = culprit.metrics
    assert metrics.worst_index[0] == 0 and len(metrics.worst_index) == 2, metrics
    assert metrics.worst_base == 0.0 and metrics.worst_raw != 0.0
    row = f"[0, {metrics.worst_index[1]}]"
    assert f"worst element {row}: base 0  raw {metrics.worst_raw:.6g}" in str(report)
    # negative control: with the padding row on both sides the gradients agree
    base, raw = _pair("padding_idx", "torch", "paddle", planted=False)
    clean = padiff.compare(base, raw, setting_input("padding_idx"))
    assert clean.passed, str(clean)
    assert_compared(clean, base)
    assert "closest to tolerance:" in str(clean)
