"""Run one model under scoped hooks and stream what it computes to a sink.

For every layer call the sink sees: the call itself (a `CallNode` of the call tree), its input tensors,
its output tensors (handed over before any later op can change them in place), and in backward the
gradient arriving at its outputs ("grad_out") and the gradient it sends to its own inputs ("grad_in").
To see a layer's own input gradient, each float input is replaced by a zero-cost alias (a view) whose
gradient only this layer produces. A tensor that is already known as an earlier layer's output is passed
with its `origin`, so sinks can avoid copying or comparing it twice.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import InputError, PadiffError, RunError
from .nested import tensor_leaves
from .rules import is_builtin, layer_kind

__all__ = ["CallNode", "Sink", "LayerPolicy", "capture_run"]

_PADIFF_DIR = os.path.dirname(os.path.abspath(__file__))


@dataclass
class CallNode:
    """One call of one layer."""

    id: int
    path: str
    cls: str
    kind: str
    builtin: bool
    call: int  # 0 for the first call of this layer in the run, 1 for the second, ...
    parent: int | None
    site: str  # where the user's code called it
    defined: str  # where its forward is defined
    transparent: bool = False  # needs no counterpart (container, LayerMap.ignore)
    opaque: bool = False  # compared at its boundary only (LayerMap.map)
    fused: str = ""  # an activation the layer applies to its own output (paddle BatchNorm(act=...))
    inputs: tuple[
        str, ...
    ] = ()  # keys of its tensor inputs, positional ones named by its forward's signature
    children: list[int] = field(default_factory=list)


class Sink(Protocol):
    """What a run reports to. `substitute` and `replace_grad` let a sink feed a layer other values than
    the run computed (single-step isolation); returning None keeps the run's own."""

    def on_call(self, node: CallNode) -> bool: ...
    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any: ...
    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any: ...
    def on_input(
        self, node: CallNode, index: int, key: str, tensor: Any, origin: tuple[int, int] | None
    ) -> None: ...
    def on_output(
        self, node: CallNode, index: int, key: str, tensor: Any, origin: tuple[int, int] | None
    ) -> None: ...
    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None: ...
    def on_return(self, node: CallNode) -> None: ...


@dataclass(frozen=True)
class LayerPolicy:
    """What the run does per layer object (by id): left unhooked, transparent, or opaque."""

    skipped: frozenset[int] = frozenset()
    transparent: frozenset[int] = frozenset()
    opaque: frozenset[int] = frozenset()


@dataclass
class RunState:
    nodes: list[CallNode] = field(default_factory=list)
    stack: list[int] = field(default_factory=list)
    finished: int = 0
    dropout_neutralised: int = 0
    skipped_outputs: int = 0


class _Identity:
    """Tensors seen in this run, by object identity and in-place version (weak: nothing kept alive).

    A tensor changed in place since it was seen (`out += identity`) no longer holds what was seen."""

    def __init__(self, version: Callable[[Any], int]) -> None:
        self._version = version
        self._refs: dict[int, tuple[weakref.ref, int, Any]] = {}

    def get(self, tensor: Any) -> Any:
        entry = self._refs.get(id(tensor))
        if entry is not None and entry[0]() is tensor and entry[1] == self._version(tensor):
            return entry[2]
        return None

    def put(self, tensor: Any, value: Any) -> None:
        self._refs[id(tensor)] = (weakref.ref(tensor), self._version(tensor), value)


def internal_frame(filename: str, skip: tuple[str, ...], keep: tuple[str, ...]) -> bool:
    """A frame of padiff, of the framework's library or of the standard library, but not of a model zoo
    shipped inside a framework (paddle.vision.models: user code, as in `rules.is_builtin`)."""
    return filename.startswith(skip) and not filename.startswith(keep)


def _call_site(skip: tuple[str, ...], keep: tuple[str, ...] = ()) -> str:
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not internal_frame(filename, skip, keep):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return ""


def _defined(layer: Any) -> str:
    code = getattr(getattr(type(layer), "forward", None), "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code is not None else ""


class _Hooks:
    """Installs hooks on every layer of a model and undoes every change it made, also on error."""

    def __init__(self, adapter: Any, model: Any, sink: Sink, policy: LayerPolicy, state: RunState):
        self.adapter, self.model, self.sink, self.policy, self.state = adapter, model, sink, policy, state
        self.handles: list[Any] = []
        self.restore: list[Callable[[], None]] = []
        self.origins = _Identity(adapter.version)
        self.grad_targets = _Identity(adapter.version)
        self.calls: dict[int, int] = {}
        self.paths: dict[int, str] = {}
        dirs = (_PADIFF_DIR, adapter.package_dir, os.path.dirname(os.__file__))
        self.skip_dirs = tuple(os.path.join(d, "") for d in dirs)  # not .../paddleformers for .../paddle

    def __enter__(self) -> _Hooks:
        try:
            for path, layer in self.adapter.named_sublayers(self.model):
                if id(layer) in self.paths or id(layer) in self.policy.skipped:
                    continue
                self.paths[id(layer)] = path
                self._neutralise(layer)
                self.handles.append(self.adapter.add_pre_hook(layer, self._pre_hook))
                self.handles.append(self.adapter.add_post_hook(layer, self._post_hook))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in reversed(self.handles):
            handle.remove()
        self.handles.clear()
        for undo in reversed(self.restore):
            undo()
        self.restore.clear()

    def _neutralise(self, layer: Any) -> None:
        if getattr(layer, "inplace", False) is True:
            layer.inplace = False
            self.restore.append(lambda layer=layer: setattr(layer, "inplace", True))
        if self.adapter.is_dropout(layer) and self.adapter.is_training(layer):
            self.adapter.set_training(layer, False)
            self.state.dropout_neutralised += 1
            self.restore.append(lambda layer=layer: self.adapter.set_training(layer, True))

    def _pre_hook(self, layer: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        node = self._open(layer)
        leaves = _input_leaves(layer, args, kwargs, self.adapter.is_tensor)
        node.inputs = tuple(key for key, _ in leaves)
        if not self.sink.on_call(node):
            return None
        for index, (key, tensor) in enumerate(leaves):
            self.sink.on_input(node, index, key, tensor, self.origins.get(tensor))
        return self._alias_inputs(node, args, kwargs, leaves)

    def _open(self, layer: Any) -> CallNode:
        state = self.state
        call = self.calls.get(id(layer), 0)
        self.calls[id(layer)] = call + 1
        node = CallNode(
            id=len(state.nodes),
            path=self.paths[id(layer)],
            cls=type(layer).__name__,
            kind=layer_kind(layer),
            builtin=is_builtin(layer),
            call=call,
            parent=state.stack[-1] if state.stack else None,
            site=_call_site(self.skip_dirs, self.adapter.user_dirs),
            defined=_defined(layer),
            # a container is looked through, but the root is what everything pairs under
            transparent=bool(state.stack)
            and (id(layer) in self.policy.transparent or self.adapter.is_container(layer)),
            opaque=id(layer) in self.policy.opaque,
            fused=self.adapter.fused_activation(layer),
        )
        if node.parent is not None:
            state.nodes[node.parent].children.append(node.id)
        state.nodes.append(node)
        state.stack.append(node.id)
        return node

    def _alias_inputs(self, node: CallNode, args: tuple, kwargs: dict, leaves) -> tuple[tuple, dict] | None:
        """Give the layer private views of its top-level float inputs, to catch its own input gradient
        (and, when the sink asks, other values: single-step isolation)."""
        index_of = {id(t): i for i, (_, t) in enumerate(leaves)}
        memo: dict[int, Any] = {}  # one private input per distinct tensor, so `q is k` stays true

        def private(value: Any) -> Any:
            if not self.adapter.is_tensor(value) or not self.adapter.is_float(value):
                return value
            if id(value) not in memo:
                memo[id(value)] = self._private_input(node, index_of[id(value)], value)
            return memo[id(value)]

        new_args = tuple(private(a) for a in args)
        new_kwargs = {k: private(v) for k, v in kwargs.items()}
        changed = any(
            memo[key] is not tensor for key, tensor in ((id(t), t) for _, t in leaves) if key in memo
        )
        return (new_args, new_kwargs) if changed else None

    def _private_input(self, node: CallNode, index: int, value: Any) -> Any:
        adapter = self.adapter
        replacement = self.sink.substitute(node, index, value)
        tensor = value if replacement is None else replacement
        if not adapter.requires_grad(tensor):
            return tensor
        view = adapter.alias(tensor)
        origin = self.origins.get(value) if replacement is None else None
        if origin is not None:  # the view holds the same values as the tensor it aliases
            self.origins.put(view, origin)
        hook = lambda g, n=node, i=index: self.sink.on_grad(n, "grad_in", i, g)  # noqa: E731
        self.handles.append(adapter.add_grad_hook(view, hook))
        return view

    def _post_hook(self, layer: Any, args: tuple, kwargs: dict, output: Any) -> None:
        state = self.state
        node = state.nodes[state.stack.pop()]
        state.finished += 1
        leaves, skipped = tensor_leaves(output, self.adapter.is_tensor)
        if node.parent is None:
            state.skipped_outputs = skipped
        for index, (key, tensor) in enumerate(leaves):
            origin = self.origins.get(tensor)
            self.sink.on_output(node, index, key, tensor, origin)
            if origin is None:
                self.origins.put(tensor, (node.id, index))
            self._watch_grad(node, index, tensor)
        self.sink.on_return(node)

    def _watch_grad(self, node: CallNode, index: int, tensor: Any) -> None:
        adapter = self.adapter
        if not adapter.requires_grad(tensor) or not adapter.is_float(tensor):
            return
        targets = self.grad_targets.get(tensor)
        if targets is None:
            targets = []
            self.grad_targets.put(tensor, targets)

            def hook(grad: Any, targets: list = targets) -> Any:
                replacement = None
                for target_node, target_index in targets:
                    self.sink.on_grad(target_node, "grad_out", target_index, grad)
                    if replacement is None:
                        replacement = self.sink.replace_grad(target_node, target_index, grad)
                return replacement

            self.handles.append(adapter.add_grad_hook(tensor, hook))
        targets.append((node, index))


def _input_leaves(
    layer: Any, args: tuple, kwargs: dict, is_tensor: Callable[[Any], bool]
) -> list[tuple[str, Any]]:
    """Tensor inputs keyed by name: the forward's parameter name ("hidden_states", "x[2]"), else "arg0"."""
    names = _positional_names(type(layer))
    positional, _ = tensor_leaves(args, is_tensor)
    keyword, _ = tensor_leaves(kwargs, is_tensor)

    def name(match: re.Match) -> str:
        index = int(match.group(1))
        return names[index] if index < len(names) else f"arg{index}"

    named = [(re.sub(r"^\[(\d+)\]", name, key), t) for key, t in positional]
    return named + [(re.sub(r"^\['([^']*)'\]", r"\1", key), t) for key, t in keyword]


def _layer_chain(state: RunState) -> str:
    chain = " > ".join(state.nodes[i].path or "(root)" for i in state.stack)
    return chain or "(root)"


def capture_run(
    adapter: Any,
    model: Any,
    args: tuple,
    kwargs: dict,
    sink: Sink,
    policy: LayerPolicy,
    loss_fn: Callable[[Any], Any] | None,
    role: str,
    backward: bool = True,
) -> RunState:
    """Forward, loss and backward of `model` under hooks; everything changed is restored on return."""
    state = RunState()
    saved = adapter.global_state()
    try:
        with _Hooks(adapter, model, sink, policy, state), adapter.enable_grad():
            args = tuple(adapter.private_input(a) if adapter.is_tensor(a) else a for a in args)
            kwargs = {k: adapter.private_input(v) if adapter.is_tensor(v) else v for k, v in kwargs.items()}
            output = _forward(adapter, model, args, kwargs, state, role)
            loss = _loss(adapter, output, loss_fn, role) if backward else None
            if loss is not None:
                _backward(adapter, loss, role)
    finally:
        adapter.restore_global_state(saved)
    return state


def _backward(adapter: Any, loss: Any, role: str) -> None:
    try:
        adapter.backward(loss)
    except PadiffError:
        raise
    except Exception as error:
        raise RunError(
            f"{role} model ({adapter.name}) raised in backward: {type(error).__name__}: {error}",
            hint="a custom backward (autograd.Function / PyLayer) or an in-place op on a saved tensor",
        ) from error


def _forward(adapter: Any, model: Any, args: tuple, kwargs: dict, state: RunState, role: str) -> Any:
    try:
        return model(*args, **kwargs)
    except PadiffError:
        raise
    except Exception as error:
        where = _layer_chain(state)
        if _raised_in_padiff(error):
            raise PadiffError(
                f"padiff itself failed while running the {role} model ({adapter.name}) in layer '{where}': "
                f"{type(error).__name__}: {error}",
                hint="this is a padiff bug, not your model's: please report it with this message",
            ) from error
        done = [n.path or "(root)" for n in state.nodes if n.id not in state.stack][-5:]
        raise RunError(
            f"{role} model ({adapter.name}) raised in layer '{where}': {type(error).__name__}: {error}\n"
            f"  layers finished before it: {state.finished} (last: {', '.join(done) or 'none'})",
            hint="the model fails on this input by itself; run it once without padiff to check",
        ) from error


def _raised_in_padiff(error: BaseException) -> bool:
    """Whether the innermost frame of the error's traceback is padiff's own code (a hook), not the model's."""
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and last.startswith(_PADIFF_DIR)


def _loss(adapter: Any, output: Any, loss_fn: Callable[[Any], Any] | None, role: str) -> Any:
    if loss_fn is None:
        leaves, _ = tensor_leaves(output, adapter.is_tensor)
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


_SIGNATURES: dict[type, tuple[str, ...]] = {}


def _positional_names(cls: type) -> tuple[str, ...]:
    """Names of the parameters of `cls.forward` that can be given by position (self left out)."""
    if cls not in _SIGNATURES:
        try:
            params = list(inspect.signature(cls.forward).parameters.values())[1:]
        except (TypeError, ValueError):
            params = []
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        _SIGNATURES[cls] = tuple(p.name for p in params if p.kind in kinds)
    return _SIGNATURES[cls]
