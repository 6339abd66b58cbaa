"""compare(device=...) and tensors made where the model is (issue 14's per-side device choice).

No GPU was lent to this task, so the CUDA runs themselves are not tested here. What is: the option on
the CPU, its refusals (CUDA where torch has none, paddle models, bad names) with nothing lost, and the
device-following code on torch's "meta" device: every tensor padiff makes for a model (its inputs,
base's values substituted in isolation, the float64 judge's inputs, raw's optimizer gradients) lands on
the device of the tensor or model it is made for, not on the CPU.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

import padiff
from padiff.capture.inputs import prepare_inputs
from padiff.errors import InputError
from padiff.frameworks.torch import TorchAdapter
from tests.checks import assert_compared
from tests.models import build, example_input

META = torch.device("meta")
ARRAY = np.arange(6, dtype="float32").reshape(2, 3)


def _weights(model) -> dict[str, np.ndarray]:
    if isinstance(model, torch.nn.Module):
        return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _same(before: dict[str, np.ndarray], model) -> bool:
    after = _weights(model)
    return before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("device", ["cpu", ("cpu", None), ("cpu", "cpu")])
def test_a_torch_model_on_the_device_asked_for_passes_and_says_so(device):
    twin = "cnn"
    base, x = build(twin, "torch"), example_input(twin)
    raw = (
        build(twin, "torch", seed=1) if device == ("cpu", "cpu") or device == "cpu" else build(twin, "paddle")
    )
    report = padiff.compare(base, raw, x, device=device)
    assert report.passed, str(report)
    assert_compared(report, base)
    assert any("base (torch) ran on cpu, where it was" in n for n in report.notes), report.notes
    assert next(base.parameters()).device.type == "cpu"


def test_a_plant_is_found_on_the_device_asked_for():
    """Control for the test above."""
    base, x = build("cnn", "torch"), example_input("cnn")
    report = padiff.compare(base, build("cnn", "torch", plant="bn_eps", seed=1), x, device="cpu")
    assert not report.passed and report.first_diff.base_path == "block.bn1", str(report)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch has CUDA: the refusal cannot be shown")
def test_cuda_where_torch_has_none_is_refused_before_anything_moves():
    base, raw, x = build("mlp", "torch"), build("mlp", "torch", seed=1), example_input("mlp")
    before = _weights(base), _weights(raw)
    with pytest.raises(InputError) as error:
        padiff.compare(base, raw, x, device=(None, "cuda"))
    assert "raw device 'cuda'" in str(error.value) and "no CUDA device" in str(error.value)
    assert "a machine with a GPU" in error.value.hint
    assert _same(before[0], base) and _same(before[1], raw)


def test_a_device_for_a_paddle_model_is_refused_with_the_way_to_choose_it():
    base, raw, x = build("mlp", "torch"), build("mlp", "paddle", seed=1), example_input("mlp")
    before = _weights(raw)
    with pytest.raises(InputError) as error:
        padiff.compare(base, raw, x, device=(None, "cpu"))
    assert "padiff moves torch models only" in str(error.value)
    assert "paddle.set_device" in error.value.hint
    assert _same(before, raw) and isinstance(raw, paddle.nn.Layer)


@pytest.mark.parametrize("device", ["tpu", "meta", "cuda:x", 3, ("cpu",), ("cpu", "cpu", "cpu")])
def test_a_bad_device_is_a_clear_error(device):
    base, raw, x = build("mlp", "torch"), build("mlp", "torch", seed=1), example_input("mlp")
    with pytest.raises(InputError, match="device"):
        padiff.compare(base, raw, x, device=device)


# --- tensors made where they are used, shown on torch's "meta" device ---------------------------------


def test_inputs_are_made_on_the_device_of_the_model():
    torch_model = build("mlp", "torch").to(META)
    x = example_input("mlp")
    (made,), _ = prepare_inputs(x, (TorchAdapter(), torch_model), (TorchAdapter(), build("mlp", "torch")))[0]
    assert made.device == META and made.requires_grad
    cpu_model = build("mlp", "torch")
    (made,), _ = prepare_inputs(x, (TorchAdapter(), cpu_model), (TorchAdapter(), cpu_model))[0]
    assert made.device.type == "cpu"  # control


def test_values_substituted_in_isolation_land_on_the_device_of_the_tensor_they_replace():
    adapter = TorchAdapter()
    like = torch.empty(2, 3, device=META, requires_grad=True)
    value = adapter.substitute(like, ARRAY)
    assert value.device == META and value.dtype == like.dtype
    assert adapter.substitute(torch.empty(2, 3, dtype=torch.float64), ARRAY).device.type == "cpu"  # control


def test_tensors_the_judge_and_the_optimizer_isolation_make_follow_the_device_given():
    adapter = TorchAdapter()
    made = adapter.tensor(ARRAY, "float64", requires_grad=True, device=META)
    assert made.device == META and made.dtype == torch.float64 and made.requires_grad
    assert adapter.from_numpy(ARRAY, device=META).device == META
    assert adapter.tensor(ARRAY, None, requires_grad=False).device.type == "cpu"  # control: the default
    layer = torch.nn.Linear(3, 2).to(META)
    assert adapter.device_of(layer) == META and adapter.device_of(layer.weight) == META
    assert adapter.device_of(torch.nn.ReLU()) is None  # a layer without weights: the default device
