"""PaddlePaddle adapter.

Quirks kept here: Linear weights are [in, out]; BatchNorm statistics are the parameters `_mean` and
`_variance`; the forward hook is `register_forward_post_hook`; there is no function mode, so narrowing
patches paddle's op functions for the length of one run.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import numpy as np
import paddle

from .base import SharedOps, plain

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


# what padiff patches, only while it narrows a culprit down to one call: tensor methods (operators
# included) and the functions of these modules (paddle has no torch-function-mode equivalent)
_TENSOR_METHODS = (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __matmul__ __pow__ __neg__ "
    "__getitem__ matmul transpose reshape exp log sum mean max min tanh sqrt rsqrt pow abs unsqueeze squeeze "
    "flatten chunk split expand tile cast astype clip scale masked_fill softmax"
).split()
_FUNCTIONS = (
    "matmul add subtract multiply divide transpose reshape concat stack split chunk exp log sum mean max "
    "min tanh sqrt rsqrt pow where einsum bmm unsqueeze squeeze flatten clip scale erf cumsum"
).split()


@contextmanager
def _patched_ops(callback: Callable[[str, Any], None]) -> Iterator[None]:
    depth = [0]  # record top-level calls only, not the patched functions they call in turn

    def wrap(name: str, original: Callable) -> Callable:
        @functools.wraps(original)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            try:
                output = original(*args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                callback(name, output)
            return output

        return wrapper

    functional = paddle.nn.functional
    targets = [(paddle.Tensor, name) for name in _TENSOR_METHODS] + [(paddle, name) for name in _FUNCTIONS]
    targets += [(functional, name) for name in dir(functional) if not name.startswith("_")]
    saved = []
    try:
        for owner, name in targets:
            original = getattr(owner, name, None)
            if callable(original) and not isinstance(original, type):
                saved.append((owner, name, original))
                setattr(owner, name, wrap(name, original))
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


class PaddleAdapter(SharedOps):
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

    def from_numpy(self, array: np.ndarray, requires_grad: bool = False) -> Any:
        t = paddle.to_tensor(np.ascontiguousarray(array).copy())
        t.stop_gradient = not requires_grad
        return t

    def private_input(self, tensor: Any) -> Any:
        """A copy of a leaf that requires grad: a model may change its input in place, such a leaf not."""
        return tensor.clone() if tensor.is_leaf and not tensor.stop_gradient else tensor

    def model_float_dtype(self, model: Any) -> np.dtype:
        for p in model.parameters():
            if p.is_floating_point():
                return np.dtype("float32") if p.dtype == paddle.bfloat16 else np.dtype(self.dtype_name(p))
        return np.dtype("float32")

    def assign(self, tensor: Any, array: np.ndarray) -> None:
        value = np.ascontiguousarray(array).reshape(tensor.shape)
        if tensor.dtype == paddle.bfloat16:
            tensor.set_value(paddle.to_tensor(value.astype(np.float32)).astype("bfloat16"))
        else:
            tensor.set_value(value.astype(self.dtype_name(tensor)))

    def dtype_name(self, tensor: Any) -> str:
        return str(tensor.dtype).replace("paddle.", "")

    def requires_grad(self, tensor: Any) -> bool:
        return not tensor.stop_gradient

    def substitute(self, tensor: Any, array: np.ndarray) -> Any:
        value = paddle.to_tensor(np.ascontiguousarray(array)).astype(tensor.dtype)
        if tensor.stop_gradient:
            return value
        return _Substitute.apply(tensor, value)

    def alias(self, tensor: Any) -> Any:
        return tensor.view(tensor.shape)

    def add_post_hook(self, layer: Any, fn: Callable) -> Any:
        # paddle calls this a forward *post* hook; same arguments as torch's forward hook
        return layer.register_forward_post_hook(fn, with_kwargs=True)

    def fused_activation(self, layer: Any) -> str:
        """The activation a built-in layer applies to its own output (paddle's BatchNorm(act=...)), or ""."""
        act = getattr(layer, "_act", None) if type(layer).__module__.startswith("paddle.nn.") else None
        return act if isinstance(act, str) else ""

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

    def is_optimizer(self, obj: Any) -> bool:
        return isinstance(obj, paddle.optimizer.Optimizer)

    def optimizer_step(self, optimizer: Any) -> None:
        optimizer.step()
        optimizer.clear_grad(set_to_zero=False)

    def optimizer_state(self, optimizer: Any) -> Any:
        # state_dict holds the live accumulators: clone them
        return {
            k: v.clone() if isinstance(v, paddle.Tensor) else copy.deepcopy(v)
            for k, v in optimizer.state_dict().items()
        }

    def restore_optimizer_state(self, optimizer: Any, state: Any) -> None:
        # paddle only loads accumulators it has not made yet: start them (and its record of them) afresh
        for name in ("_accumulators", "_accumulators_holder", "_already_create_accumulator"):
            table: Any = getattr(optimizer, name, None)
            if hasattr(table, "clear"):
                table.clear()
        if state:
            optimizer.set_state_dict(state)

    def optimizer_settings(self, optimizer: Any) -> dict[str, Any]:
        """The learning rate, and the optimizer's own numeric settings (paddle keeps them as `_beta1`,
        `_epsilon`, `_coeff` for AdamW's weight decay, `_momentum`, ...), named without the underscore."""
        settings: dict[str, Any] = {"learning_rate": plain(optimizer.get_lr())}
        for name, value in vars(optimizer).items():
            if name.startswith("_") and not name.startswith("__") and isinstance(value, (bool, int, float)):
                settings[name.lstrip("_")] = value
            elif name in ("_beta1", "_beta2", "_epsilon") and value is not None:
                settings[name.lstrip("_")] = plain(value)
        decay: Any = getattr(optimizer, "regularization", None)  # weight_decay=0.01 is an L2Decay
        name = {"L2Decay": "weight_decay", "L1Decay": "l1_decay"}.get(type(decay).__name__, "")
        settings.update({name: decay._coeff} if name else {})
        settings.setdefault("weight_decay", settings.get("regularization_coeff", 0.0))  # Momentum's own
        return settings

    def optimizer_param_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]:
        # accumulators by name ("moment1", "velocity", ...), each a table by parameter name
        tables = getattr(optimizer, "_accumulators", {}) or {}
        return {
            name: self.to_numpy(table[param.name]) for name, table in tables.items() if param.name in table
        }

    def intercept_ops(self, callback: Callable[[str, Any], None]) -> AbstractContextManager:
        """Call callback(op name, output) after every top-level paddle op call in scope."""
        return _patched_ops(callback)

    def global_state(self) -> Any:
        return (paddle.get_default_dtype(), paddle.is_grad_enabled(), paddle.get_rng_state())

    def restore_global_state(self, state: Any) -> None:
        dtype, grad_enabled, rng = state
        paddle.set_default_dtype(dtype)
        paddle.set_grad_enabled(grad_enabled)
        paddle.set_rng_state(rng)


def _is_stat(name: str, param: Any) -> bool:
    return name in ("_mean", "_variance") and param.stop_gradient
