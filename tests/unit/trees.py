"""Synthetic call trees for the framework-free unit tests: no torch, no paddle, only padiff's records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from padiff.capture.calltree import CallNode, CallTree

__all__ = ["TreeBuilder"]


class TreeBuilder:
    """Builds a CallTree as a run would: `call` opens a layer call (a context: calls inside it are its
    children), `leaf` is a call with nothing inside. Built-in classes have their lowercased name as kind."""

    def __init__(self) -> None:
        self.tree = CallTree()
        self._stack: list[int] = []
        self._calls: dict[str, int] = {}

    def _add(
        self, path: str, cls: str, builtin: bool, transparent: bool, inputs: tuple[str, ...]
    ) -> CallNode:
        call = self._calls.get(path, 0)
        self._calls[path] = call + 1
        node = CallNode(
            id=len(self.tree),
            path=path,
            cls=cls,
            kind=cls.lower(),
            builtin=builtin,
            call=call,
            parent=self._stack[-1] if self._stack else None,
            site=f"model.py:{len(self.tree) + 1}",
            defined=f"{cls}.forward",
            transparent=transparent,
            inputs=inputs,
        )
        return self.tree.add(node)

    @contextmanager
    def call(
        self,
        path: str,
        cls: str,
        builtin: bool = False,
        transparent: bool = False,
        inputs: tuple[str, ...] = ("x",),
    ) -> Iterator[CallNode]:
        node = self._add(path, cls, builtin, transparent, inputs)
        self._stack.append(node.id)
        try:
            yield node
        finally:
            self._stack.pop()

    def leaf(self, path: str, cls: str, builtin: bool = True, inputs: tuple[str, ...] = ("x",)) -> CallNode:
        return self._add(path, cls, builtin, False, inputs)
