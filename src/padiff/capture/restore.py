"""Snapshots of what a run changes in a model, put back afterwards.

`ModelState`: buffers (BatchNorm statistics move in train mode) and the user's gradients, around every
run. `TrainingState`: parameters and the user's optimizer state, around optimizer steps. `Placement`: a
model moved to the device `compare(device=...)` asks for, moved back to its own after the comparison.
"""

from __future__ import annotations

from typing import Any

from ..frameworks.base import Adapter

__all__ = ["ModelState", "TrainingState", "Placement"]


class ModelState:
    """Buffers (BatchNorm statistics move in train mode) and the user's gradients, put back after."""

    def __init__(self, adapter: Adapter, model: Any):
        self.adapter = adapter
        states = adapter.all_state(model)
        self.buffers = [(t, adapter.to_numpy(t)) for _, t in states if not adapter.requires_grad(t)]
        self.params = [t for _, t in states if adapter.requires_grad(t)]
        self.grads = adapter.take_grads(self.params)

    def restore(self) -> None:
        for tensor, value in self.buffers:
            self.adapter.assign(tensor, value)
        self.adapter.put_grads(self.params, self.grads)


class TrainingState:
    """Parameters, and the user's optimizer state, before training steps; put back after them."""

    def __init__(self, adapter: Adapter, model: Any, optimizer: Any | None):
        self.adapter, self.optimizer = adapter, optimizer
        self.params = [(t, adapter.to_numpy(t)) for t in adapter.parameters(model)]
        self.optimizer_state = None if optimizer is None else adapter.optimizer_state(optimizer)

    def restore(self) -> None:
        for tensor, value in self.params:
            self.adapter.assign(tensor, value)
        if self.optimizer is not None:
            self.adapter.restore_optimizer_state(self.optimizer, self.optimizer_state)


class Placement:
    """A model on `device` for the comparison; `restore` moves it back where it was."""

    def __init__(self, adapter: Adapter, model: Any, device: str):
        self.adapter, self.model = adapter, model
        self.before = adapter.device_of(model)
        adapter.move(model, device)
        self.now = adapter.device_of(model)

    def restore(self) -> None:
        if self.before is not None:
            self.adapter.move(self.model, self.before)

    def note(self, role: str) -> str:
        if self.before == self.now:
            return f"{role} ({self.adapter.name}) ran on {self.now}, where it was"
        return f"{role} ({self.adapter.name}) ran on {self.now}: moved there for the comparison, back to {self.before} after"
