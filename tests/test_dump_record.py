"""padiff.record around the user's own training loop: the dump it writes compares like padiff.dump's.

A torch loop recorded with `record` (forward, loss, backward, optimizer step, `rec.step()`) against the
paddle port dumped by `padiff.dump` with the same optimizer gives the report `padiff.compare` gives on
the two models; an optimizer with another learning rate is found at step 0's update.
"""

from __future__ import annotations

import numpy as np
import pytest

import padiff
from padiff.dump.manifest import read_manifest
from tests.checks import assert_compared
from tests.dumps import assert_same_report
from tests.models import build, example_input


def _torch_loop(model, x: np.ndarray, folder, steps: int, lr: float = 0.1):
    import torch

    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    with padiff.record(model, folder, optimizer=optimizer) as rec:
        for _ in range(steps):
            optimizer.zero_grad()
            inputs = torch.tensor(x, requires_grad=True)
            loss = model(inputs).mean()
            loss.backward()
            optimizer.step()
            rec.step()
    return optimizer


def _paddle_sgd(lr: float):
    import paddle

    return lambda params: paddle.optimizer.Momentum(learning_rate=lr, momentum=0.9, parameters=params)


def _torch_sgd(lr: float):
    import torch

    return lambda params: torch.optim.SGD(params, lr=lr, momentum=0.9)


@pytest.mark.parametrize("raw_lr", [0.1, 0.3], ids=["same-optimizer", "planted-lr"])
def test_a_recorded_loop_compares_like_compare(tmp_path, raw_lr):
    x = example_input("mlp")
    base = build("mlp", "torch")
    _torch_loop(base, x, tmp_path / "base", steps=2)
    raw = build("mlp", "paddle", seed=1)
    padiff.load_weights(raw, tmp_path / "base")
    padiff.dump(raw, x, tmp_path / "raw", steps=2, optimizer=_paddle_sgd(raw_lr))
    report = padiff.compare_dumps(tmp_path / "base", tmp_path / "raw")
    live = padiff.compare(
        build("mlp", "torch"), build("mlp", "paddle", seed=1), x, steps=2,
        optimizers=(_torch_sgd(0.1), _paddle_sgd(raw_lr)), confirm=False, api_level=False,
    )  # fmt: skip
    assert_same_report(report, live)
    if raw_lr == 0.1:
        assert report.passed, str(report)
        assert_compared(report, base, phases=("forward", "backward", "grad", "weight"))
        assert {d.step for d in report.diffs} == {0, 1}
    else:
        assert (report.first_diff.phase.value, report.first_diff.step) == ("weight", 0)


def test_a_second_call_of_the_model_in_a_step_is_left_out_and_said(tmp_path):
    import torch

    x = example_input("mlp")
    base = build("mlp", "torch")
    with padiff.record(base, tmp_path / "base") as rec:
        base(torch.tensor(x, requires_grad=True)).mean().backward()
        with torch.no_grad():
            base(torch.tensor(x * 2))  # an evaluation pass inside the step
        rec.step()
    raw = build("mlp", "paddle", seed=1)
    padiff.load_weights(raw, tmp_path / "base")
    report = padiff.compare_dumps(tmp_path / "base", padiff.dump(raw, x, tmp_path / "raw"))
    assert report.passed, str(report)
    assert_compared(report, base)
    assert any("called 2 times; only the first call" in note for note in report.notes)
    nodes = read_manifest(tmp_path / "base")["steps"][0]["nodes"]
    assert [n["path"] for n in nodes] == ["", "fc1", "act1", "fc2", "act2", "fc3"]


@pytest.mark.parametrize("make", ["functional_dropout", "drop_path"])
def test_random_train_mode_is_switched_off_while_recording_as_in_compare(make, tmp_path):
    """Functional dropout runs with p = 0 and DropPath-like layers are off, in `record` and `dump`."""
    import torch

    import tests.models as models

    x = np.random.default_rng(0).standard_normal((6, 8)).astype(np.float32)
    base = getattr(models, make)("torch")
    with padiff.record(base, tmp_path / "base") as rec:
        base(torch.tensor(x, requires_grad=True)).mean().backward()
        rec.step()
    raw = getattr(models, make)("paddle", seed=1)
    padiff.load_weights(raw, tmp_path / "base")
    report = padiff.compare_dumps(tmp_path / "base", padiff.dump(raw, x, tmp_path / "raw"))
    assert report.passed, str(report)
    assert_compared(report, base, pairs=["fc", "head"])
    said = (
        "calls of functional dropout ran with p = 0"
        if make == "functional_dropout"
        else "dropout layers were switched off"
    )
    assert any(note.startswith("base:") and said in note for note in report.notes), report.notes
    assert any(note.startswith("raw:") and said in note for note in report.notes), report.notes
    assert base.training and raw.training


def test_record_leaves_the_loop_alone_and_takes_its_hooks_off(tmp_path):
    import torch

    x = example_input("mlp")
    model, twin = build("mlp", "torch"), build("mlp", "torch")
    twin.load_state_dict(model.state_dict())
    optimizer = _torch_loop(model, x, tmp_path / "d", steps=2)
    twin_optimizer = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):  # the same loop without padiff
        twin_optimizer.zero_grad()
        twin(torch.tensor(x, requires_grad=True)).mean().backward()
        twin_optimizer.step()
    for (name, value), (_, expected) in zip(model.state_dict().items(), twin.state_dict().items()):
        assert torch.equal(value, expected), name
    assert not model._forward_hooks and not model.fc1._forward_pre_hooks
    assert "step" not in vars(optimizer)  # the watched step is the class's again
    manifest = read_manifest(tmp_path / "d")
    assert manifest["kind"] == "record" and len(manifest["steps"]) == 2
    assert all(step["updated"] and step["optimizer"]["kind"] == "SGD" for step in manifest["steps"])


def test_a_paddle_loop_recorded_without_optimizer(tmp_path):
    import paddle

    x = example_input("cnn")
    model = build("cnn", "paddle")
    model.eval()
    with padiff.record(model, tmp_path / "base") as rec:
        model(paddle.to_tensor(x, stop_gradient=False)).mean().backward()
        rec.step()
    raw = build("cnn", "torch", plant="bn_eps", seed=1)
    raw.eval()
    padiff.load_weights(raw, tmp_path / "base")
    report = padiff.compare_dumps(tmp_path / "base", padiff.dump(raw, x, tmp_path / "raw"))
    assert (report.first_diff.phase.value, report.first_diff.base_path) == ("forward", "block.bn1")
    clean = build("cnn", "torch", seed=1)
    clean.eval()
    padiff.load_weights(clean, tmp_path / "base")
    passing = padiff.compare_dumps(tmp_path / "base", padiff.dump(clean, x, tmp_path / "clean"))
    assert passing.passed, str(passing)
    assert_compared(passing, clean)


def test_record_refuses_what_it_cannot_use(tmp_path):
    model = build("mlp", "torch")
    with pytest.raises(padiff.InputError, match="optimizer"):
        padiff.record(model, tmp_path / "a", optimizer="sgd")
    with pytest.raises(padiff.InputError, match="no call of the model"):
        with padiff.record(model, tmp_path / "b"):
            pass
    with pytest.raises(padiff.DumpError, match="interrupted"):
        padiff.compare_dumps(tmp_path / "b", tmp_path / "b")
