"""Turn the user's `inputs` into (args, kwargs) for each model.

Accepted: a numpy array (one positional input), a tuple/list of arrays (positional), a dict of arrays
(keyword), or a pair (base_inputs, raw_inputs) of framework tensors (each a tensor, a tuple of
positional inputs, or a dict of keyword inputs), used as given. Float arrays are cast to the model's
float dtype and made to require grad (they are padiff's own copies); integer and bool arrays keep
their dtype. Values that are not arrays (flags, None) are passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ..frameworks.base import Adapter, adapter_for_tensor
from .leaves import tensor_leaves

__all__ = ["prepare_inputs", "Prepared"]

Prepared = tuple[tuple, dict]


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or isinstance(value, np.generic)


def _has_framework_tensor(value: Any) -> bool:
    leaves, _ = tensor_leaves(value, lambda v: adapter_for_tensor(v) is not None)
    return bool(leaves)


def _convert(value: Any, adapter: Adapter, float_dtype: str, notes: list[str], device: Any = None) -> Any:
    if not _is_array(value):
        return value
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.floating):
        if str(array.dtype) != float_dtype:
            note = f"float input cast {array.dtype} -> {float_dtype} (the model's parameter dtype)"
            if note not in notes:
                notes.append(note)
        return adapter.tensor(array, float_dtype, requires_grad=True, device=device)
    return adapter.from_numpy(array, device=device)


def _from_numpy(inputs: Any, adapter: Adapter, model: Any, notes: list[str]) -> Prepared:
    dtype, device = adapter.model_float_dtype(model), adapter.device_of(model)  # the model's own
    if isinstance(inputs, Mapping):
        return (), {k: _convert(v, adapter, dtype, notes, device) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return tuple(_convert(v, adapter, dtype, notes, device) for v in inputs), {}
    if _is_array(inputs):
        return (_convert(inputs, adapter, dtype, notes, device),), {}
    raise InputError(
        f"inputs of type {type(inputs).__name__} are not supported",
        hint="pass a numpy array, a tuple or dict of arrays, or a pair (base_inputs, raw_inputs) of tensors",
    )


def _as_call(side: Any) -> Prepared:
    if isinstance(side, Mapping):
        return (), dict(side)
    if isinstance(side, (tuple, list)):
        return tuple(side), {}
    return (side,), {}


def _check_side(side: Any, adapter: Adapter, role: str) -> None:
    leaves, _ = tensor_leaves(side, lambda v: adapter_for_tensor(v) is not None)
    for key, tensor in leaves:
        owner = adapter_for_tensor(tensor)
        if owner is not None and owner.name != adapter.name:
            raise InputError(
                f"{role} input {key} is a {owner.name} tensor but the {role} model is {adapter.name}",
                hint="give (base_inputs, raw_inputs) in the same order as (base, raw), or pass numpy arrays",
            )


def prepare_inputs(
    inputs: Any, base: tuple[Adapter, Any], raw: tuple[Adapter, Any]
) -> tuple[Prepared, Prepared, list[str]]:
    """((base_args, base_kwargs), (raw_args, raw_kwargs), notes)."""
    (base_adapter, base_model), (raw_adapter, raw_model) = base, raw
    notes: list[str] = []
    is_pair = (
        isinstance(inputs, (tuple, list))
        and len(inputs) == 2
        and _has_framework_tensor(inputs[0])
        and _has_framework_tensor(inputs[1])
    )
    if is_pair:
        _check_side(inputs[0], base_adapter, "base")
        _check_side(inputs[1], raw_adapter, "raw")
        return _as_call(inputs[0]), _as_call(inputs[1]), notes
    if _has_framework_tensor(inputs):
        raise InputError(
            "inputs hold framework tensors but are not a pair (base_inputs, raw_inputs)",
            hint="pass numpy arrays (converted for each model), or a pair of per-framework inputs",
        )
    return (
        _from_numpy(inputs, base_adapter, base_model, notes),
        _from_numpy(inputs, raw_adapter, raw_model, notes),
        notes,
    )
