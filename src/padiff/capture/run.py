"""Run one model forward, through its loss and backward, under scoped hooks (see `hooks`).

The loss is the user's `loss_fn` of the output, or by default the sum of the means of every float output
that requires grad. An exception from the model is a `RunError` naming the layer that raised and the
layers finished before it; one raised in padiff's own hooks says it is padiff's failure. Framework
global state (default dtype, grad mode, RNG) is put back on return.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from ..errors import InputError, PadiffError, RunError
from ..frameworks.base import Adapter
from ..match.policy import LayerPolicy
from .frames import raised_in_padiff
from .hooks import Hooks, RunState
from .leaves import tensor_leaves
from .sink import Sink

__all__ = ["capture_run"]


def _layer_chain(state: RunState) -> str:
    chain = " > ".join(state.tree[i].path or "(root)" for i in state.stack)
    return chain or "(root)"


def capture_run(
    adapter: Adapter,
    model: Any,
    args: tuple,
    kwargs: dict,
    sink: Sink,
    policy: LayerPolicy,
    loss_fn: Callable[[Any], Any] | None,
    role: str,
    backward: bool = True,
    call: Callable[..., Any] | None = None,
    autocast: str | None = None,
) -> RunState:
    """Forward, loss and backward of `model` under hooks; everything changed is restored on return.
    `call`: what runs the forward instead of `model` itself (a data-parallel wrapper around it).
    `autocast`: a dtype the forward and loss run in under the framework's autocast (not the backward)."""
    state = RunState()
    sink.on_start(state.tree)
    saved = adapter.global_state()
    try:
        counted = functools.partial(_count_dropout, state)
        with Hooks(adapter, model, sink, policy, state), adapter.enable_grad(), adapter.dropout_off(counted):
            args = tuple(adapter.private_input(a) if adapter.is_tensor(a) else a for a in args)
            kwargs = {k: adapter.private_input(v) if adapter.is_tensor(v) else v for k, v in kwargs.items()}
            with adapter.autocast(model, autocast) if autocast else contextlib.nullcontext():
                output = _forward(adapter, model if call is None else call, args, kwargs, state, role)
                loss = _loss(adapter, output, loss_fn, role) if backward else None
            if loss is not None:
                _backward(adapter, loss, role)
    finally:
        adapter.restore_global_state(saved)
    return state


def _count_dropout(state: RunState) -> None:
    state.functional_dropout += 1


def _backward(adapter: Adapter, loss: Any, role: str) -> None:
    try:
        adapter.backward(loss)
    except PadiffError:
        raise
    except Exception as error:
        raise RunError(
            f"{role} model ({adapter.name}) raised in backward: {type(error).__name__}: {error}",
            hint="a custom backward (autograd.Function / PyLayer) or an in-place op on a saved tensor",
        ) from error


def _forward(adapter: Adapter, model: Any, args: tuple, kwargs: dict, state: RunState, role: str) -> Any:
    try:
        return model(*args, **kwargs)
    except PadiffError:
        raise
    except Exception as error:
        where = _layer_chain(state)
        if raised_in_padiff(error):
            raise PadiffError(
                f"padiff itself failed while running the {role} model ({adapter.name}) in layer '{where}': "
                f"{type(error).__name__}: {error}",
                hint="this is a padiff bug, not your model's: please report it with this message",
            ) from error
        done = [n.path or "(root)" for n in state.tree if n.id not in state.stack][-5:]
        raise RunError(
            f"{role} model ({adapter.name}) raised in layer '{where}': {type(error).__name__}: {error}\n"
            f"  layers finished before it: {state.finished} (last: {', '.join(done) or 'none'})",
            hint="the model fails on this input by itself; run it once without padiff to check",
        ) from error


def _loss(adapter: Adapter, output: Any, loss_fn: Callable[[Any], Any] | None, role: str) -> Any:
    if loss_fn is None:
        leaves, _ = tensor_leaves(output, adapter.is_tensor, adapter.unpack)
        floats = [t for _, t in leaves if adapter.is_float(t) and adapter.requires_grad(t)]
        return adapter.scalar_loss(floats) if floats else None
    try:
        loss = loss_fn(output)
    except Exception as error:
        raise RunError(
            f"{role} loss_fn raised: {type(error).__name__}: {error}", hint="check loss_fn"
        ) from error
    if not adapter.is_scalar(loss):
        shape = list(adapter.shape(loss)) if adapter.is_tensor(loss) else type(loss).__name__
        raise InputError(
            f"{role} loss_fn returned {shape}, not a scalar float tensor",
            hint="reduce the loss with .mean() or .sum()",
        )
    return loss if adapter.requires_grad(loss) else None
