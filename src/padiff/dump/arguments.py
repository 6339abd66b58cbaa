"""A call's argument skeleton (`leaves.skeleton`: tensors replaced by slots) as JSON, and back.

Slots, None, flags, numbers and strings survive as they are; tuples, lists and dicts with string keys
are walked; anything else (an object the layer was given) is kept as its `repr`, a string: enough to
read what the call was given, never anything that could be executed when the dump is loaded.
"""

from __future__ import annotations

from typing import Any

from ..capture.leaves import Slot
from ..judge.trace import CallArgs

__all__ = ["skeleton_to_json", "call_args_from_json"]

_MAX_DEPTH = 32


def skeleton_to_json(value: Any, depth: int = 0) -> Any:
    if isinstance(value, Slot):
        return {"slot": value.index}
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else {"float": repr(value)}
    if depth < _MAX_DEPTH and isinstance(value, (tuple, list)) and type(value) in (tuple, list):
        return {type(value).__name__: [skeleton_to_json(v, depth + 1) for v in value]}
    if depth < _MAX_DEPTH and type(value) is dict and all(isinstance(k, str) for k in value):
        return {"dict": [[k, skeleton_to_json(v, depth + 1)] for k, v in value.items()]}
    return {"repr": repr(value)[:200]}


def _from_json(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "slot" in value:
        return Slot(int(value["slot"]))
    if "float" in value:
        return float(value["float"])
    if "tuple" in value:
        return tuple(_from_json(v) for v in value["tuple"])
    if "list" in value:
        return [_from_json(v) for v in value["list"]]
    if "dict" in value:
        return {str(k): _from_json(v) for k, v in value["dict"]}
    return str(value.get("repr", ""))


def call_args_from_json(value: Any) -> CallArgs | None:
    """The `CallArgs` a trace answers with, from a stored (args, kwargs) skeleton."""
    rebuilt = _from_json(value)
    if not isinstance(rebuilt, tuple) or len(rebuilt) != 2:
        return None
    args, kwargs = rebuilt
    if not isinstance(args, tuple) or not isinstance(kwargs, dict):
        return None
    return CallArgs(args, kwargs)
