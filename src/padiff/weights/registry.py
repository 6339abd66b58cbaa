"""The user's weight-copy rules: `padiff.add_special_init(paddle_name, torch_name, func)`.

A registration says: a paddle layer of class `paddle_name` paired with a torch module of class
`torch_name` is filled by `func(paddle_layer, torch_module)` instead of padiff's own conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["SpecialInit", "register_special_init", "special_init_for", "special_init_names"]


@dataclass(frozen=True)
class SpecialInit:
    """A user rule copying one paddle layer class from one torch module class: func(paddle_layer, torch_module)."""

    paddle_name: str
    torch_name: str
    func: Callable[[Any, Any], None]


_SPECIAL_INITS: dict[tuple[str, str], SpecialInit] = {}


def register_special_init(paddle_name: str, torch_name: str, func: Callable[[Any, Any], None]) -> None:
    _SPECIAL_INITS[(paddle_name, torch_name)] = SpecialInit(paddle_name, torch_name, func)


def special_init_for(paddle_name: str, torch_name: str) -> SpecialInit | None:
    return _SPECIAL_INITS.get((paddle_name, torch_name))


def special_init_names(framework: str) -> set[str]:
    """Class names of `framework` ("paddle" or "torch") that some registered special init copies."""
    if framework == "paddle":
        return {paddle_name for paddle_name, _ in _SPECIAL_INITS}
    if framework == "torch":
        return {torch_name for _, torch_name in _SPECIAL_INITS}
    return set()
