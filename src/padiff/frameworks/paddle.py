"""PaddlePaddle adapter.

Quirks kept here: Linear weights are [in, out]; BatchNorm statistics are the parameters `_mean` and
`_variance`; the forward hook is `register_forward_post_hook`; there is no function mode, so narrowing
patches paddle's op functions for the length of one run.
"""

from __future__ import annotations

import copy
import math
import os
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import paddle

from ..errors import InputError
from .base import PEEK_MIN, SharedOps, patched, without_dropout
from .paddle_ops import patched_ops
from .paddle_optim import PaddleOptimizerOps

_DTYPE_NAMES: dict[Any, str] = {}  # a framework dtype -> its name ("float32")
_CONTAINERS = (paddle.nn.Sequential, paddle.nn.LayerList, paddle.nn.LayerDict)
_DROPOUTS = (paddle.nn.Dropout, paddle.nn.Dropout2D, paddle.nn.Dropout3D, paddle.nn.AlphaDropout)


class _Substitute(paddle.autograd.PyLayer):
    """Forward: `value`; backward: the gradient goes to `tensor` unchanged."""

    @staticmethod
    def forward(ctx: Any, tensor: Any, value: Any) -> Any:
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        return grad


class _GradHook:
    """A gradient hook's handle that holds its tensor weakly (paddle's own holds it, so every hooked
    output would outlive the point where the run frees it); the graph keeps the hook itself."""

    def __init__(self, tensor: Any, fn: Callable[[Any], Any]) -> None:
        self._tensor = weakref.ref(tensor)
        self._id = tensor._register_grad_hook(fn)

    def remove(self) -> None:
        tensor = self._tensor()
        if tensor is not None:
            tensor._remove_grad_hook(self._id)


class PaddleAdapter(PaddleOptimizerOps, SharedOps):
    name = "paddle"
    package_dir = os.path.dirname(paddle.__file__)
    user_dirs: tuple[str, ...] = (
        os.path.join(package_dir, "vision", "models", ""),
    )  # a model zoo: user code

    def is_model(self, obj: Any) -> bool:
        return isinstance(obj, paddle.nn.Layer)

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, paddle.Tensor)

    def named_sublayers(self, model: Any) -> Iterator[tuple[str, Any]]:
        return iter(model.named_sublayers(include_self=True))

    def is_container(self, layer: Any) -> bool:
        """Containers pass data through: their own classes, and subclasses keeping their forward."""
        return isinstance(layer, _CONTAINERS) and type(layer).forward in {c.forward for c in _CONTAINERS}

    def version(self, tensor: Any) -> int:
        """Bumped by every in-place change of the tensor."""
        return tensor._inplace_version()

    def direct_params(self, layer: Any) -> list[tuple[str, Any]]:
        # BatchNorm's _mean/_variance are parameters in paddle, but never trainable
        return [(n, p) for n, p in layer.named_parameters(include_sublayers=False) if not _is_stat(n, p)]

    def direct_state(self, layer: Any) -> list[tuple[str, Any]]:
        params = list(layer.named_parameters(include_sublayers=False))
        persistent = [
            (n, b)
            for n, b in layer.named_buffers(include_sublayers=False)
            if n not in layer._non_persistable_buffer_names_set
        ]
        return params + persistent

    def all_state(self, model: Any) -> list[tuple[str, Any]]:
        # RNN layers keep an uninitialised `_dropout_state` buffer (cuDNN dropout): nothing to read or restore
        buffers = [(n, b) for n, b in model.named_buffers() if b._is_initialized()]
        return list(model.named_parameters()) + buffers

    def to_numpy(self, tensor: Any) -> np.ndarray:
        t = tensor.detach()
        if t.dtype == paddle.bfloat16:  # numpy has no bfloat16
            t = t.astype("float32")
        return t.numpy()  # paddle's numpy() already copies out of the tensor

    def peek(self, tensor: Any) -> np.ndarray:
        """The values to read now: a view of a large CPU tensor's memory (it changes with the tensor)."""
        if (
            math.prod(tensor.shape) < PEEK_MIN
            or tensor.dtype == paddle.bfloat16
            or not tensor.place.is_cpu_place()
        ):
            return self.to_numpy(tensor)
        return np.from_dlpack(tensor.detach())  # no copy: numpy() always copies

    def from_numpy(self, array: np.ndarray, requires_grad: bool = False, device: Any = None) -> Any:
        t = paddle.to_tensor(np.ascontiguousarray(array).copy())
        t.stop_gradient = not requires_grad
        return t

    def private_input(self, tensor: Any) -> Any:
        """A copy of a leaf that requires grad: a model may change its input in place, such a leaf not."""
        return tensor.clone() if tensor.is_leaf and not tensor.stop_gradient else tensor

    def model_float_dtype(self, model: Any) -> str:
        """The dtype of the model's first floating parameter ("float32" when it has none)."""
        for p in model.parameters():
            if p.is_floating_point():
                return self.dtype_name(p)
        return "float32"

    def assign(self, tensor: Any, array: np.ndarray) -> None:
        value = np.ascontiguousarray(array).reshape(tensor.shape)
        if tensor.dtype == paddle.bfloat16:
            tensor.set_value(paddle.to_tensor(value.astype(np.float32)).astype("bfloat16"))
        else:
            tensor.set_value(value.astype(self.dtype_name(tensor)))

    def dtype_name(self, tensor: Any) -> str:
        name = _DTYPE_NAMES.get(tensor.dtype)
        if name is None:  # str() of a dtype is slow enough to matter once per tensor of a long run
            name = _DTYPE_NAMES[tensor.dtype] = str(tensor.dtype).replace("paddle.", "")
        return name

    def requires_grad(self, tensor: Any) -> bool:
        return not tensor.stop_gradient

    def substitute(self, tensor: Any, array: np.ndarray) -> Any:
        value = paddle.to_tensor(np.ascontiguousarray(array)).astype(tensor.dtype)
        if tensor.stop_gradient:
            return value
        return _Substitute.apply(tensor, value)

    def alias(self, tensor: Any) -> Any:
        return tensor.view(tensor.shape)

    def add_grad_hook(self, tensor: Any, fn: Callable[[Any], Any]) -> Any:
        return _GradHook(tensor, fn)

    def add_post_hook(self, layer: Any, fn: Callable) -> Any:
        # paddle calls this a forward *post* hook; same arguments as torch's forward hook
        return layer.register_forward_post_hook(fn, with_kwargs=True)

    def fused_activation(self, layer: Any) -> str:
        """The activation a built-in layer applies to its own output (paddle's BatchNorm(act=...)), or ""."""
        act = getattr(layer, "_act", None) if type(layer).__module__.startswith("paddle.nn.") else None
        return act if isinstance(act, str) else ""

    def activation(self, name: str) -> Callable | None:
        """paddle's function for an activation named as `fused_activation` names it, or None."""
        return getattr(paddle.nn.functional, name, None)

    def is_dropout(self, layer: Any) -> bool:
        return isinstance(layer, _DROPOUTS)

    def scalar_loss(self, tensors: list[Any]) -> Any:
        return paddle.add_n([t.astype("float32").mean() for t in tensors])

    def is_scalar(self, tensor: Any) -> bool:
        return (
            isinstance(tensor, paddle.Tensor)
            and int(np.prod(tensor.shape)) == 1
            and tensor.is_floating_point()
        )

    def backward(self, loss: Any) -> None:
        loss.reshape([]).backward()

    def grad_of(self, param: Any) -> Any:
        return param.grad

    def take_grads(self, params: list[Any]) -> list[Any]:
        """Copy the user's gradients aside so a run starts from none (paddle writes into them in place)."""
        grads = [None if p.grad is None else p.grad.clone() for p in params]
        for p, g in zip(params, grads):
            if g is not None:
                p.clear_gradient(set_to_zero=False)
        return grads

    def put_grads(self, params: list[Any], grads: list[Any]) -> None:
        for p, g in zip(params, grads):
            if g is None:
                p.clear_gradient(set_to_zero=False)
            else:
                p._set_grad_ivar(g)

    def enable_grad(self) -> AbstractContextManager:
        return paddle.enable_grad()

    def autocast(self, model: Any, dtype: str) -> AbstractContextManager:
        """paddle.amp.auto_cast (level O1). Refused on the CPU, where paddle has no float16 or bfloat16
        kernels and its autocast would run everything in float32 without a word."""
        params = model.parameters()
        if not params or params[0].place.is_cpu_place():
            raise InputError(
                f"autocast to {dtype} for a paddle model on the CPU: paddle's CPU kernels have no {dtype}, "
                "so its autocast would silently run in float32",
                hint="run the paddle model on a GPU (paddle.set_device('gpu')), or autocast the torch side only",
            )
        return paddle.amp.auto_cast(enable=True, dtype=dtype, level="O1")

    def is_optimizer(self, obj: Any) -> bool:
        return isinstance(obj, paddle.optimizer.Optimizer)

    def dropout_off(self, on_call: Callable[[], None]) -> AbstractContextManager:
        """paddle's functional dropouts run with p = 0 in the block (identity in either dropout mode)."""
        functional = paddle.nn.functional
        names = ("dropout", "dropout2d", "dropout3d", "alpha_dropout")
        return patched([(functional, name) for name in names], without_dropout(on_call))

    def cast_copy(self, layer: Any, dtype: str) -> Any:
        """A copy of `layer` with its floating parameters and buffers in `dtype`, dropout off."""
        duplicate = copy.deepcopy(layer)
        duplicate.to(dtype=dtype)
        for _, sub in duplicate.named_sublayers(include_self=True):
            if self.is_dropout(sub):
                sub.training = False
        return duplicate

    def tensor(self, array: np.ndarray, dtype: str | None, requires_grad: bool, device: Any = None) -> Any:
        t = paddle.to_tensor(np.ascontiguousarray(array).copy())
        t = t if dtype is None else t.astype(dtype)
        t.stop_gradient = not requires_grad
        return t

    def device_of(self, value: Any) -> Any:
        """None: paddle makes tensors on its current device (paddle.set_device), where its models are."""
        return None

    def check_device(self, device: str, role: str) -> None:
        raise InputError(
            f"{role} device {device!r}: padiff moves torch models only; a paddle model runs on paddle's "
            "current device",
            hint="call paddle.set_device(...) before building the paddle model, and leave its device=None",
        )

    def move(self, model: Any, device: Any) -> None:
        self.check_device(str(device), "paddle")

    def autograd(
        self, outputs: list[Any], grads: list[Any], wrt: list[Any], retain: bool = False
    ) -> list[Any]:
        """d(outputs . grads)/d(wrt); None where a tensor of `wrt` does not take part; `retain` keeps the
        graph for another call."""
        return list(paddle.grad(outputs, wrt, grads, retain_graph=retain, allow_unused=True))

    def named_parameters(self, layer: Any) -> list[tuple[str, Any]]:
        # BatchNorm's statistics are parameters in paddle, but never trainable
        return [(n, p) for n, p in layer.named_parameters() if not p.stop_gradient]

    def intercept_ops(self, callback: Callable[[str, Any], None]) -> AbstractContextManager:
        """Call callback(op name, output) after every top-level paddle op call in scope."""
        return patched_ops(callback)

    def global_state(self) -> Any:
        return (paddle.get_default_dtype(), paddle.is_grad_enabled(), paddle.get_rng_state())

    def restore_global_state(self, state: Any) -> None:
        dtype, grad_enabled, rng = state
        paddle.set_default_dtype(dtype)
        paddle.set_grad_enabled(grad_enabled)
        paddle.set_rng_state(rng)


def _is_stat(name: str, param: Any) -> bool:
    return name in ("_mean", "_variance") and param.stop_gradient
