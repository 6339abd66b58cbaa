"""Stand-in models rebuilt from a dump's manifest, and the adapter that walks them.

A stand-in layer is an instance of a class made on the fly with the dumped layer's class name and
defining module, so `match.kinds` (built-in or user class, layer kind) sees it as it saw the real one;
it holds the layer's plain settings as attributes (an Embedding's padding index), its children and its
states. A stand-in tensor knows its state name, shape, dtype and whether it is trainable, and reads its
value from a tensor file on demand. `StandInAdapter` answers the structural questions of the `Adapter`
protocol (walks, states, shapes, values) as the framework's adapter did when the dump was written; the
questions that need a running framework (hooks, gradients, optimizers) raise `DumpError`. Weight
pairing, LayerMap resolution and report trees therefore run unchanged on dumps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, NoReturn

import numpy as np

from ..errors import DumpError
from ..frameworks.base import SharedOps
from .unrunnable import Unrunnable

__all__ = ["StandInLayer", "StandInTensor", "StandInAdapter", "Values", "build_standin"]


class Values:
    """Where the stand-in tensors of one model read their values: the dump's initial weights, or for a
    while (`StandInAdapter.reading`) another source, such as a step's buffers after the run."""

    def __init__(self, read: Callable[[str], np.ndarray]):
        self.read = read


class StandInTensor:
    """One dumped state: name, shape, dtype, trainable; its value read on demand."""

    def __init__(self, key: str, info: dict[str, Any], values: Values):
        self.key = key
        self.shape = tuple(int(d) for d in info["shape"])
        self.dtype = str(info["dtype"])
        self.trainable = bool(info["trainable"])
        self._values = values

    def value(self) -> np.ndarray:
        return self._values.read(self.key)


class StandInLayer:
    """The base of every stand-in class; see the module docstring."""

    def __init__(self, settings: dict[str, Any]):
        for key, value in settings.items():
            if not key.startswith("standin_"):
                setattr(self, key, value)
        self.standin_children: list[tuple[str, StandInLayer]] = []
        self.standin_states: list[tuple[str, StandInTensor]] = []
        self.standin_params: list[str] = []


_CLASSES: dict[tuple[str, str], type] = {}


def _standin_class(module: str, name: str) -> type:
    if (module, name) not in _CLASSES:
        _CLASSES[(module, name)] = type(name, (StandInLayer,), {"__module__": module, "__qualname__": name})
    return _CLASSES[(module, name)]


def build_standin(
    model: dict[str, Any], read: Callable[[str], np.ndarray]
) -> tuple[StandInLayer, StandInAdapter]:
    """The stand-in root layer of a dumped model description (`describe.describe_model`), and its adapter."""
    values = Values(read)
    try:
        tensors = {key: StandInTensor(key, info, values) for key, info in model["states"].items()}
        layers = [_standin_class(d["module"], d["class"])(d.get("settings", {})) for d in model["layers"]]
        for layer, data in zip(layers, model["layers"]):
            layer.standin_children = [(str(name), layers[int(uid)]) for name, uid in data["children"]]
            layer.standin_states = [(str(name), tensors[str(key)]) for name, key in data["states"]]
            layer.standin_params = [str(name) for name in data.get("params", [])]
        walk = [(str(path), layers[int(uid)]) for path, uid in model["walk"]]
        adapter = StandInAdapter(
            str(model["framework"]),
            values,
            walk,
            [(k, tensors[k]) for k in model["states"] if model["states"][k].get("listed", True)],
        )
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise DumpError(
            f"the dump's model description is malformed: {error!r}", hint="dump the model again"
        ) from error
    if not walk or walk[0][0] != "":
        raise DumpError("the dump's model description has no root layer", hint="dump the model again")
    return walk[0][1], adapter


def _offline(what: str) -> NoReturn:
    raise DumpError(
        f"{what} needs the model itself, not its dump", hint="run padiff.compare on the two models"
    )


class StandInAdapter(Unrunnable, SharedOps):
    """The `Adapter` of stand-in models: the structure and values a dump holds (see the module docstring).
    Operations added to `SharedOps` (what torch and paddle spell alike) are inherited as they are."""

    package_dir = ""
    user_dirs: tuple[str, ...] = ()

    def __init__(
        self,
        framework: str,
        values: Values,
        walk: list[tuple[str, StandInLayer]],
        states: list[tuple[str, StandInTensor]],
    ):
        self.name = framework
        self.values = values
        self.root = walk[0][1] if walk else None
        self.walk = walk
        self.states = states

    @contextmanager
    def reading(self, read: Callable[[str], np.ndarray]) -> Iterator[None]:
        """Within the block, every stand-in tensor of this model reads its value from `read(state name)`."""
        saved, self.values.read = self.values.read, read
        try:
            yield
        finally:
            self.values.read = saved

    # --- structure -----------------------------------------------------------------------------------

    def is_model(self, obj: Any) -> bool:
        return isinstance(obj, StandInLayer)

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, StandInTensor)

    def named_children(self, layer: Any) -> list[tuple[str, Any]]:
        return list(layer.standin_children)

    def named_sublayers(self, model: Any) -> Iterator[tuple[str, Any]]:
        """The walk the framework's adapter made (paddle lists a shared layer once, torch at each place)."""
        if model is self.root:
            return iter(self.walk)
        return iter(self._walk(model, "", set() if self.name == "paddle" else None))

    def _walk(self, layer: StandInLayer, prefix: str, seen: set[int] | None) -> list[tuple[str, Any]]:
        if seen is not None:
            if id(layer) in seen:
                return []
            seen.add(id(layer))
        out: list[tuple[str, Any]] = [(prefix, layer)]
        for name, child in layer.standin_children:
            out += self._walk(child, f"{prefix}.{name}" if prefix else name, seen)
        return out

    def is_container(self, layer: Any) -> bool:
        return type(layer).__name__ in ("Sequential", "ModuleList", "ModuleDict", "LayerList", "LayerDict")

    def direct_state(self, layer: Any) -> list[tuple[str, Any]]:
        return list(layer.standin_states)

    def direct_params(self, layer: Any) -> list[tuple[str, Any]]:
        return [(n, t) for n, t in layer.standin_states if n in layer.standin_params]

    def all_state(self, model: Any) -> list[tuple[str, Any]]:
        if model is self.root:
            return list(self.states)
        return [
            (f"{p}.{n}" if p else n, t)
            for p, layer in self._walk(model, "", set())
            for n, t in layer.standin_states
        ]

    def parameters(self, model: Any) -> list[Any]:
        return [t for _, t in self.all_state(model) if t.trainable]

    # --- tensors -------------------------------------------------------------------------------------

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return tensor if isinstance(tensor, np.ndarray) else tensor.value()

    def peek(self, tensor: Any) -> np.ndarray:
        return self.to_numpy(tensor)

    def shape(self, tensor: Any) -> tuple[int, ...]:
        return tuple(tensor.shape)

    def dtype_name(self, tensor: Any) -> str:
        return tensor.dtype if isinstance(tensor, StandInTensor) else str(tensor.dtype)

    def requires_grad(self, tensor: Any) -> bool:
        return isinstance(tensor, StandInTensor) and tensor.trainable

    def is_float(self, tensor: Any) -> bool:
        return "float" in self.dtype_name(tensor)

    def version(self, tensor: Any) -> int:
        return 0

    def model_float_dtype(self, model: Any) -> str:
        dtypes = [t.dtype for t in self.parameters(model) if "float" in t.dtype]
        return dtypes[0] if dtypes else "float32"

    def is_training(self, layer: Any) -> bool:
        return bool(getattr(layer, "training", False))

    def fused_activation(self, layer: Any) -> str:
        return ""

    def activation(self, name: str) -> Any:
        return None

    def is_dropout(self, layer: Any) -> bool:
        return type(layer).__name__.lower().startswith(("dropout", "alphadropout"))

    def is_optimizer(self, obj: Any) -> bool:
        return False

    def is_scalar(self, tensor: Any) -> bool:
        return False

    def grad_of(self, param: Any) -> Any:
        return None

    # --- what needs the framework --------------------------------------------------------------------

    def from_numpy(self, array: np.ndarray, requires_grad: bool = False, device: Any = None) -> Any:
        _offline("making a tensor")

    def device_of(self, value: Any) -> Any:
        return None

    def assign(self, tensor: Any, array: np.ndarray) -> None:
        _offline("writing a weight")

    def alias(self, tensor: Any) -> Any:
        _offline("running a layer")

    def private_input(self, tensor: Any) -> Any:
        _offline("running a layer")

    def substitute(self, tensor: Any, array: np.ndarray) -> Any:
        _offline("single-step isolation")

    def add_pre_hook(self, layer: Any, fn: Callable) -> Any:
        _offline("running a layer")

    def add_post_hook(self, layer: Any, fn: Callable) -> Any:
        _offline("running a layer")

    def add_grad_hook(self, tensor: Any, fn: Callable[[Any], None]) -> Any:
        _offline("running a layer")

    def set_training(self, layer: Any, flag: bool) -> None:
        _offline("switching train/eval")

    def scalar_loss(self, tensors: list[Any]) -> Any:
        _offline("computing a loss")

    def backward(self, loss: Any) -> None:
        _offline("a backward pass")

    def take_grads(self, params: list[Any]) -> list[Any]:
        _offline("reading gradients")

    def put_grads(self, params: list[Any], grads: list[Any]) -> None:
        _offline("writing gradients")

    def enable_grad(self) -> AbstractContextManager:
        _offline("a backward pass")

    def optimizer_step(self, optimizer: Any) -> None:
        _offline("an optimizer step")

    def optimizer_state(self, optimizer: Any) -> Any:
        _offline("an optimizer")

    def restore_optimizer_state(self, optimizer: Any, state: Any) -> None:
        _offline("an optimizer")

    def optimizer_settings(self, optimizer: Any) -> dict[str, Any]:
        _offline("an optimizer")

    def optimizer_param_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]:
        _offline("an optimizer")

    def intercept_ops(self, callback: Callable[[str, Any], None]) -> AbstractContextManager:
        _offline("narrowing to an op")

    def global_state(self) -> Any:
        return None

    def restore_global_state(self, state: Any) -> None:
        return None
