"""torch machinery the torch adapter runs: a value put in a tensor's place with the gradient passed
through (single-step isolation), every top-level torch call seen (op narrowing), and the devices padiff
can run a torch model on (`compare(device=...)`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from ..errors import InputError

__all__ = ["Substitute", "OpMode", "check_device"]

_DEVICE_HINT = "e.g. device=('cuda', 'cpu') runs base on the GPU and raw on the CPU"


class Substitute(torch.autograd.Function):
    """Forward: `value`; backward: the gradient goes to `tensor` unchanged."""

    @staticmethod
    def forward(ctx: Any, tensor: Any, value: Any) -> Any:  # noqa: ARG004
        return value.clone()

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:  # noqa: ARG004
        return grad, None


class OpMode(TorchFunctionMode):
    """Sees every top-level torch call (torch disables the mode while its handler runs, so the calls a
    function makes internally are not seen)."""

    def __init__(self, callback: Callable[[str, Any], None]):
        super().__init__()
        self.callback = callback

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        output = func(*args, **(kwargs or {}))
        self.callback(getattr(func, "__name__", str(func)), output)
        return output


def check_device(device: str, role: str) -> None:
    """A device padiff can run this side on: "cpu", or "cuda"/"cuda:N" where torch has CUDA."""
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise InputError(
            f"{role} device {device!r} is not a torch device: {error}", hint=_DEVICE_HINT
        ) from error
    if parsed.type not in ("cpu", "cuda"):
        raise InputError(
            f"{role} device {device!r}: padiff runs torch models on the CPU or CUDA", hint=_DEVICE_HINT
        )
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"{role} device {device!r}: this torch has no CUDA device (torch.cuda.is_available() is False)",
            hint="compare on a machine with a GPU and a CUDA build of torch, or leave this side on the CPU",
        )
