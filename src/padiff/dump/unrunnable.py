"""What a dumped model cannot do: run. The adapter operations that need the model itself (running it
again, re-running one layer in float64) raise a DumpError saying so; the comparison never calls them on
a dump, since offline comparisons skip confirmation, the float64 judge and op narrowing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NoReturn

import numpy as np

from ..errors import DumpError

__all__ = ["Unrunnable"]


def _offline(what: str) -> NoReturn:
    raise DumpError(
        f"{what} needs the model itself, not its dump", hint="run padiff.compare on the two models"
    )


class Unrunnable:
    """Adapter operations that would run a model, for adapters of models that cannot run."""

    def dropout_off(self, on_call: Callable[[], None]) -> AbstractContextManager:
        _offline("running the model")

    def cast_copy(self, layer: Any, dtype: str) -> Any:
        _offline("judging rounding against float64")

    def tensor(self, array: np.ndarray, dtype: str | None, requires_grad: bool, device: Any = None) -> Any:
        _offline("judging rounding against float64")

    def autograd(
        self, outputs: list[Any], grads: list[Any], wrt: list[Any], retain: bool = False
    ) -> list[Any]:
        _offline("judging rounding against float64")

    def named_parameters(self, layer: Any) -> list[tuple[str, Any]]:
        _offline("judging rounding against float64")

    def read_optimizer_state(self, optimizer: Any, param: Any) -> dict[str, np.ndarray]:
        _offline("isolating the optimizers")

    def write_optimizer_states(self, optimizer: Any, states: list[tuple[Any, dict[str, np.ndarray]]]) -> None:
        _offline("isolating the optimizers")

    def autocast(self, model: Any, dtype: str) -> AbstractContextManager:
        _offline("a forward pass under autocast")

    def check_device(self, device: str, role: str) -> None:
        _offline("moving a model to a device")

    def move(self, model: Any, device: Any) -> None:
        _offline("moving a model to a device")
