"""What a dump says about its model and its environment, as JSON.

The model: every layer object once (its class, the module defining the class, its plain settings, its
children by name and its own states), the walk the adapter makes over the model (path -> layer, shared
layers at each place), and every state (parameters and buffers) by its name in the model's state with
shape, dtype and whether it is trainable. That is enough to rebuild a stand-in model (`standin`) that
weight pairing, LayerMap and report trees accept as the real one.

The environment: versions (padiff, Python, numpy, the framework), the device and parameter dtypes, and
the flags that change numbers (deterministic algorithms, TF32, matmul precision). Framework settings are
read from the framework module the model already imported; a setting that cannot be read is left out.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..frameworks.base import Adapter, plain

__all__ = ["describe_model", "describe_environment", "layer_settings"]

_SKIPPED_SETTINGS = {"_full_name", "_name_scope", "_helper", "_built", "_loaddict_holder"}


def layer_settings(layer: Any) -> dict[str, Any]:
    """The layer's attributes that are plain values (numbers, strings, flags, short lists of them)."""
    out: dict[str, Any] = {"training": bool(getattr(layer, "training", False))}
    for key, value in vars(layer).items():
        if key.startswith("__") or key in _SKIPPED_SETTINGS:
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value if not isinstance(value, str) else value[:200]
        elif isinstance(value, (tuple, list)) and len(value) <= 16:
            if all(v is None or isinstance(v, (bool, int, float, str)) for v in value):
                out[key] = list(value)
    return out


def describe_model(adapter: Adapter, model: Any) -> dict[str, Any]:
    walk = list(adapter.named_sublayers(model))
    uid: dict[int, int] = {}
    layers: list[Any] = []
    for _, layer in walk:
        if id(layer) not in uid:
            uid[id(layer)] = len(layers)
            layers.append(layer)
    states: dict[str, dict[str, Any]] = {}
    state_name: dict[int, str] = {}
    for name, tensor in adapter.all_state(model):
        if id(tensor) in state_name:
            continue
        state_name[id(tensor)] = name
        states[name] = _state(adapter, tensor, True)
    first_path: dict[int, str] = {}
    for path, layer in walk:
        first_path.setdefault(id(layer), path)
    described = []
    for layer in layers:
        own = []
        for name, tensor in adapter.direct_state(layer):
            key = state_name.get(id(tensor))
            if key is None:  # a state the model's state listing leaves out: named where first seen
                prefix = first_path[id(layer)]
                key = state_name[id(tensor)] = f"{prefix}.{name}" if prefix else name
                states[key] = _state(adapter, tensor, False)
            own.append([name, key])
        children = [
            [name, uid[id(child)]] for name, child in adapter.named_children(layer) if id(child) in uid
        ]
        cls = type(layer)
        described.append(
            {
                "class": cls.__name__,
                "module": cls.__module__,
                "children": children,
                "states": own,
                "params": [name for name, _ in adapter.direct_params(layer)],
                "settings": layer_settings(layer),
            }
        )
    return {
        "framework": adapter.name,
        "layers": described,
        "walk": [[path, uid[id(layer)]] for path, layer in walk],
        "states": states,
        "training": bool(getattr(model, "training", False)),
    }


def _state(adapter: Adapter, tensor: Any, listed: bool) -> dict[str, Any]:
    return {
        "shape": list(adapter.shape(tensor)),
        "dtype": adapter.dtype_name(tensor),
        "trainable": adapter.requires_grad(tensor),
        "listed": listed,  # in the model's own state listing (all_state)
    }


def describe_environment(adapter: Adapter, model: Any) -> dict[str, Any]:
    from .. import __version__

    module = sys.modules.get(adapter.name)
    params = adapter.parameters(model)
    env: dict[str, Any] = {
        "padiff": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "framework": adapter.name,
        "framework_version": str(getattr(module, "__version__", "?")),
        "dtypes": sorted({adapter.dtype_name(p) for p in params}),
        "devices": sorted({str(getattr(p, "place", getattr(p, "device", "?"))) for p in params}),
    }
    env["flags"] = _flags(adapter.name, module)
    return env


def _flags(framework: str, module: Any) -> dict[str, Any]:
    """Settings that change the numbers; "deterministic" and "tf32" mean the same on both frameworks."""
    readers = _TORCH_FLAGS if framework == "torch" else _PADDLE_FLAGS
    flags = {}
    for key, read in readers.items():
        try:
            flags[key] = plain(read(module))
        except Exception:  # not in this build (a CPU build has no cuDNN flags): left out
            continue
    for name in _ENVIRONMENT:
        if name in os.environ:
            flags[name] = os.environ[name][:200]
    return flags


def _paddle_flag(module: Any, name: str) -> Any:
    return module.get_flags([name])[name]


_TORCH_FLAGS: dict[str, Callable[[Any], Any]] = {
    "deterministic": lambda m: m.are_deterministic_algorithms_enabled(),
    "cudnn_deterministic": lambda m: m.backends.cudnn.deterministic,
    "cudnn_benchmark": lambda m: m.backends.cudnn.benchmark,
    "tf32": lambda m: m.backends.cuda.matmul.allow_tf32,
    "tf32_cudnn": lambda m: m.backends.cudnn.allow_tf32,
    "matmul_precision": lambda m: m.get_float32_matmul_precision(),
    "default_dtype": lambda m: str(m.get_default_dtype()).replace("torch.", ""),
    "threads": lambda m: m.get_num_threads(),
}
_PADDLE_FLAGS: dict[str, Callable[[Any], Any]] = {
    "device": lambda m: m.get_device(),
    "default_dtype": lambda m: m.get_default_dtype(),
    "deterministic": lambda m: _paddle_flag(m, "FLAGS_cudnn_deterministic"),
    "tf32": lambda m: _paddle_flag(m, "FLAGS_allow_tf32_cublas"),
    "cudnn_exhaustive_search": lambda m: _paddle_flag(m, "FLAGS_cudnn_exhaustive_search"),
}
_ENVIRONMENT = (
    "NVIDIA_TF32_OVERRIDE",
    "CUBLAS_WORKSPACE_CONFIG",
    "FLAGS_cudnn_deterministic",
    "OMP_NUM_THREADS",
)
