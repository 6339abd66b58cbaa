"""The one interface the engine uses to touch a framework, and the lazy choice of adapter.

An adapter is picked for a model (or tensor) whose framework is already imported: padiff never imports a
framework the user did not.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import numpy as np

from ..errors import InputError

__all__ = ["Adapter", "SharedOps", "adapter_for", "adapter_for_tensor", "FRAMEWORK_MODULES", "plain"]

# Elements below which `peek` copies: a small copy costs less than making a view (paddle's DLPack export
# takes about 10 µs, the time numpy() needs to copy some 50,000 floats).
PEEK_MIN = 1 << 16

# framework name -> the top-level module that must already be imported for its adapter to be tried
FRAMEWORK_MODULES = {"torch": "torch", "paddle": "paddle"}


class Adapter(Protocol):
    """Uniform operations on one framework's layers and tensors."""

    name: str
    package_dir: str  # the framework's package folder: its frames are not user code
    user_dirs: tuple[str, ...]  # folders inside package_dir that are user code (model zoos)

    def is_model(self, obj: Any) -> bool: ...
    def is_tensor(self, obj: Any) -> bool: ...
    def is_float(self, tensor: Any) -> bool: ...
    def named_children(self, layer: Any) -> list[tuple[str, Any]]: ...
    def named_sublayers(self, model: Any) -> Iterator[tuple[str, Any]]: ...
    def is_container(self, layer: Any) -> bool: ...
    def version(self, tensor: Any) -> int: ...
    def direct_state(self, layer: Any) -> list[tuple[str, Any]]: ...
    def direct_params(self, layer: Any) -> list[tuple[str, Any]]: ...
    def all_state(self, model: Any) -> list[tuple[str, Any]]: ...
    def to_numpy(self, tensor: Any) -> np.ndarray: ...
    def peek(self, tensor: Any) -> np.ndarray: ...  # values to read now: a view where one is given
    def unpack(self, value: Any) -> Any: ...
    def form_carrier(self, source: Any) -> Callable[[Any], None] | None: ...
    def from_numpy(self, array: np.ndarray, requires_grad: bool = False, device: Any = None) -> Any: ...
    def model_float_dtype(self, model: Any) -> str: ...
    def assign(self, tensor: Any, array: np.ndarray) -> None: ...
    def dtype_name(self, tensor: Any) -> str: ...
    def shape(self, tensor: Any) -> tuple[int, ...]: ...
    def requires_grad(self, tensor: Any) -> bool: ...
    def alias(self, tensor: Any) -> Any: ...
    def private_input(self, tensor: Any) -> Any: ...
    def substitute(self, tensor: Any, array: np.ndarray) -> Any: ...
    def add_pre_hook(self, layer: Any, fn: Callable) -> Any: ...
    def add_post_hook(self, layer: Any, fn: Callable) -> Any: ...
    def add_grad_hook(self, tensor: Any, fn: Callable[[Any], None]) -> Any: ...
    def is_training(self, layer: Any) -> bool: ...
    def set_training(self, layer: Any, flag: bool) -> None: ...
    def fused_activation(self, layer: Any) -> str: ...
    def activation(self, name: str) -> Callable | None: ...
    def is_dropout(self, layer: Any) -> bool: ...
    def scalar_loss(self, tensors: list[Any]) -> Any: ...
    def is_scalar(self, tensor: Any) -> bool: ...
    def backward(self, loss: Any) -> None: ...
    def grad_of(self, param: Any) -> Any: ...
    def take_grads(self, params: list[Any]) -> list[Any]: ...
    def put_grads(self, params: list[Any], grads: list[Any]) -> None: ...
    def enable_grad(self) -> AbstractContextManager: ...
    def autocast(self, model: Any, dtype: str) -> AbstractContextManager: ...
    def parameters(self, model: Any) -> list[Any]: ...
    def is_optimizer(self, obj: Any) -> bool: ...
    def optimizer_step(self, optimizer: Any) -> None: ...
    def optimizer_state(self, optimizer: Any) -> Any: ...
    def restore_optimizer_state(self, optimizer: Any, state: Any) -> None: ...
    def optimizer_settings(self, optimizer: Any) -> dict[str, Any]: ...
    def optimizer_param_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]: ...
    def intercept_ops(self, callback: Callable[[str, Any], None]) -> AbstractContextManager: ...
    def cast_copy(self, layer: Any, dtype: str) -> Any: ...
    def read_optimizer_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]: ...
    def write_optimizer_states(
        self, optimizer: Any, states: list[tuple[Any, dict[str, np.ndarray]]]
    ) -> None: ...
    def dropout_off(self, on_call: Callable[[], None]) -> AbstractContextManager: ...
    def tensor(
        self, array: np.ndarray, dtype: str | None, requires_grad: bool, device: Any = None
    ) -> Any: ...
    def device_of(self, value: Any) -> Any: ...
    def check_device(self, device: str, role: str) -> None: ...
    def move(self, model: Any, device: Any) -> None: ...
    def autograd(
        self, outputs: list[Any], grads: list[Any], wrt: list[Any], retain: bool = False
    ) -> list[Any]: ...
    def named_parameters(self, layer: Any) -> list[tuple[str, Any]]: ...
    def global_state(self) -> Any: ...
    def restore_global_state(self, state: Any) -> None: ...


class SharedOps:
    """The adapter operations torch and paddle spell the same way (their layers and tensors agree here)."""

    def named_children(self, layer: Any) -> list[tuple[str, Any]]:
        return list(layer.named_children())

    def unpack(self, value: Any) -> Any:
        """The tensor a framework-specific value stands for (torch's PackedSequence); else the value."""
        return value

    def form_carrier(self, source: Any) -> Callable[[Any], None] | None:
        """What makes a gradient of `source` read as `source` is (see `unpack`); None where it reads as
        any tensor. It holds the form, not `source`."""
        return None

    def parameters(self, model: Any) -> list[Any]:
        return list(model.parameters())

    def is_float(self, tensor: Any) -> bool:
        return tensor.is_floating_point()

    def shape(self, tensor: Any) -> tuple[int, ...]:
        return tuple(tensor.shape)

    def add_pre_hook(self, layer: Any, fn: Callable) -> Any:
        return layer.register_forward_pre_hook(fn, with_kwargs=True)

    def add_grad_hook(self, tensor: Any, fn: Callable[[Any], None]) -> Any:
        return tensor.register_hook(fn)

    def is_training(self, layer: Any) -> bool:
        return bool(layer.training)

    def set_training(self, layer: Any, flag: bool) -> None:
        layer.training = flag


_ADAPTERS: dict[str, Adapter] = {}  # one adapter per framework, made the first time it is needed


def _make_adapter(name: str) -> Adapter:
    if name == "torch":
        from .torch import TorchAdapter

        return TorchAdapter()
    from .paddle import PaddleAdapter

    return PaddleAdapter()


@contextmanager
def patched(functions: list[tuple[Any, str]], wrap: Callable[[Callable], Callable]) -> Iterator[None]:
    """Each `owner.name` replaced by `wrap(original)` for the length of the block, then put back."""
    saved = []
    try:
        for owner, name in functions:
            original = getattr(owner, name, None)
            if callable(original):
                saved.append((owner, name, original))
                setattr(owner, name, wrap(original))
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def without_dropout(on_call: Callable[[], None]) -> Callable[[Callable], Callable]:
    """A wrapper for a functional dropout (arguments `p` and `training`, in any position) that runs it
    with p = 0 whenever it would drop, and says so through `on_call`."""

    def wrap(original: Callable) -> Callable:
        signature = inspect.signature(original)

        @functools.wraps(original)
        def dropout(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            if bound.arguments.get("training") and bound.arguments.get("p"):
                on_call()
                bound.arguments["p"] = 0.0
            return original(*bound.args, **bound.kwargs)

        return dropout

    return wrap


def plain(value: Any) -> Any:
    """A setting as JSON can hold it: numbers, strings, None, lists of them; anything else as its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # a one-element tensor or numpy value
        try:
            return plain(value.item())
        except (TypeError, ValueError, RuntimeError):
            pass
    return repr(value)


def _loaded_adapters() -> list[Adapter]:
    """Adapters of the frameworks already imported, in a fixed order."""
    adapters = []
    for name, module in FRAMEWORK_MODULES.items():
        if sys.modules.get(module) is not None:
            if name not in _ADAPTERS:
                _ADAPTERS[name] = _make_adapter(name)
            adapters.append(_ADAPTERS[name])
    return adapters


def adapter_for(model: Any, role: str = "model") -> Adapter:
    """The adapter of the framework `model` belongs to; raise InputError for anything else."""
    for adapter in _loaded_adapters():
        if adapter.is_model(model):
            return adapter
    raise InputError(
        f"{role} is a {type(model).__module__}.{type(model).__name__}, not a torch.nn.Module or paddle.nn.Layer",
        hint="pass the model object itself (import torch / paddle before calling padiff)",
    )


def adapter_for_tensor(obj: Any) -> Adapter | None:
    """The adapter whose framework owns tensor `obj`, or None for non-tensors."""
    for adapter in _loaded_adapters():
        if adapter.is_tensor(obj):
            return adapter
    return None
