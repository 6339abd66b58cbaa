"""Twins for the forms inputs and outputs take: two named inputs, nested and mixed-dtype outputs, a
different number of outputs, float64 parameters, token ids, and a custom backward. Each is defined once
against the framework kit.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from .frameworks import kit, net

__all__ = [
    "Output",
    "two_inputs",
    "outputs",
    "leaf_outputs",
    "two_outputs",
    "one_output",
    "scaled_float64",
    "scaled_grad",
    "tokens",
]


@functools.cache
def _two_input_classes(framework: str) -> dict[tuple[str, str], type]:
    """forward(<a>, <b>) computing fc(a) * tanh(b) - b, under several parameter names: order matters."""
    k = kit(framework)

    class TwoInputs(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = k.nn.Linear(5, 5)
            self.act = k.nn.Tanh()

        def body(self, a: Any, b: Any) -> Any:
            return self.fc(a) * self.act(b) - b

    class XY(TwoInputs):
        def forward(self, x: Any, y: Any) -> Any:
            return self.body(x, y)

    class YX(TwoInputs):
        def forward(self, y: Any, x: Any) -> Any:  # the same parameters declared in the other order
            return self.body(x, y)

    class InputsOther(TwoInputs):
        def forward(self, inputs: Any, other: Any) -> Any:
            return self.body(inputs, other)

    return {("x", "y"): XY, ("y", "x"): YX, ("inputs", "other"): InputsOther}


def two_inputs(framework: str, *names: str) -> Any:
    """Not seeded. ``names``: ("x", "y"), ("y", "x") or ("inputs", "other")."""
    return _two_input_classes(framework)[names]()


@dataclasses.dataclass
class Output:
    hidden: Any
    logits: Any
    count: int
    cache: Any = None


def _pack(form: str, hidden: Any, logits: Any) -> Any:
    if form == "dict":
        return {"hidden": hidden, "logits": logits, "count": 3, "cache": None}
    if form == "tuple":
        return (hidden, 3, logits, None)
    if form == "plain_dict":
        return {"hidden": hidden, "logits": logits}
    if form == "plain_tuple":
        return (hidden, logits)
    return Output(hidden, logits, 3)


@functools.cache
def _outputs_class(framework: str) -> type:
    k = kit(framework)

    class Outputs(k.Layer):
        def __init__(self, form: str, plant: bool) -> None:
            super().__init__()
            self.form, self.plant = form, plant
            self.fc = k.nn.Linear(6, 4)
            self.head = k.nn.Linear(4, 3)

        def forward(self, x: Any) -> Any:
            hidden = self.fc(x).tanh()
            logits = self.head(hidden)
            if self.plant:
                logits = logits * 1.01  # the root's own code changes one leaf only
            return _pack(self.form, hidden, logits)

    return Outputs


def outputs(framework: str, form: str, plant: bool = False, seed: int = 0) -> Any:
    """(hidden, logits) with an int and None, packed as "dict", "tuple", "dataclass" (``Output``), or
    "plain_dict" / "plain_tuple" (the two tensors only); ``plant`` scales the logits by 1.01."""
    kit(framework).seed(seed)
    return _outputs_class(framework)(form, plant)


@functools.cache
def _leaf_outputs_class(framework: str) -> type:
    k = kit(framework)

    class LeafOutputs(k.Layer):
        """Returns (float, int64 argmax, bool mask, an empty slice, None); `plant` changes one leaf."""

        def __init__(self, plant: str | None) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 3)
            self.plant = plant

        def forward(self, x: Any) -> Any:
            h = self.fc(x)
            ids = h.argmax(-1) * (0 if self.plant == "int" else 1)
            mask = h > (0.5 if self.plant == "bool" else 0.0)
            return h, ids, mask, h[:, :0], None

    return LeafOutputs


def leaf_outputs(framework: str, plant: str | None = None, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _leaf_outputs_class(framework)(plant)


@functools.cache
def _two_outputs_class(framework: str) -> type:
    k = kit(framework)

    class TwoOutputs(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = k.nn.Linear(16, 8)

        def forward(self, x: Any) -> Any:
            y = self.fc(x)
            return y, y.sum(-1)

    return TwoOutputs


def two_outputs(framework: str) -> Any:
    """fc(x) and its row sums. Not seeded."""
    return _two_outputs_class(framework)()


def one_output(framework: str) -> Any:
    """fc(x) alone, the counterpart of ``two_outputs``. Not seeded."""
    return net(framework, fc=kit(framework).nn.Linear(16, 8))


@functools.cache
def _scaled_class(framework: str) -> type:
    k = kit(framework)

    class Scaled(k.Layer):
        def __init__(self, factor: float) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 3)
            self.act = k.nn.Tanh()
            self.factor = factor

        def forward(self, x: Any) -> Any:
            return self.act(self.fc(x)) * self.factor

    return Scaled


def scaled_float64(framework: str, factor: float = 1.0, seed: int = 0) -> Any:
    """tanh(fc(x)) * factor with float64 parameters."""
    kit(framework).seed(seed)
    if framework == "torch":
        return _scaled_class("torch")(factor).double()
    import paddle

    saved = paddle.get_default_dtype()
    paddle.set_default_dtype("float64")
    try:
        return _scaled_class("paddle")(factor)
    finally:
        paddle.set_default_dtype(saved)


@functools.cache
def _scaled_grad_class(framework: str) -> type:
    k = kit(framework)

    def double(grad_factor: float) -> type:
        class Double(k.Function):
            """y = 2x, with a backward that multiplies by `grad_factor` (2 is right)."""

            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                return x * 2

            @staticmethod
            def backward(ctx: Any, grad: Any) -> Any:
                return grad * grad_factor

        return Double

    class ScaledGrad(k.Layer):
        def __init__(self, grad_factor: float) -> None:
            super().__init__()
            self.fc1 = k.nn.Linear(4, 4)
            self.fn = double(grad_factor)
            self.fc2 = k.nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            return self.fc2(self.fn.apply(self.fc1(x)))

    return ScaledGrad


def scaled_grad(framework: str, grad_factor: float = 2.0, seed: int = 0) -> Any:
    """fc1 -> a custom doubling whose backward multiplies by ``grad_factor`` -> fc2."""
    kit(framework).seed(seed)
    return _scaled_grad_class(framework)(grad_factor)


def tokens(framework: str, seed: int = 0) -> Any:
    """Token ids -> embed (10 x 4) -> head."""
    k = kit(framework)
    k.seed(seed)
    return net(framework, embed=k.nn.Embedding(10, 4), head=k.nn.Linear(4, 2))
