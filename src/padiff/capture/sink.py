"""What a captured run reports to: the `Sink` protocol, and a sink that ignores everything.

A sink is first handed the run's call tree, which grows as the run goes. For every layer call it sees
the call itself (`on_call`, a `CallNode`), then (when the sink wants the call) its arguments as given
(`on_arguments`), its input tensors, its output
tensors (handed over before any later op can change them in place), and in backward the gradient
arriving at its outputs ("grad_out") and the gradient it sends to its own inputs ("grad_in"). A tensor
already known as an earlier layer's output comes with its `origin` (node id, output index), so a sink
can avoid copying or comparing it twice.
"""

from __future__ import annotations

from typing import Any, Protocol

from .calltree import CallNode, CallTree

__all__ = ["Sink", "NullSink", "Origin"]

Origin = tuple[int, int]  # (node id, output index) of the layer call that produced a tensor


class Sink(Protocol):
    """`on_call` returns whether the call's tensors are wanted. `substitute` and `replace_grad` let a
    sink feed a layer other values than the run computed (single-step isolation); None keeps the run's."""

    def on_start(self, tree: CallTree) -> None: ...
    def on_call(self, node: CallNode) -> bool: ...
    def on_arguments(self, node: CallNode, args: tuple, kwargs: dict) -> None: ...
    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any: ...
    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any: ...
    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None: ...
    def on_output(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None: ...
    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None: ...
    def on_return(self, node: CallNode) -> None: ...


class NullSink:
    """A sink that wants nothing and changes nothing; subclasses override what they need."""

    def on_start(self, tree: CallTree) -> None:
        return None

    def on_call(self, node: CallNode) -> bool:
        return False

    def on_arguments(self, node: CallNode, args: tuple, kwargs: dict) -> None:
        return None

    def substitute(self, node: CallNode, index: int, tensor: Any) -> Any:
        return None

    def replace_grad(self, node: CallNode, index: int, grad: Any) -> Any:
        return None

    def on_input(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        return None

    def on_output(self, node: CallNode, index: int, key: str, tensor: Any, origin: Origin | None) -> None:
        return None

    def on_grad(self, node: CallNode, io: str, index: int, grad: Any) -> None:
        return None

    def on_return(self, node: CallNode) -> None:
        return None
