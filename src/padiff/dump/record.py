"""Dump a run: `padiff.dump` runs the steps itself, `padiff.record` watches the user's own training loop.

Both record what one side of `padiff.compare` records, step by step: the model's calls (forward and
backward, as `sink` keeps them), each parameter's gradient, the buffers before and after the run, and
with an optimizer each state's value before its step and its update. `dump` runs a step exactly as
`compare` runs one side (same hooks, same default loss, dropout switched off in train mode, gradients
kept across steps unless the optimizer clears them) and puts the model, its gradients and a given
optimizer back afterwards. `record` leaves the loop to the user: hooks are on the model inside the
`with` block, `rec.step()` closes a step, and a given optimizer's `step` is watched (gradients and the
update are read around it); the model is left as the loop made it, except that dropout (layers, and the
frameworks' functional dropout) is switched off while recording, as in `compare`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..capture.hooks import Hooks, RunState
from ..capture.inputs import prepare_inputs
from ..capture.leaves import tensor_leaves
from ..capture.optim import StepFunction, step_optimizer
from ..capture.restore import ModelState, TrainingState
from ..capture.run import capture_run
from ..errors import InputError
from ..frameworks.base import Adapter, adapter_for, adapter_for_tensor
from ..judge.trace import AFTER, BEFORE
from ..match.policy import LayerPolicy, with_sealed
from ..options import check_steps, step_inputs
from .sink import StepWriter
from .writer import DumpWriter

__all__ = ["dump", "record", "Recorder"]


def _policy(adapter: Adapter, model: Any) -> LayerPolicy:
    """What `compare` does with a model given no LayerMap (built-in layers with foreign insides sealed)."""
    return with_sealed(adapter, LayerPolicy(), list(adapter.named_sublayers(model)))


def _optimizer(adapter: Adapter, model: Any, item: Any) -> tuple[Any, bool]:
    """(optimizer, made by padiff) from an optimizer, a factory of one, or a function doing the step."""
    if item is None or adapter.is_optimizer(item):
        return item, False
    if callable(item) and _takes_no_arguments(item):
        return StepFunction(item), True  # padiff 0.2.0: a function that performs the step itself
    if callable(item):
        made = item(adapter.parameters(model))
        if adapter.is_optimizer(made):
            return made, True
    raise InputError(
        f"optimizer is a {type(item).__name__}, not a {adapter.name} optimizer or a factory of one",
        hint="pass optimizer=torch.optim.SGD(model.parameters(), lr=0.1) or lambda params: ...",
    )


def _takes_no_arguments(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return not any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params
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
) -> Path:
    """Run `model` on `inputs` for `steps` steps (or one per entry of `batches`) and write everything a
    comparison needs to the folder `path`; returns the folder. See README.md ("Offline")."""
    adapter = adapter_for(model, "model")
    check_steps(steps, batches)
    batch_list = step_inputs(inputs, steps, batches)
    made, owned = _optimizer(adapter, model, optimizer)
    policy = _policy(adapter, model)
    saved: list[Any] = [ModelState(adapter, model)]
    if made is not None:
        saved.append(TrainingState(adapter, model, None if owned else made))
    writer = DumpWriter(path, adapter, model, "dump", summary_only, overwrite)
    notes: list[str] = []
    try:
        for batch in batch_list:
            args, kwargs = _call(batch, adapter, model, notes)
            step = writer.begin_step()
            step.buffers(BEFORE, model)
            state = capture_run(adapter, model, args, kwargs, step.sink, policy, loss_fn, "model")
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
        return writer.finish(notes, settings)
    except BaseException:
        writer.abort()
        raise
    finally:
        for restore in reversed(saved):
            restore.restore()


def _name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "__qualname__", None) or type(value).__name__


class Recorder:
    """What `padiff.record` returns: call `step()` after each training step of your loop."""

    def __init__(self, model: Any, path: str | Path, optimizer: Any, summary_only: bool, overwrite: bool):
        self.adapter = adapter_for(model, "model")
        if optimizer is not None and not self.adapter.is_optimizer(optimizer):
            raise InputError(
                f"record's optimizer must be a {self.adapter.name} optimizer, got {type(optimizer).__name__}",
                hint="pass the optimizer object your loop steps, or leave it out",
            )
        self.model, self.path, self.optimizer = model, path, optimizer
        self.summary_only, self.overwrite = summary_only, overwrite
        self.policy = _policy(self.adapter, model)
        self.writer: DumpWriter | None = None
        self.hooks: Hooks | None = None
        self.dropout: AbstractContextManager | None = None
        self.state = RunState()
        self.step_writer: StepWriter | None = None
        self._patched = False

    def __enter__(self) -> Recorder:
        self.writer = DumpWriter(
            self.path, self.adapter, self.model, "record", self.summary_only, self.overwrite
        )
        try:
            self._watch_optimizer()
            self._begin()
        except BaseException:
            self._stop(failed=True)
            raise
        return self

    def _begin(self) -> None:
        assert self.writer is not None
        self.step_writer = self.writer.begin_step()
        self.step_writer.buffers(BEFORE, self.model)
        self.state = RunState()
        self.step_writer.sink.on_start(self.state.tree)
        self.hooks = Hooks(self.adapter, self.model, self.step_writer.sink, self.policy, self.state)
        self.hooks.__enter__()
        state = self.state  # functional dropout runs with p = 0 while recording, as in compare
        self.dropout = self.adapter.dropout_off(functools.partial(_count_dropout, state))
        self.dropout.__enter__()

    def _end(self) -> None:
        assert self.writer is not None and self.step_writer is not None
        self._unhook()
        step = self.step_writer
        step.sink.finish()
        step.param_grads(self.model)
        step.buffers(AFTER, self.model)
        self.step_writer = None
        self.writer.end_step(self.state, [])

    def step(self) -> None:
        """Close the current step (its gradients are read now unless an optimizer step read them) and
        start the next."""
        if self.writer is None or self.step_writer is None:
            raise InputError("rec.step() called outside its `with padiff.record(...)` block", hint="")
        self._end()
        self._begin()

    def _watch_optimizer(self) -> None:
        """Read gradients and weights before the optimizer's step and the update after it."""
        optimizer = self.optimizer
        if optimizer is None:
            return
        original = optimizer.step

        def step(*args: Any, **kwargs: Any) -> Any:
            current = self.step_writer
            if current is None:
                return original(*args, **kwargs)
            current.param_grads(self.model)
            before = current.state_arrays(self.model)
            result = original(*args, **kwargs)
            current.update(self.model, before, optimizer)
            return result

        optimizer.step = step  # on this object only, taken off again on exit
        self._patched = True

    def _unhook(self) -> None:
        if self.dropout is not None:
            self.dropout.__exit__(None, None, None)
            self.dropout = None
        if self.hooks is not None:
            self.hooks.__exit__(None, None, None)
            self.hooks = None

    def _stop(self, failed: bool) -> None:
        self._unhook()
        if self._patched:
            del self.optimizer.step
            self._patched = False
        if failed and self.writer is not None:
            self.writer.abort()

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is not None or self.writer is None:
            self._stop(failed=True)
            return
        try:
            if self.step_writer is not None and self.state.tree.nodes:
                self._end()
            elif self.step_writer is not None:
                self.step_writer.abort()  # nothing ran after the last rec.step()
                self.step_writer = None
            self._stop(failed=False)
            if not self.writer.steps:
                raise InputError(
                    "padiff.record saw no call of the model", hint="run the model inside the with block"
                )
            self.writer.finish([], {"optimizer": _name(self.optimizer)})
        except BaseException:
            self._stop(failed=True)
            raise


def _count_dropout(state: RunState) -> None:
    state.functional_dropout += 1


def record(
    model: Any,
    path: str | Path,
    *,
    optimizer: Any = None,
    summary_only: bool = False,
    overwrite: bool = False,
) -> Recorder:
    """`with padiff.record(model, path, optimizer=opt) as rec:` around your own training loop; call
    `rec.step()` after each step. The folder is a dump like `padiff.dump`'s."""
    return Recorder(model, path, optimizer, summary_only, overwrite)
