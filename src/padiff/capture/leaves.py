"""Flatten nested model inputs and outputs into tensor leaves."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["tensor_leaves", "Leaves"]

Leaves = list[tuple[str, Any]]
_MAX_DEPTH = 32


def tensor_leaves(obj: Any, is_tensor: Callable[[Any], bool]) -> tuple[Leaves, int]:
    """(key, tensor) for every tensor inside `obj`, in order; plus the count of non-tensor leaves skipped.

    Tuples, lists, dicts (Hugging Face `ModelOutput` is one), dataclasses and namedtuples are walked.
    """
    leaves: Leaves = []
    skipped = _walk(obj, "", is_tensor, leaves, 0)
    return leaves, skipped


def _walk(obj: Any, key: str, is_tensor: Callable[[Any], bool], out: Leaves, depth: int) -> int:
    if is_tensor(obj):
        out.append((key or "out", obj))
        return 0
    if obj is None or depth > _MAX_DEPTH:
        return 0 if obj is None else 1
    if isinstance(obj, Mapping):
        return sum(_walk(v, f"{key}[{k!r}]", is_tensor, out, depth + 1) for k, v in obj.items())
    if isinstance(obj, (tuple, list)):
        return sum(_walk(v, f"{key}[{i}]", is_tensor, out, depth + 1) for i, v in enumerate(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(
            _walk(getattr(obj, f.name), f"{key}.{f.name}", is_tensor, out, depth + 1)
            for f in dataclasses.fields(obj)
        )
    return 1
