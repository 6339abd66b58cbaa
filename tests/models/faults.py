"""Twins that misbehave on purpose: they raise in forward or backward, make NaN or Inf, or change
tensors in place. Each is defined once against the framework kit; an ``armed`` flag or a planted value
makes one side misbehave.
"""

from __future__ import annotations

import functools
from typing import Any

from .frameworks import kit

__all__ = ["BoomError", "faulty", "reshaping", "fragile", "nonfinite", "inplace", "add_"]


class BoomError(RuntimeError):
    pass


@functools.cache
def _faulty_class(framework: str) -> type:
    k = kit(framework)

    class Boom(k.Layer):
        """Raises when armed; keeps the exception so the test can check the chain."""

        def __init__(self) -> None:
            super().__init__()
            self.armed = False
            self.raised: BaseException | None = None

        def forward(self, x: Any) -> Any:
            if self.armed:
                self.raised = BoomError("boom in the middle of the forward")
                raise self.raised
            return x * 2

    class InplaceRelu(k.Layer):
        """paddle has no ReLU(inplace=True): a user layer with the same flag."""

        def __init__(self) -> None:
            super().__init__()
            self.inplace = True

        def forward(self, x: Any) -> Any:
            return k.F.relu_(x) if self.inplace else k.F.relu(x)

    def relu() -> Any:
        return k.nn.ReLU(inplace=True) if framework == "torch" else InplaceRelu()

    class Inner(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = k.nn.Linear(8, 8)
            self.relu = relu()
            self.boom = Boom()
            self.drop = k.nn.Dropout(0.5)

        def forward(self, x: Any) -> Any:
            return self.drop(self.boom(self.relu(self.fc(x))))

    class Faulty(k.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 8)
            self.act = relu()
            self.inner = Inner()
            self.drop = k.nn.Dropout(0.5)
            self.head = k.nn.Linear(8, 2)

        def forward(self, x: Any) -> Any:
            return self.head(self.drop(self.inner(self.act(self.fc(x)))))

    return Faulty


def faulty(framework: str) -> Any:
    """fc -> inplace relu -> inner (fc, inplace relu, Boom, dropout) -> dropout -> head; arm it with
    ``model.inner.boom.armed = True``. The root (and both dropouts) are in train mode, head in eval."""
    model = _faulty_class(framework)()
    model.train()
    model.head.eval()
    return model


@functools.cache
def _reshaping_class(framework: str) -> type:
    k = kit(framework)

    class Reshaping(k.Layer):
        """Its own code reshapes fc1's output; armed, to a shape that cannot hold it."""

        def __init__(self, armed: bool) -> None:
            super().__init__()
            self.fc1 = k.nn.Linear(4, 4)
            self.fc2 = k.nn.Linear(4, 2)
            self.armed = armed

        def forward(self, x: Any) -> Any:
            h = self.fc1(x)
            return self.fc2(h.reshape([5, -1]) if self.armed else h)

    return Reshaping


def reshaping(framework: str, armed: bool = False, seed: int = 0) -> Any:
    kit(framework).seed(seed)
    return _reshaping_class(framework)(armed)


@functools.cache
def _fragile_class(framework: str) -> type:
    k = kit(framework)

    class Fragile(k.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, grad: Any) -> Any:
            raise ValueError("boom in backward")

    class FragileNet(k.Layer):
        """fc, then doubling; armed, the doubling is a custom function whose backward raises."""

        def __init__(self, armed: bool) -> None:
            super().__init__()
            self.fc = k.nn.Linear(4, 2)
            self.armed = armed

        def forward(self, x: Any) -> Any:
            h = self.fc(x)
            return Fragile.apply(h) if self.armed else h * 2

    return FragileNet


def fragile(framework: str, armed: bool) -> Any:
    """Not seeded: the caller's RNG state decides the weights."""
    return _fragile_class(framework)(armed)


@functools.cache
def _nonfinite_class(framework: str) -> type:
    k = kit(framework)

    class Blowup(k.Layer):
        """Identity, or (armed) log -> NaN for negative inputs, or x * 1e38 * 1e38 -> +-Inf."""

        def __init__(self, armed: str | None) -> None:
            super().__init__()
            self.armed = armed

        def forward(self, x: Any) -> Any:
            if self.armed == "nan":
                return x.log()
            if self.armed == "inf":
                return x * 1e38 * 1e38
            return x

    class NonFinite(k.Layer):
        def __init__(self, armed: str | None) -> None:
            super().__init__()
            self.fc1 = k.nn.Linear(4, 4)
            self.act = k.nn.Tanh()
            self.blowup = Blowup(armed)
            self.fc2 = k.nn.Linear(4, 2)

        def forward(self, x: Any) -> Any:
            return self.fc2(self.blowup(self.act(self.fc1(x))))

    return NonFinite


def nonfinite(framework: str, armed: str | None, seed: int = 0) -> Any:
    """fc1 -> tanh -> blowup -> fc2; ``armed`` is "nan", "inf" or None."""
    kit(framework).seed(seed)
    return _nonfinite_class(framework)(armed)


def add_(tensor: Any, value: float) -> Any:
    """tensor += value in place (paddle's add_ takes a tensor)."""
    if type(tensor).__module__.startswith("torch"):
        return tensor.add_(value)
    import paddle

    return tensor.add_(paddle.full_like(tensor, value))


@functools.cache
def _inplace_class(framework: str) -> type:
    k = kit(framework)

    class AddInPlace(k.Layer):
        """Adds `amount` to its input in place and returns it."""

        def __init__(self, amount: float) -> None:
            super().__init__()
            self.amount = amount

        def forward(self, x: Any) -> Any:
            return add_(x, self.amount)

    class Inplace(k.Layer):
        """fc1 -> (shift in place, in this layer's own code) -> [add: AddInPlace] -> relu -> fc2.

        relu is torch's ReLU(inplace=True); paddle has no such flag: a plain ReLU (or `relu` by name)."""

        def __init__(self, shift: float, relu: str, add: float | None, input_shift: float) -> None:
            super().__init__()
            self.fc1 = k.nn.Linear(4, 4)
            self.relu = (
                k.nn.ReLU(inplace=True) if relu == "ReLU" and framework == "torch" else getattr(k.nn, relu)()
            )
            self.add = AddInPlace(add) if add is not None else None
            self.fc2 = k.nn.Linear(4, 2)
            self.shift, self.input_shift = shift, input_shift

        def forward(self, x: Any) -> Any:
            if self.input_shift:
                add_(x, self.input_shift)
            h = self.fc1(x)
            add_(h, self.shift)
            if self.add is not None:
                h = self.add(h)
            return self.fc2(self.relu(h))

    return Inplace


def inplace(
    framework: str,
    shift: float = 0.5,
    relu: str = "ReLU",
    add: float | None = None,
    input_shift: float = 0.0,
    seed: int = 0,
) -> Any:
    kit(framework).seed(seed)
    return _inplace_class(framework)(shift, relu, add, input_shift)
