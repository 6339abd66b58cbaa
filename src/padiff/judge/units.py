"""Run one unit of base again, alone and in another dtype: a layer call's forward, its backward, and its
parameters' gradients, fed what base's recorded trace says that call received.

The layer is a copy (hooks off, dropout off, BatchNorm statistics of its own), cast to the dtype asked
for; its recorded arguments (`Trace.arguments`, tensor slots filled from the recorded inputs, floats cast
to that dtype) call it; the gradient base's call received at each output, less what its other outputs
sent back through it (`_external`), drives its backward. Every op the copy runs is watched: one whose
floating output comes out in another dtype (an explicit `.to(float32)`, a `softmax(dtype=...)`) means
the unit cannot really be computed in that dtype, and the run says so instead of answering.

With `perturb` = u, every floating value the unit reads (its inputs, its parameters, the incoming
gradient) is first multiplied by (1 + u r), r drawn uniformly from [-1, 1] with a fixed seed: the exact
result of inputs rounded once more in a dtype of unit roundoff u. How far that moves the result is what
rounding to that dtype alone does to this computation (`rounding`'s third estimate of base's error).
With `round_to` (a float16 or bfloat16 the framework has no kernels for), every such value is instead
rounded to that dtype (to nearest, ties to even) and the unit runs in float64: the unit in that dtype
as far as its values go, which stands for base's own run in it.

With `autocast` (base ran under its framework's autocast to that dtype), the copy keeps the layer's own
dtype and runs under that autocast, each input in the dtype it was recorded in and each incoming
gradient in its output's dtype: base's unit as base computed it, mixed dtypes included.

With a `Span`, the unit is the layer and the activation the other side fuses into it (torch's BatchNorm
and the ReLU after it, against paddle's BatchNorm(act="relu")): the activation is applied to the layer's
output, and the gradient driving the backward is the one base's next layer sent back to that activation.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..capture.leaves import fill, tensor_leaves
from ..frameworks.base import Adapter
from .jitter import Jitter
from .records import Where
from .rounding import roundoff
from .trace import Trace

__all__ = ["Span", "UnitRun", "run_unit", "watched_call"]


@dataclass(frozen=True)
class Span:
    """A layer's unit extended by the activation after it: the activation, and where base's next layer
    took the activation's output in (its call id and input index; its gradient there drives backward)."""

    activation: Callable[[Any], Any]
    node_id: int
    index: int


@dataclass
class UnitRun:
    """What one re-run computed, by output index, input index and parameter name (relative to the layer)."""

    outputs: dict[int, np.ndarray] = field(default_factory=dict)
    input_grads: dict[int, np.ndarray] = field(default_factory=dict)
    param_grads: dict[str, np.ndarray] = field(default_factory=dict)
    # the gradient at each watched sublayer call's outputs, by (which watched call, output index)
    child_grads: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    cast_down: str = ""  # an op whose floating result left the dtype asked for ("" when none) ...
    cast_to: str = ""  # ... and that result's dtype: the least precise such dtype of the run
    failed: str = ""  # why the unit could not be run ("" when it ran)


def run_unit(
    adapter: Adapter,
    layer: Any,
    trace: Trace,
    node_id: int,
    dtype: str,
    backward: bool,
    perturb: float = 0.0,
    span: Span | None = None,
    round_to: str | None = None,
    children: tuple[tuple[str, int], ...] = (),
    autocast: str | None = None,
) -> UnitRun:
    """Call `layer` (base's layer of call `node_id`, copied and cast to `dtype`) on that call's recorded
    arguments; with `backward`, also its input and parameter gradients for the recorded incoming ones;
    with `perturb`, on values rounded once more; with `span`, followed by an activation; with `autocast`,
    under that autocast (module docstring)."""
    result = UnitRun()
    arguments = trace.arguments(node_id)
    if arguments is None:
        result.failed = "its arguments were not recorded"
        return result
    try:
        jitter = Jitter(perturb, round_to)
        _run(
            adapter,
            layer,
            trace,
            node_id,
            dtype,
            backward,
            arguments,
            result,
            jitter,
            span,
            children,
            autocast,
        )
    except Exception as error:  # the unit alone may not run (state it kept between calls, a cache object)
        result.failed = (
            f"it raised {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        )
    return result


def _run(
    adapter: Adapter,
    layer: Any,
    trace: Trace,
    node_id: int,
    dtype: str,
    backward: bool,
    arguments: Any,
    result: UnitRun,
    jitter: Jitter,
    span: Span | None,
    children: tuple[tuple[str, int], ...] = (),
    autocast: str | None = None,
) -> None:
    copy = adapter.cast_copy(layer, dtype)
    watched: list[tuple[tuple[int, int], Any]] = []  # ((watched call, output index), tensor): `_watch`
    handles = [_watch(adapter, copy, child, k, watched) for k, child in enumerate(children)]
    if any(h is None for h in handles):
        missing = [child[0] for child, h in zip(children, handles) if h is None]
        result.failed = f"it has no sublayer '{missing[0]}'"
        for handle in handles:
            if handle is not None:
                handle.remove()
        return
    if jitter:
        for _, param in adapter.named_parameters(copy):
            adapter.assign(param, jitter(adapter.to_numpy(param)))
    inputs = []
    for index in range(len(trace.tree[node_id].inputs)):
        stored = trace.tensor(Where.INPUT, node_id, index)
        if stored is None:
            result.failed = f"its input {index} was not recorded"
            return
        array = jitter(np.ma.getdata(trace.array(stored)))
        floating = np.issubdtype(array.dtype, np.floating)
        inputs.append(
            adapter.tensor(
                array,
                (stored.dtype if autocast else dtype) if floating else None,
                requires_grad=floating and backward,
                device=adapter.device_of(copy),
            )
        )
    # under autocast a leaf is cast once and cached (torch), an input inside a model is not: feed copies
    called = [adapter.private_input(t) for t in inputs] if autocast else inputs
    args, kwargs = fill((arguments.args, arguments.kwargs), called)

    def watch(name: str, output: Any) -> None:
        leaves, _ = tensor_leaves(output, adapter.is_tensor)
        for _, t in leaves:
            other = adapter.dtype_name(t) if adapter.is_float(t) else dtype
            if other != dtype and (not result.cast_to or roundoff(other) > roundoff(result.cast_to)):
                result.cast_down, result.cast_to = name, other

    try:
        with adapter.enable_grad(), adapter.intercept_ops(watch), _autocast(adapter, copy, autocast):
            output = copy(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    leaves, _ = tensor_leaves(output, adapter.is_tensor)
    if span is not None:
        if len(leaves) != 1:
            result.failed = f"it returns {len(leaves)} tensors, not the one its activation takes"
            return
        leaves = [(leaves[0][0], span.activation(leaves[0][1]))]
    result.outputs = {i: adapter.to_numpy(t) for i, (_, t) in enumerate(leaves)}
    if backward:
        _backward(
            adapter, copy, trace, node_id, dtype, leaves, inputs, result, jitter, span, watched, autocast
        )


def _backward(
    adapter: Adapter,
    copy: Any,
    trace: Trace,
    node_id: int,
    dtype: str,
    leaves: list,
    inputs: list,
    result: UnitRun,
    jitter: Jitter,
    span: Span | None,
    watched: list[tuple[tuple[int, int], Any]] | None = None,
    autocast: str | None = None,
) -> None:
    outputs, grads = [], []
    for index, (_, tensor) in enumerate(leaves):
        if span is None:
            stored = trace.tensor(Where.GRAD_OUT, node_id, index)
        else:  # the gradient at the activation's output: what base's next layer sent back there
            stored = trace.tensor(Where.GRAD_IN, span.node_id, span.index)
        if stored is not None and adapter.is_float(tensor) and adapter.requires_grad(tensor):
            outputs.append(tensor)
            grads.append(
                adapter.tensor(
                    jitter(np.ma.getdata(trace.array(stored))),
                    adapter.dtype_name(tensor) if autocast else dtype,  # under autocast, the output's
                    requires_grad=False,
                    device=adapter.device_of(tensor),
                )
            )
    if not outputs:
        result.failed = "no gradient reached its outputs"
        return
    grads = _external(adapter, outputs, grads)
    wanted = [t for t in inputs if adapter.requires_grad(t)]
    params = adapter.named_parameters(copy)
    inside = [(key, t) for key, t in watched or [] if adapter.is_float(t) and adapter.requires_grad(t)]
    computed = adapter.autograd(outputs, grads, wanted + [p for _, p in params] + [t for _, t in inside])
    input_index = [i for i, t in enumerate(inputs) if adapter.requires_grad(t)]
    result.input_grads = {i: adapter.to_numpy(g) for i, g in zip(input_index, computed) if g is not None}
    after_inputs = computed[len(wanted) :]
    result.param_grads = {
        name: adapter.to_numpy(g)
        for (name, _), g in zip(params, after_inputs[: len(params)])
        if g is not None
    }
    result.child_grads = {
        key: adapter.to_numpy(g) for (key, _), g in zip(inside, after_inputs[len(params) :]) if g is not None
    }


def _external(adapter: Adapter, outputs: list[Any], totals: list[Any]) -> list[Any]:
    """The gradient each output gets from outside the unit. A recorded gradient is the total at that
    tensor: for an output the unit itself computes another output from (eager attention returns the
    softmax weights its output is made of), it holds what that other output sent back through it, which
    fed as is would count twice. So external = total - what the other outputs' external gradients send
    to it, solved round by round (outputs that feed one another form a chain: n - 1 rounds are exact)."""
    external = list(totals)
    for _ in range(len(outputs) - 1):
        sent = [
            adapter.autograd(outputs[:j] + outputs[j + 1 :], external[:j] + external[j + 1 :], [o], True)[0]
            for j, o in enumerate(outputs)
        ]
        if all(s is None for s in sent):
            break
        external = [t if s is None else t - s for t, s in zip(totals, sent)]
    return external


def _autocast(adapter: Adapter, copy: Any, autocast: str | None) -> AbstractContextManager:
    return nullcontext() if autocast is None else adapter.autocast(copy, autocast)


def _watch(adapter: Adapter, copy: Any, child: tuple[str, int], number: int, watched: list) -> Any:
    """A hook keeping the output tensors of call `child[1]` of the copy's sublayer `child[0]` in
    `watched`, keyed (number, output index): the gradient arriving there is what the layer's own code
    sent back. None: no such sublayer."""
    path, call = child
    sublayer = next((layer for name, layer in adapter.named_sublayers(copy) if name == path), None)
    if sublayer is None:
        return None
    calls = [0]

    def keep(layer: Any, args: Any, kwargs: Any, output: Any) -> None:
        if calls[0] == call:
            leaves = tensor_leaves(output, adapter.is_tensor)[0]
            watched.extend(((number, i), t) for i, (_, t) in enumerate(leaves))
        calls[0] += 1

    return adapter.add_post_hook(sublayer, keep)


def watched_call(tree: Any, parent: Any, node: Any) -> tuple[str, int]:
    """`node`'s path relative to `parent`, and which call of that layer inside `parent`'s call it is (the
    calls inside a call have the ids right after it)."""
    relative = node.path[len(parent.path) + 1 :] if parent.path else node.path
    return relative, sum(1 for n in tree.nodes[parent.id + 1 : node.id] if n.path == node.path)
