"""The user's weight-copy rules: `padiff.add_special_init(paddle_name, torch_name, func)`.

A registration says: a paddle layer of class `paddle_name` paired with a torch module of class
`torch_name` is filled by `func(paddle_layer, torch_module)` instead of padiff's own conversion. A
registration lasts for the process, or, used as a context manager, for its `with` block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SpecialInit", "Registration", "register_special_init", "special_init_for", "special_init_names"]


@dataclass(frozen=True)
class SpecialInit:
    """A user rule copying one paddle layer class from one torch module class: func(paddle_layer, torch_module)."""

    paddle_name: str
    torch_name: str
    func: Callable[[Any, Any], None]


_SPECIAL_INITS: dict[tuple[str, str], SpecialInit] = {}


class Registration:
    """One registration; as a context manager it lasts only for the `with` block, after which whatever
    was registered for the pair before it is back (so a test, or one comparison, can scope its rule)."""

    def __init__(self, init: SpecialInit):
        self.init = init
        self.key = (init.paddle_name, init.torch_name)
        self._previous = _SPECIAL_INITS.get(self.key)
        _SPECIAL_INITS[self.key] = init

    def remove(self) -> None:
        """Undo this registration (the pair's earlier one, if any, comes back)."""
        if _SPECIAL_INITS.get(self.key) is self.init:
            if self._previous is None:
                del _SPECIAL_INITS[self.key]
            else:
                _SPECIAL_INITS[self.key] = self._previous

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_special_init(
    paddle_name: str, torch_name: str, func: Callable[[Any, Any], None]
) -> Registration:
    return Registration(SpecialInit(paddle_name, torch_name, func))


def special_init_for(paddle_name: str, torch_name: str) -> SpecialInit | None:
    return _SPECIAL_INITS.get((paddle_name, torch_name))


def special_init_names(framework: str) -> set[str]:
    """Class names of `framework` ("paddle" or "torch") that some registered special init copies."""
    if framework == "paddle":
        return {paddle_name for paddle_name, _ in _SPECIAL_INITS}
    if framework == "torch":
        return {torch_name for _, torch_name in _SPECIAL_INITS}
    return set()
