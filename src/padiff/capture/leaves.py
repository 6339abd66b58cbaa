"""Flatten nested model inputs and outputs into tensor leaves, and put them back.

Tuples, lists, dicts (Hugging Face `ModelOutput` is one), dataclasses and namedtuples are walked, to a
depth of 32; anything else is a non-tensor leaf. `skeleton` and `fill` keep a call's arguments without
its tensors, so the call can be made again with other values in their place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["tensor_leaves", "Leaves", "Slot", "skeleton", "fill"]

Leaves = list[tuple[str, Any]]
_MAX_DEPTH = 32


def tensor_leaves(
    obj: Any, is_tensor: Callable[[Any], bool], unpack: Callable[[Any], Any] | None = None
) -> tuple[Leaves, int]:
    """(key, tensor) for every tensor inside `obj`, in order; plus the count of non-tensor leaves skipped.

    Tuples, lists, dicts (Hugging Face `ModelOutput` is one), dataclasses and namedtuples are walked.
    `unpack` gives the tensor a framework-specific value stands for (a PackedSequence's data), if any.
    """
    leaves: Leaves = []
    skipped = _walk(obj, "", is_tensor, unpack or _same, leaves, 0)
    return leaves, skipped


def _same(value: Any) -> Any:
    return value


def _walk(
    obj: Any,
    key: str,
    is_tensor: Callable[[Any], bool],
    unpack: Callable[[Any], Any],
    out: Leaves,
    depth: int,
) -> int:
    obj = unpack(obj)
    if is_tensor(obj):
        out.append((key or "out", obj))
        return 0
    if obj is None or depth > _MAX_DEPTH:
        return 0 if obj is None else 1
    walk = lambda value, sub: _walk(value, sub, is_tensor, unpack, out, depth + 1)  # noqa: E731
    if isinstance(obj, Mapping):
        return sum(walk(v, f"{key}[{k!r}]") for k, v in obj.items())
    if isinstance(obj, (tuple, list)):
        return sum(walk(v, f"{key}[{i}]") for i, v in enumerate(obj))
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(walk(getattr(obj, f.name), f"{key}.{f.name}") for f in dataclasses.fields(obj))
    return 1


@dataclass(frozen=True)
class Slot:
    """Where the `index`-th tensor leaf (in `tensor_leaves` order) stood in a skeleton."""

    index: int


def skeleton(obj: Any, is_tensor: Callable[[Any], bool], unpack: Callable[[Any], Any] | None = None) -> Any:
    """`obj` with every tensor leaf replaced by a `Slot`, numbered as `tensor_leaves` lists them (a value
    `unpack` reads as a tensor is one slot); the rest (flags, None, objects padiff does not walk) kept."""
    counter = iter(range(1 << 62))
    read = unpack or _same
    return _rebuild(obj, lambda _: Slot(next(counter)), lambda value: is_tensor(read(value)), 0)


def fill(shape: Any, values: Sequence[Any]) -> Any:
    """A skeleton's slots replaced by `values[slot.index]` (the inverse of `skeleton`)."""
    return _rebuild(shape, lambda slot: values[slot.index], lambda v: isinstance(v, Slot), 0)


def _rebuild(obj: Any, leaf: Callable[[Any], Any], is_leaf: Callable[[Any], bool], depth: int) -> Any:
    if is_leaf(obj):
        return leaf(obj)
    if obj is None or depth > _MAX_DEPTH:
        return obj
    if isinstance(obj, Mapping):
        items = {k: _rebuild(v, leaf, is_leaf, depth + 1) for k, v in obj.items()}
        return items if type(obj) is dict else _remake(obj, items)
    if isinstance(obj, (tuple, list)):
        parts = [_rebuild(v, leaf, is_leaf, depth + 1) for v in obj]
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
            return type(obj)(*parts)
        return type(obj)(parts) if type(obj) in (tuple, list) else _remake(obj, parts)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: _rebuild(getattr(obj, f.name), leaf, is_leaf, depth + 1) for f in dataclasses.fields(obj)
        }
        return dataclasses.replace(obj, **changes) if all(f.init for f in dataclasses.fields(obj)) else obj
    return obj


def _remake(obj: Any, parts: Any) -> Any:
    """A container subclass rebuilt from its parts when it can be, else a plain dict / list."""
    try:
        return type(obj)(parts)
    except Exception:
        return parts
