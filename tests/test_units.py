"""The float64 judge's units re-run what base computed, exactly: a layer returning a tensor that another
of its outputs is made of (eager attention returns its softmax weights) is driven by the gradient from
outside only, and a unit of a side that ran under autocast runs again under it.

Before, Hugging Face's ERNIE 4.5 attention (eager) re-ran with twice the gradient at its q and k
projections (the weights' recorded gradient already held what the output sent back through them), and
a torch base under bfloat16 autocast was re-run without it: neither reproduced base's own value, so
the judge could not excuse bfloat16 rounding there (tests/real/test_transformers_ernie.py). And the
values single-step isolation puts in place of raw's are copies: torch added a residual's gradient in
place into the base gradient it was given, which changed base's recorded trace under the judge (Phi-3,
paddle base against torch under autocast, was not judged there and failed).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pytest

import padiff
from padiff.capture.run import capture_run
from padiff.frameworks.base import adapter_for
from padiff.judge import units
from padiff.judge.base_trace import BaseTrace
from padiff.judge.records import Where
from padiff.judge.units import run_unit
from padiff.match.policy import LayerPolicy
from tests.models.frameworks import kit

X = np.random.default_rng(0).standard_normal((2, 6, 8)).astype("float32")
ATTEND = "attend"


@functools.cache
def _classes(framework: str) -> tuple[type, type]:
    k = kit(framework)

    class Attend(k.Layer):
        """(softmax(q(x) x^T) v(x), the softmax weights): the second output is inside the first."""

        def __init__(self, scale: float = 1.0) -> None:
            super().__init__()
            self.q, self.v = k.nn.Linear(8, 8), k.nn.Linear(8, 8)
            self.scale = scale

        def forward(self, x: Any) -> Any:
            weights = k.F.softmax((self.q(x) @ k.swap_last(x)) * self.scale, -1)
            return weights @ self.v(x), weights

    class Net(k.Layer):
        def __init__(self, scale: float = 1.0) -> None:
            super().__init__()
            self.attend, self.head = Attend(scale), k.nn.Linear(8, 4)

        def forward(self, x: Any) -> Any:
            y, _ = self.attend(x)  # the weights go nowhere else
            return self.head(y)

    return Attend, Net


def _net(framework: str, scale: float = 1.0) -> Any:
    kit(framework).seed(0)
    return _classes(framework)[1](scale)


def _recorded(framework: str, autocast: str | None = None) -> tuple[Any, Any, BaseTrace, Any]:
    model = _net(framework)
    adapter = adapter_for(model)
    trace = BaseTrace(adapter)
    x = adapter.from_numpy(X, requires_grad=True)
    capture_run(adapter, model, (x,), {}, trace, LayerPolicy(), None, "base", autocast=autocast)
    trace.finish()
    node = next(n for n in trace.tree if n.path == ATTEND)
    return adapter, model, trace, node


def _drift(run: units.UnitRun, trace: BaseTrace, node: Any) -> float:
    """How far the re-run's gradient at the layer's input is from what base's run recorded there."""
    assert not run.failed, run.failed
    recorded = trace.array(trace.tensor(Where.GRAD_IN, node.id, 0))
    return float(np.abs(run.input_grads[0].astype(np.float64) - recorded).max())


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_layer_returning_what_its_output_is_made_of_is_re_run_exactly(framework: str) -> None:
    adapter, model, trace, node = _recorded(framework)
    layer = model.attend
    assert _drift(run_unit(adapter, layer, trace, node.id, "float32", True), trace, node) == 0.0
    grad = run_unit(adapter, layer, trace, node.id, "float64", True).input_grads[0]
    recorded = trace.array(trace.tensor(Where.GRAD_IN, node.id, 0))
    assert np.allclose(grad, recorded, rtol=1e-5, atol=1e-7)  # float64 is the same function


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_control_fed_the_recorded_gradients_as_they_are_the_re_run_counts_the_weights_twice(
    framework: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter, model, trace, node = _recorded(framework)
    monkeypatch.setattr(units, "_external", lambda adapter, outputs, totals: totals)
    recorded = trace.array(trace.tensor(Where.GRAD_IN, node.id, 0))
    drift = _drift(run_unit(adapter, model.attend, trace, node.id, "float32", True), trace, node)
    assert drift > 1e-3 * float(np.abs(recorded).max())


def test_outputs_that_do_not_feed_one_another_keep_their_gradients() -> None:
    """A layer with two independent outputs (no subtraction happens: nothing is sent between them)."""
    import torch

    class Two(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)

        def forward(self, x: Any) -> Any:
            return self.a(x), self.b(x)

    class Outer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.two = Two()

        def forward(self, x: Any) -> Any:
            a, b = self.two(x)
            return (a * b).sum(-1)

    torch.manual_seed(0)
    model = Outer()
    adapter = adapter_for(model)
    trace = BaseTrace(adapter)
    capture_run(adapter, model, (torch.from_numpy(X),), {}, trace, LayerPolicy(), None, "base")
    trace.finish()
    node = next(n for n in trace.tree if n.path == "two")
    run = run_unit(adapter, model.two, trace, node.id, "float32", True)
    assert not run.failed, run.failed
    for name, param in model.two.named_parameters():
        assert np.array_equal(run.param_grads[name], param.grad.numpy()), name


def test_a_unit_of_a_side_under_autocast_runs_again_under_it() -> None:
    adapter, model, trace, node = _recorded("torch", autocast="bfloat16")
    again = run_unit(adapter, model.attend, trace, node.id, "float32", True, autocast="bfloat16")
    assert _drift(again, trace, node) == 0.0
    recorded = trace.array(trace.tensor(Where.OUTPUT, node.id, 0))
    assert np.array_equal(again.outputs[0], recorded)
    plain = run_unit(adapter, model.attend, trace, node.id, "float32", True)  # control: float32 alone
    assert not np.array_equal(plain.outputs[0], recorded)


@pytest.mark.parametrize("autocast", [None, ("bfloat16", None)], ids=["float32", "base bfloat16"])
def test_the_judge_excuses_rounding_at_such_a_layer_and_finds_a_planted_difference(autocast) -> None:
    """torch base against paddle raw, every pair failing its tolerance (rtol 1e-12) so that each reaches
    the judge: the attention-like layer's pairs are judged (not left as 'does not reproduce') and excused;
    a 25% scale planted in raw's softmax input (1% is within what bfloat16 rounding does there) is found there and not excused."""
    tight = {"rtol": 1e-12, "atol": 0.0}
    report = padiff.compare(_net("torch"), _net("paddle"), X, single_step=True, autocast=autocast, **tight)
    assert report.passed, str(report)
    judged = [d for d in report.diffs if d.base_path == ATTEND and d.judged is not None]
    assert judged and all(d.judged.excused for d in judged), [d.judged for d in judged]
    planted = padiff.compare(_net("torch"), _net("paddle", scale=1.25), X, autocast=autocast, **tight)
    assert not planted.passed
    culprit = planted.first_diff
    assert (culprit.phase.value, culprit.base_path) == ("forward", ATTEND), str(planted)
    assert culprit.evidence.judged is not None and culprit.evidence.judged.excused is False


@functools.cache
def _residual_classes(framework: str) -> type:
    k = kit(framework)

    class MLP(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.up, self.act, self.down = k.nn.Linear(8, 16), k.nn.Tanh(), k.nn.Linear(16, 8)

        def forward(self, x: Any) -> Any:
            return self.down(self.act(self.up(x)))

    class Block(k.Layer):
        """x + mlp(norm(x)): the residual's gradient meets the mlp's at x."""

        def __init__(self, eps: float) -> None:
            super().__init__()
            self.norm, self.mlp = k.ln(8, eps), MLP()

        def forward(self, x: Any) -> Any:
            return x + self.mlp(self.norm(x))

    class Residual(k.Layer):
        def __init__(self, eps: float = 1e-5) -> None:
            super().__init__()
            self.block, self.head = Block(eps), k.nn.Linear(8, 4)

        def forward(self, x: Any) -> Any:
            return self.head(self.block(x))

    return Residual


def _residual(framework: str, eps: float = 1e-5) -> Any:
    kit(framework).seed(0)
    return _residual_classes(framework)(eps)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_a_substituted_value_is_a_copy_of_base_s(framework: str, requires_grad: bool) -> None:
    like = _residual(framework).head.weight  # a parameter: a tensor of the framework that needs grad
    adapter = adapter_for(_residual(framework))
    if not requires_grad:
        like = like.detach()
    array = np.ones(tuple(adapter.shape(like)), dtype="float32")
    value = adapter.substitute(like, array)
    value.detach().add_(value.detach())  # what an in-place gradient accumulation does
    assert np.array_equal(array, np.ones_like(array))


@pytest.mark.parametrize("raw", ["torch", "paddle"])
def test_isolation_leaves_base_s_trace_as_recorded_for_the_judge(raw: str) -> None:
    """Every pair failing rtol 1e-12 reaches the judge, which re-runs base's units on base's trace: all
    are judged and excused; a planted LayerNorm eps in raw is found there and not excused."""
    base = "paddle" if raw == "torch" else "torch"
    tight = {"rtol": 1e-12, "atol": 0.0, "single_step": True}
    report = padiff.compare(_residual(base), _residual(raw), X, **tight)
    assert report.passed, str(report)
    assert not any("not judged" in note for note in report.notes), report.notes
    planted = padiff.compare(_residual(base), _residual(raw, eps=1e-3), X, **tight)
    culprit = planted.first_diff
    assert culprit is not None and (culprit.phase.value, culprit.base_path) == ("forward", "block.norm"), str(
        planted
    )
    assert culprit.evidence.judged is not None and culprit.evidence.judged.excused is False
