"""Scoped hooks on every layer of one model: each call becomes a `CallNode`, its tensors go to a `Sink`.

To see a layer's own input gradient, each float input is replaced by a zero-cost alias (a view) whose
gradient only this layer produces. Every change the hooks make (handles, `inplace` flags, dropout
switched off in train mode) is undone on exit, also when the run raises.
"""

from __future__ import annotations

import functools
import inspect
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..frameworks.base import Adapter
from ..match.kinds import is_builtin, layer_kind
from ..match.policy import LayerPolicy
from .calltree import CallNode, CallTree
from .frames import call_site, defined_at, internal_dirs
from .leaves import Leaves, tensor_leaves
from .sink import Sink

__all__ = ["Hooks", "RunState"]

# layers that drop whole samples' paths at random in train mode (timm's DropPath, torchvision's
# StochasticDepth): switched off like dropout, by class name since no framework has one built in
_STOCHASTIC_DEPTH = re.compile(r"drop_?path|stochastic_?depth", re.IGNORECASE)


@dataclass
class RunState:
    """What a run has seen so far: its calls, the stack of calls still running, and what it switched off."""

    tree: CallTree = field(default_factory=CallTree)
    stack: list[int] = field(default_factory=list)  # ids of the calls still running, innermost last
    finished: int = 0
    dropout_neutralised: int = 0  # dropout and stochastic depth (DropPath) layers switched off
    functional_dropout: int = 0  # calls of the frameworks' functional dropout, made with p = 0
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


@dataclass(frozen=True)
class _Facts:
    """What every call of one layer shares, read when the hooks go on rather than at each call."""

    cls: str
    kind: str
    builtin: bool
    defined: str
    looked_through: bool  # a container, or a layer LayerMap.ignore'd: its calls are transparent
    opaque: bool
    fused: str


class Hooks:
    """Installs hooks on every layer of a model and undoes every change it made, also on error."""

    def __init__(self, adapter: Adapter, model: Any, sink: Sink, policy: LayerPolicy, state: RunState):
        self.adapter, self.model, self.sink, self.policy, self.state = adapter, model, sink, policy, state
        self.handles: list[Any] = []
        self.live = True  # gradient hooks do nothing once the run is over (a graph kept past it)
        self.restore: list[Callable[[], None]] = []
        self.origins = _Identity(adapter.version)
        self.grad_targets = _Identity(adapter.version)
        self.calls: dict[int, int] = {}
        self.paths: dict[int, str] = {}
        self.facts: dict[int, _Facts] = {}  # what a call of each layer needs to know, read once
        self.skip_dirs = internal_dirs(adapter)

    def __enter__(self) -> Hooks:
        try:
            for path, layer in self.adapter.named_sublayers(self.model):
                if id(layer) in self.paths or id(layer) in self.policy.skipped:
                    continue
                self.paths[id(layer)] = path
                self.facts[id(layer)] = self._facts(layer)
                self._neutralise(layer)
                self.handles.append(self.adapter.add_pre_hook(layer, self._pre_hook))
                self.handles.append(self.adapter.add_post_hook(layer, self._post_hook))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live = False
        for handle in reversed(self.handles):
            handle.remove()
        self.handles.clear()
        for undo in reversed(self.restore):
            undo()
        self.restore.clear()

    def _neutralise(self, layer: Any) -> None:
        if getattr(layer, "inplace", False) is True:
            layer.inplace = False
            self.restore.append(functools.partial(setattr, layer, "inplace", True))
        stochastic = self.adapter.is_dropout(layer) or _STOCHASTIC_DEPTH.search(type(layer).__name__)
        if stochastic and self.adapter.is_training(layer):
            self.adapter.set_training(layer, False)
            self.state.dropout_neutralised += 1
            self.restore.append(functools.partial(self.adapter.set_training, layer, True))

    def _pre_hook(self, layer: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        node = self._open(layer)
        leaves = _input_leaves(layer, args, kwargs, self.adapter.is_tensor, self.adapter.unpack)
        node.inputs = tuple(key for key, _ in leaves)
        if not self.sink.on_call(node):
            return None
        self.sink.on_arguments(node, args, kwargs)
        for index, (key, tensor) in enumerate(leaves):
            self.sink.on_input(node, index, key, tensor, self.origins.get(tensor))
        return self._alias_inputs(node, args, kwargs, leaves)

    def _facts(self, layer: Any) -> _Facts:
        adapter, policy = self.adapter, self.policy
        return _Facts(
            cls=type(layer).__name__,
            kind=layer_kind(layer),
            builtin=is_builtin(layer),
            defined=defined_at(layer),
            looked_through=id(layer) in policy.transparent or adapter.is_container(layer),
            opaque=id(layer) in policy.opaque,
            fused=adapter.fused_activation(layer),
        )

    def _open(self, layer: Any) -> CallNode:
        state, facts = self.state, self.facts[id(layer)]
        call = self.calls.get(id(layer), 0)
        self.calls[id(layer)] = call + 1
        node = CallNode(
            id=len(state.tree),
            path=self.paths[id(layer)],
            cls=facts.cls,
            kind=facts.kind,
            builtin=facts.builtin,
            call=call,
            parent=state.stack[-1] if state.stack else None,
            site=call_site(self.skip_dirs, self.adapter.user_dirs),
            defined=facts.defined,
            # a container is looked through, but the root is what everything pairs under
            transparent=bool(state.stack) and facts.looked_through,
            opaque=facts.opaque,
            fused=facts.fused,
        )
        state.tree.add(node)
        state.stack.append(node.id)
        return node

    def _alias_inputs(
        self, node: CallNode, args: tuple, kwargs: dict, leaves: Leaves
    ) -> tuple[tuple, dict] | None:
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

        def hook(grad: Any, n: CallNode = node, i: int = index) -> None:
            if self.live:
                self.sink.on_grad(n, "grad_in", i, grad)

        self.handles.append(adapter.add_grad_hook(view, hook))
        return view

    def _post_hook(self, layer: Any, args: tuple, kwargs: dict, output: Any) -> None:
        state = self.state
        node = state.tree[state.stack.pop()]
        state.finished += 1
        leaves, skipped = tensor_leaves(output, self.adapter.is_tensor, self.adapter.unpack)
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

            carry = adapter.form_carrier(tensor)  # a PackedSequence's gradient reads as its data does

            def hook(grad: Any, targets: list = targets) -> Any:  # holds no tensor: the run frees them
                if not self.live:
                    return None
                if carry is not None:
                    carry(grad)
                replacement = None
                for target_node, target_index in targets:
                    self.sink.on_grad(target_node, "grad_out", target_index, grad)
                    if replacement is None:
                        replacement = self.sink.replace_grad(target_node, target_index, grad)
                return replacement

            self.handles.append(adapter.add_grad_hook(tensor, hook))
        targets.append((node, index))


def _input_leaves(
    layer: Any, args: tuple, kwargs: dict, is_tensor: Callable[[Any], bool], unpack: Callable[[Any], Any]
) -> list[tuple[str, Any]]:
    """Tensor inputs keyed by name: the forward's parameter name ("hidden_states", "x[2]"), else "arg0"."""
    names = _positional_names(type(layer))
    if not kwargs:  # the common call, tensors given by position: their names without walking
        values = [unpack(a) for a in args]
        if all(is_tensor(v) for v in values):
            return [(names[i] if i < len(names) else f"arg{i}", v) for i, v in enumerate(values)]
    positional, _ = tensor_leaves(args, is_tensor, unpack)
    keyword, _ = tensor_leaves(kwargs, is_tensor, unpack)

    def name(match: re.Match) -> str:
        index = int(match.group(1))
        return names[index] if index < len(names) else f"arg{index}"

    named = [(re.sub(r"^\[(\d+)\]", name, key), t) for key, t in positional]
    return named + [(re.sub(r"^\['([^']*)'\]", r"\1", key), t) for key, t in keyword]


_SIGNATURES: dict[type, tuple[str, ...]] = {}


def _positional_names(cls: type) -> tuple[str, ...]:
    """Names of the parameters of `cls.forward` that can be given by position (self left out)."""
    if cls not in _SIGNATURES:
        try:
            params = list(inspect.signature(getattr(cls, "forward")).parameters.values())[1:]  # noqa: B009
        except (TypeError, ValueError):
            params = []
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        _SIGNATURES[cls] = tuple(p.name for p in params if p.kind in kinds)
    return _SIGNATURES[cls]
