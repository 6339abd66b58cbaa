"""PyTorch adapter.

Quirks kept here: Linear weights are [out, in]; `num_batches_tracked` has no counterpart elsewhere and
is left out of the state; torch function mode sees every top-level op for narrowing.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch

from .base import PEEK_MIN, SharedOps, patched, plain, without_dropout
from .torch_ops import OpMode, Substitute, check_device
from .torch_packed import PackedForms

_DTYPE_NAMES: dict[Any, str] = {}  # a framework dtype -> its name ("float32")
_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)
_DROPOUTS = (
    torch.nn.Dropout,
    torch.nn.Dropout1d,
    torch.nn.Dropout2d,
    torch.nn.Dropout3d,
    torch.nn.AlphaDropout,
)


class TorchAdapter(SharedOps):
    def __init__(self) -> None:
        self._packed = PackedForms()  # tensors that stand for a PackedSequence

    name = "torch"
    package_dir = os.path.dirname(torch.__file__)
    user_dirs: tuple[str, ...] = ()

    def is_model(self, obj: Any) -> bool:
        return isinstance(obj, torch.nn.Module)

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, torch.Tensor)

    def named_sublayers(self, model: Any) -> Iterator[tuple[str, Any]]:
        return model.named_modules(remove_duplicate=False)

    def is_container(self, layer: Any) -> bool:
        """Containers pass data through: their own classes, and subclasses keeping their forward."""
        return isinstance(layer, _CONTAINERS) and type(layer).forward in {c.forward for c in _CONTAINERS}

    def version(self, tensor: Any) -> int:
        """Bumped by every in-place change of the tensor."""
        return tensor._version

    def direct_params(self, layer: Any) -> list[tuple[str, Any]]:
        return list(layer.named_parameters(recurse=False))

    def direct_state(self, layer: Any) -> list[tuple[str, Any]]:
        # num_batches_tracked has no counterpart in other frameworks and does not change the numbers
        buffers = [
            (n, b)
            for n, b in layer.named_buffers(recurse=False)
            if n != "num_batches_tracked" and n not in layer._non_persistent_buffers_set
        ]
        return self.direct_params(layer) + buffers

    def all_state(self, model: Any) -> list[tuple[str, Any]]:
        return list(model.named_parameters()) + list(model.named_buffers())

    def unpack(self, value: Any) -> Any:
        return self._packed.unpack(value)

    def form_carrier(self, source: Any) -> Callable[[Any], None] | None:
        return self._packed.carrier(source)

    def to_numpy(self, tensor: Any) -> np.ndarray:
        padded = self._packed.padded(tensor)
        if padded is not None:  # a PackedSequence's data: its padded batch, padding masked
            return padded
        t = tensor.detach()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16
            t = t.float()
        return t.cpu().numpy().copy()

    def peek(self, tensor: Any) -> np.ndarray:
        """The values to read now: a view of a large plain CPU tensor's memory (it changes with the tensor)."""
        if tensor.numel() < PEEK_MIN or not tensor.is_cpu or tensor.dtype == torch.bfloat16:
            return self.to_numpy(tensor)
        padded = self._packed.padded(tensor)  # a PackedSequence's data: its padded batch, a copy
        return tensor.detach().numpy() if padded is None else padded

    def from_numpy(self, array: np.ndarray, requires_grad: bool = False, device: Any = None) -> Any:
        t = torch.from_numpy(np.ascontiguousarray(array).copy())
        if device is not None:
            t = t.to(device)
        if requires_grad:
            t.requires_grad_(True)
        return t

    def private_input(self, tensor: Any) -> Any:
        """A copy of a leaf that requires grad: a model may change its input in place, such a leaf not."""
        return tensor.clone() if tensor.is_leaf and tensor.requires_grad else tensor

    def model_float_dtype(self, model: Any) -> str:
        """The dtype of the model's first floating parameter ("float32" when it has none)."""
        for p in model.parameters():
            if p.is_floating_point():
                return self.dtype_name(p)
        return "float32"

    def assign(self, tensor: Any, array: np.ndarray) -> None:
        with torch.no_grad():
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(array)).to(tensor.dtype).reshape(tensor.shape))

    def dtype_name(self, tensor: Any) -> str:
        name = _DTYPE_NAMES.get(tensor.dtype)
        if name is None:  # str() of a dtype is slow enough to matter once per tensor of a long run
            name = _DTYPE_NAMES[tensor.dtype] = str(tensor.dtype).replace("torch.", "")
        return name

    def requires_grad(self, tensor: Any) -> bool:
        return bool(tensor.requires_grad)

    def substitute(self, tensor: Any, array: np.ndarray) -> Any:
        value = torch.from_numpy(np.ascontiguousarray(array)).to(
            device=tensor.device, dtype=tensor.dtype, copy=True
        )
        if not tensor.requires_grad:
            return value
        return Substitute.apply(tensor, value)

    def alias(self, tensor: Any) -> Any:
        return tensor.view_as(tensor)

    def add_post_hook(self, layer: Any, fn: Callable) -> Any:
        return layer.register_forward_hook(fn, with_kwargs=True)

    def fused_activation(self, layer: Any) -> str:
        return ""

    def activation(self, name: str) -> Callable | None:
        """torch's function for an activation the other framework fuses into a layer ("relu"), or None."""
        return getattr(torch.nn.functional, name, None)

    def is_dropout(self, layer: Any) -> bool:
        return isinstance(layer, _DROPOUTS)

    def scalar_loss(self, tensors: list[Any]) -> Any:
        return torch.stack([t.float().mean() for t in tensors]).sum()

    def is_scalar(self, tensor: Any) -> bool:
        return isinstance(tensor, torch.Tensor) and tensor.numel() == 1 and tensor.is_floating_point()

    def backward(self, loss: Any) -> None:
        loss.reshape(()).backward()

    def grad_of(self, param: Any) -> Any:
        return param.grad

    def take_grads(self, params: list[Any]) -> list[Any]:
        """Detach the user's gradients (kept as objects, not copied) so a run starts from none."""
        grads = [p.grad for p in params]
        for p in params:
            p.grad = None
        return grads

    def put_grads(self, params: list[Any], grads: list[Any]) -> None:
        for p, g in zip(params, grads):
            p.grad = g

    def enable_grad(self) -> AbstractContextManager:
        return torch.enable_grad()

    def autocast(self, model: Any, dtype: str) -> AbstractContextManager:
        """torch.autocast on the device the model's parameters are on (the CPU for a model without any)."""
        device = next((p.device.type for p in model.parameters()), "cpu")
        return torch.autocast(device_type=device, dtype=getattr(torch, dtype))

    def is_optimizer(self, obj: Any) -> bool:
        return isinstance(obj, torch.optim.Optimizer)

    def optimizer_step(self, optimizer: Any) -> None:
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def optimizer_state(self, optimizer: Any) -> Any:
        return copy.deepcopy(optimizer.state_dict())

    def restore_optimizer_state(self, optimizer: Any, state: Any) -> None:
        optimizer.load_state_dict(state)

    def optimizer_settings(self, optimizer: Any) -> dict[str, Any]:
        """Every param group's settings ("lr", "betas", "eps", "weight_decay", ...); "groups.i." prefixes
        them when there are several groups."""
        groups = optimizer.param_groups
        settings = {}
        for i, group in enumerate(groups):
            prefix = "" if len(groups) == 1 else f"groups.{i}."
            settings.update({prefix + k: plain(v) for k, v in group.items() if k != "params"})
        return settings

    def optimizer_param_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]:
        state = optimizer.state.get(param, {})
        return {name: self.to_numpy(v) for name, v in state.items() if isinstance(v, torch.Tensor)}

    def read_optimizer_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]:
        """The parameter's optimizer state in torch's own names (the canonical ones)."""
        return self.optimizer_param_state(optimizer, param)

    def write_optimizer_states(self, optimizer: Any, states: list[tuple[Any, dict[str, np.ndarray]]]) -> None:
        """Give these parameters this (canonical) state; an empty one is a fresh start."""
        saved = optimizer.state_dict()
        index = {
            id(p): i for i, p in enumerate(p for group in optimizer.param_groups for p in group["params"])
        }
        for param, state in states:
            i = index[id(param)]
            if state:
                saved["state"][i] = {name: torch.tensor(np.asarray(value)) for name, value in state.items()}
            else:
                saved["state"].pop(i, None)
        optimizer.load_state_dict(saved)

    def dropout_off(self, on_call: Callable[[], None]) -> AbstractContextManager:
        """torch's functional dropouts run with p = 0 in the block (a model calling them in train mode:
        Hugging Face's eager attention)."""
        functional = torch.nn.functional
        names = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
        return patched([(functional, name) for name in names], without_dropout(on_call))

    def cast_copy(self, layer: Any, dtype: str) -> Any:
        """A copy of `layer` with its floating parameters and buffers in `dtype`, dropout off, no grad hooks."""
        duplicate = copy.deepcopy(layer).to(getattr(torch, dtype))
        for sub in duplicate.modules():
            if self.is_dropout(sub):
                sub.training = False
        return duplicate

    def tensor(self, array: np.ndarray, dtype: str | None, requires_grad: bool, device: Any = None) -> Any:
        t = torch.from_numpy(np.ascontiguousarray(array).copy())
        t = t.to(device=device, dtype=None if dtype is None else getattr(torch, dtype))
        return t.requires_grad_(True) if requires_grad else t

    def device_of(self, value: Any) -> Any:
        """A tensor's device, or a model's: that of its first parameter or buffer (None without any)."""
        if isinstance(value, torch.Tensor):
            return value.device
        return next((t.device for t in itertools.chain(value.parameters(), value.buffers())), None)

    def check_device(self, device: str, role: str) -> None:
        check_device(device, role)

    def move(self, model: Any, device: Any) -> None:
        model.to(device)

    def autograd(
        self, outputs: list[Any], grads: list[Any], wrt: list[Any], retain: bool = False
    ) -> list[Any]:
        """d(outputs . grads)/d(wrt); None where a tensor of `wrt` does not take part; `retain` keeps the
        graph for another call."""
        return list(torch.autograd.grad(outputs, wrt, grads, retain_graph=retain, allow_unused=True))

    def named_parameters(self, layer: Any) -> list[tuple[str, Any]]:
        return list(layer.named_parameters())

    def intercept_ops(self, callback: Callable[[str, Any], None]) -> AbstractContextManager:
        """Call callback(op name, output) after every torch function / tensor method call in scope."""
        return OpMode(callback)

    def global_state(self) -> Any:
        # the CUDA generators only when CUDA is already in use: reading them would start it
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        return (torch.get_default_dtype(), torch.is_grad_enabled(), torch.random.get_rng_state(), cuda)

    def restore_global_state(self, state: Any) -> None:
        dtype, grad_enabled, rng, cuda = state
        torch.set_default_dtype(dtype)
        torch.set_grad_enabled(grad_enabled)
        torch.random.set_rng_state(rng)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
