"""`padiff.record`: watch the user's own training loop and dump it as `padiff.dump` would.

Hooks are on the model inside the `with` block, `rec.step()` closes a step, and a given optimizer's
`step` is watched (gradients and the update are read around it); the model is left as the loop made it,
except that dropout (layers, and the frameworks' functional dropout) is switched off while recording,
as in `compare`. Under a launcher each rank writes `path/rank_<k>/` and rank 0 writes the run's
manifest last, on leaving the block (`run`); a data-parallel wrapper is recorded as the model it wraps.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from ..capture.hooks import Hooks, RunState
from ..errors import InputError
from ..frameworks.base import adapter_for
from ..judge.trace import AFTER, BEFORE
from .ranks import unwrap_parallel
from .record import _name, _policy, _writer
from .run import RunLayout, dump_target
from .sink import StepWriter
from .writer import DumpWriter

__all__ = ["record", "Recorder"]


class Recorder:
    """What `padiff.record` returns: call `step()` after each training step of your loop."""

    def __init__(
        self,
        model: Any,
        path: str | Path,
        optimizer: Any,
        summary_only: bool,
        overwrite: bool,
        distributed: bool | None = None,
    ):
        self.adapter = adapter_for(model, "model")
        model = unwrap_parallel(model)
        if optimizer is not None and not self.adapter.is_optimizer(optimizer):
            raise InputError(
                f"record's optimizer must be a {self.adapter.name} optimizer, got {type(optimizer).__name__}",
                hint="pass the optimizer object your loop steps, or leave it out",
            )
        self.model, self.path, self.optimizer = model, path, optimizer
        self.summary_only, self.overwrite, self.distributed = summary_only, overwrite, distributed
        self.layout: RunLayout | None = None
        self.policy = _policy(self.adapter, model)
        self.writer: DumpWriter | None = None
        self.hooks: Hooks | None = None
        self.dropout: AbstractContextManager | None = None
        self.state = RunState()
        self.step_writer: StepWriter | None = None
        self._patched = False

    def __enter__(self) -> Recorder:
        folder, self.layout = dump_target(self.path, self.adapter.name, self.distributed, self.overwrite)
        self.writer = _writer(
            folder, self.adapter, self.model, "record", self.summary_only, self.overwrite, self.layout
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
        if failed and self.layout is not None:
            self.layout.abort()

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
            if self.layout is not None:
                self.path = self.layout.finish()
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
    distributed: bool | None = None,
) -> Recorder:
    """`with padiff.record(model, path, optimizer=opt) as rec:` around your own training loop; call
    `rec.step()` after each step. The folder is a dump like `padiff.dump`'s (`path/rank_<k>/` per rank
    under a launcher)."""
    return Recorder(model, path, optimizer, summary_only, overwrite, distributed)
