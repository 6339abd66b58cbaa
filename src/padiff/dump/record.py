"""Dump a run: `padiff.dump` runs the steps itself (`padiff.record`, in `recorder`, watches the user's own
training loop).

`dump` records what one side of `padiff.compare` records, step by step: the model's calls (forward and
backward, as `sink` keeps them), each parameter's gradient, the buffers before and after the run, and
with an optimizer each state's value before its step and its update. It runs a step exactly as
`compare` runs one side (same hooks, same default loss, dropout switched off in train mode, gradients
kept across steps unless the optimizer clears them) and puts the model, its gradients and a given
optimizer back afterwards. Under a launcher each rank writes `path/rank_<k>/` and rank 0 writes the
run's manifest last (`run`); a data-parallel wrapper is recorded as the model it wraps and still called
(`ranks`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..capture.inputs import prepare_inputs
from ..capture.leaves import tensor_leaves
from ..capture.optim import StepFunction, step_optimizer, takes_no_arguments
from ..capture.restore import ModelState, TrainingState
from ..capture.run import capture_run
from ..errors import InputError
from ..frameworks.base import Adapter, adapter_for, adapter_for_tensor
from ..judge.trace import AFTER, BEFORE
from ..match.policy import LayerPolicy, with_sealed
from ..options import check_steps, step_inputs
from .ranks import unwrap_parallel
from .run import RunLayout, dump_target
from .writer import DumpWriter

__all__ = ["dump"]


def _policy(adapter: Adapter, model: Any) -> LayerPolicy:
    """What `compare` does with a model given no LayerMap (built-in layers with foreign insides sealed)."""
    return with_sealed(adapter, LayerPolicy(), list(adapter.named_sublayers(model)))


def _optimizer(adapter: Adapter, model: Any, item: Any) -> tuple[Any, bool]:
    """(optimizer, made by padiff) from an optimizer, a factory of one, or a function doing the step."""
    if item is None or adapter.is_optimizer(item):
        return item, False
    if callable(item) and takes_no_arguments(item):
        return StepFunction(item), True  # padiff 0.2.0: a function that performs the step itself
    if callable(item):
        made = item(adapter.parameters(model))
        if adapter.is_optimizer(made):
            return made, True
    raise InputError(
        f"optimizer is a {type(item).__name__}, not a {adapter.name} optimizer or a factory of one",
        hint="pass optimizer=torch.optim.SGD(model.parameters(), lr=0.1) or lambda params: ...",
    )


def _call(batch: Any, adapter: Adapter, model: Any, notes: list[str]) -> tuple[tuple, dict]:
    """The model's (args, kwargs): framework tensors as given, numpy arrays converted as `compare` does."""
    leaves, _ = tensor_leaves(batch, lambda v: adapter_for_tensor(v) is not None)
    if leaves:
        if isinstance(batch, dict):
            return (), dict(batch)
        return (tuple(batch), {}) if isinstance(batch, (tuple, list)) else ((batch,), {})
    call, _, input_notes = prepare_inputs(batch, (adapter, model), (adapter, model))
    notes.extend(n for n in input_notes if n not in notes)
    return call


def dump(
    model: Any,
    inputs: Any,
    path: str | Path,
    *,
    loss_fn: Callable[[Any], Any] | None = None,
    optimizer: Any = None,
    steps: int | None = None,
    batches: list[Any] | None = None,
    summary_only: bool = False,
    overwrite: bool = False,
    distributed: bool | None = None,
) -> Path:
    """Run `model` on `inputs` for `steps` steps (or one per entry of `batches`) and write everything a
    comparison needs to the folder `path`; returns the folder. Under a launcher (`distributed=None`:
    read from the environment) this rank writes `path/rank_<k>/`. See README.md ("Offline")."""
    adapter = adapter_for(model, "model")
    wrapper, model = model, unwrap_parallel(model)
    check_steps(steps, batches)
    batch_list = step_inputs(inputs, steps, batches)
    made, owned = _optimizer(adapter, model, optimizer)
    policy = _policy(adapter, model)
    saved: list[Any] = [ModelState(adapter, model)]
    if made is not None:
        saved.append(TrainingState(adapter, model, None if owned else made))
    folder, layout = dump_target(path, adapter.name, distributed, overwrite)
    writer = _writer(folder, adapter, model, "dump", summary_only, overwrite, layout)
    notes: list[str] = []
    try:
        for batch in batch_list:
            args, kwargs = _call(batch, adapter, model, notes)
            step = writer.begin_step()
            step.buffers(BEFORE, model)
            state = capture_run(
                adapter, model, args, kwargs, step.sink, policy, loss_fn, "model", call=wrapper
            )
            del args, kwargs
            step.sink.finish()
            step.param_grads(model)
            step.buffers(AFTER, model)
            if made is not None:
                before = step.state_arrays(model)
                step_optimizer(adapter, model, made)
                step.update(model, before, made)
            writer.end_step(state, [])
        settings = {"loss_fn": None if loss_fn is None else _name(loss_fn), "optimizer": _name(optimizer)}
        done = writer.finish(notes, settings)
        return done if layout is None else layout.finish()
    except BaseException:
        writer.abort()
        if layout is not None:
            layout.abort()
        raise
    finally:
        for restore in reversed(saved):
            restore.restore()


def _writer(
    folder: Path,
    adapter: Adapter,
    model: Any,
    kind: str,
    summary: bool,
    overwrite: bool,
    layout: RunLayout | None,
) -> DumpWriter:
    distributed = None if layout is None else layout.info.to_json()
    return DumpWriter(folder, adapter, model, kind, summary, overwrite, distributed)


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "__qualname__", None) or type(value).__name__
