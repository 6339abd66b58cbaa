"""compare_dumps gives the Report padiff.compare(..., confirm=False, api_level=False) gives.

Both paths on the core twins: the same verdict, the same culprit, the same pairs with the same metrics.
Clean twins pass offline (and compared every layer); each planted change is found offline at exactly
its layer; optimizer steps, both framework directions and one framework on both sides agree too.
"""

from __future__ import annotations

import pytest

import padiff
from tests.checks import assert_compared
from tests.dumps import assert_same_report, dump_pair, offline
from tests.models import PLANTS, TWINS, build, example_input


def _live(twin: str, plant: str | None, **kwargs):
    base, raw = build(twin, "torch"), build(twin, "paddle", plant=plant, seed=1)
    return padiff.compare(base, raw, example_input(twin), confirm=False, api_level=False, **kwargs)


@pytest.mark.parametrize("twin", TWINS)
def test_clean_twins_pass_offline_as_they_pass_live(twin, tmp_path):
    base, raw = build(twin, "torch"), build(twin, "paddle", seed=1)
    report = offline(base, raw, example_input(twin), tmp_path)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert_same_report(report, _live(twin, None))


@pytest.mark.parametrize("plant", PLANTS, ids=lambda p: f"{p.twin}-{p.name}")
def test_a_planted_change_is_found_offline_at_its_layer_as_live(plant, tmp_path):
    base, raw = build(plant.twin, "torch"), build(plant.twin, "paddle", plant=plant.name, seed=1)
    report = offline(base, raw, example_input(plant.twin), tmp_path)
    assert not report.passed
    assert (report.first_diff.phase.value, report.first_diff.base_path) == (plant.phase, plant.path)
    assert report.first_diff.raw_path == plant.path
    assert_same_report(report, _live(plant.twin, plant.name))
    assert any("unconfirmed" in note for note in report.notes)  # what needs the models is said


def _adamw(framework: str, lr: float = 1e-3):
    if framework == "torch":
        import torch

        return lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    import paddle

    return lambda params: paddle.optimizer.AdamW(parameters=params, learning_rate=lr, weight_decay=0.01)


@pytest.mark.parametrize("raw_lr", [1e-3, 3e-3], ids=["same-optimizer", "planted-lr"])
def test_optimizer_steps_agree_offline_and_live(raw_lr, tmp_path):
    x = example_input("mlp")
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    report = offline(
        base, raw, x, tmp_path, steps=3,
        base_kwargs={"optimizer": _adamw("torch")}, raw_kwargs={"optimizer": _adamw("paddle", raw_lr)},
    )  # fmt: skip
    live = _live("mlp", None, steps=3, optimizers=(_adamw("torch"), _adamw("paddle", raw_lr)))
    assert_same_report(report, live)
    if raw_lr == 1e-3:
        assert report.passed, str(report)
        assert_compared(report, base, phases=("forward", "backward", "grad", "weight"))
        assert {d.step for d in report.diffs} == {0, 1, 2}
    else:  # negative control: a learning rate three times base's is an optimizer difference at step 0
        assert (report.first_diff.phase.value, report.first_diff.step) == ("weight", 0)


@pytest.mark.parametrize("plant", [None, "activation"])
def test_paddle_base_and_torch_raw(plant, tmp_path):
    x = example_input("mlp")
    base, raw = build("mlp", "paddle"), build("mlp", "torch", plant=plant, seed=1)
    report = offline(base, raw, x, tmp_path)
    live = padiff.compare(
        build("mlp", "paddle"), build("mlp", "torch", plant=plant, seed=1), x, confirm=False, api_level=False
    )
    assert_same_report(report, live)
    if plant is None:
        assert report.passed and report.base_framework == "paddle" and report.raw_framework == "torch"
        assert_compared(report, base)
    else:
        assert report.first_diff.base_path == "act1"


@pytest.mark.parametrize("plant", [None, "bn_eps"])
def test_one_framework_on_both_sides(plant, tmp_path):
    x = example_input("cnn")
    base, raw = build("cnn", "torch"), build("cnn", "torch", plant=plant, seed=1)
    report = offline(base, raw, x, tmp_path)
    live = padiff.compare(
        build("cnn", "torch"), build("cnn", "torch", plant=plant, seed=1), x, confirm=False, api_level=False
    )
    assert_same_report(report, live)
    if plant is None:
        assert report.passed
        assert_compared(report, base)
    else:
        assert report.first_diff.base_path == "block.bn1"
        # the settings that differ are shown, and name the culprit's (read from the dumps' stand-ins)
        assert any("epsilon 1e-05 vs 0.1" in note and "block.bn1" in note for note in report.notes)
        assert "epsilon 1e-05 vs 0.1" in report.first_diff.reason


def test_raw_that_did_not_start_from_base_weights_is_said(tmp_path):
    x = example_input("mlp")
    base_dir = padiff.dump(build("mlp", "torch"), x, tmp_path / "base")
    raw_dir = padiff.dump(build("mlp", "paddle", seed=1), x, tmp_path / "raw")  # no load_weights
    report = padiff.compare_dumps(base_dir, raw_dir)
    assert not report.passed
    assert any("did not start from base's weights" in note for note in report.notes)
    # negative control: after load_weights nothing is said
    raw = build("mlp", "paddle", seed=1)
    padiff.load_weights(raw, base_dir)
    again = padiff.compare_dumps(base_dir, padiff.dump(raw, x, tmp_path / "raw2"))
    assert again.passed and not any("did not start" in note for note in again.notes)
    assert_compared(again, build("mlp", "torch"))


def test_what_the_two_manifests_say_differently_is_shown(tmp_path):
    import json

    x = example_input("mlp")
    base, raw = build("mlp", "torch"), build("mlp", "paddle", seed=1)
    raw.eval()
    base_dir, raw_dir = dump_pair(base, raw, x, tmp_path)
    report = padiff.compare_dumps(base_dir, raw_dir)
    assert report.passed
    assert_compared(report, base)
    assert "base was dumped in train mode, raw in eval mode" in report.notes
    assert not any("environments" in note for note in report.notes)  # one machine: nothing to say
    manifest = json.loads((raw_dir / "manifest.json").read_text())
    manifest["environment"]["devices"] = ["Place(gpu:0)"]
    manifest["environment"]["padiff"] = "9.9"
    (raw_dir / "manifest.json").write_text(json.dumps(manifest))
    notes = padiff.compare_dumps(base_dir, raw_dir).notes
    shown = next(note for note in notes if "different environments" in note)
    assert "device cpu (base) vs gpu (raw)" in shown and "padiff" in shown and "9.9 (raw)" in shown


def _sgd(framework: str):
    if framework == "torch":
        import torch

        return lambda params: torch.optim.SGD(params, lr=0.1)
    import paddle

    return lambda params: paddle.optimizer.SGD(parameters=params, learning_rate=0.1)


@pytest.mark.parametrize("raw_momentum", [0.1, 0.9], ids=["same-momentum", "momentum-slip"])
@pytest.mark.parametrize("base_fw, raw_fw", [("torch", "paddle"), ("paddle", "torch")])
def test_running_statistics_are_judged_offline_as_live(base_fw, raw_fw, raw_momentum, tmp_path):
    """BatchNorm buffers after each of three train-mode steps, through both frameworks' conventions."""
    from tests.models import bn_input, bn_mlp, kit

    def pair():  # the same weights each time: the builders draw from the framework's RNG
        kit(base_fw).seed(0)
        kit(raw_fw).seed(1)
        base, raw = bn_mlp(base_fw, 0.1), bn_mlp(raw_fw, raw_momentum)
        base.train()
        raw.train()
        return base, raw

    x = bn_input()
    base, raw = pair()
    report = offline(base, raw, x, tmp_path, steps=3,
                     base_kwargs={"optimizer": _sgd(base_fw)}, raw_kwargs={"optimizer": _sgd(raw_fw)})  # fmt: skip
    live = padiff.compare(
        *pair(), x, optimizers=(_sgd(base_fw), _sgd(raw_fw)), steps=3, confirm=False, api_level=False
    )
    assert_same_report(report, live)
    buffers = {(d.step, d.base_path) for d in report.diffs if d.phase.value == "buffer"}
    assert buffers == {(step, "bn") for step in range(3)}
    if raw_momentum == 0.1:
        assert report.passed, str(report)
        assert_compared(report, base, phases=("forward", "backward", "grad", "weight", "buffer"))
    else:  # the classic porting slip: found at the BatchNorm, its settings named
        culprit = report.first_diff
        assert (culprit.phase.value, culprit.step, culprit.base_path) == ("buffer", 0, "bn")
        assert "momentum" in culprit.reason
