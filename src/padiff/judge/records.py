"""Typed, JSON-serialisable records of what was compared: one `LayerDiff` per pair of tensors."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from .metrics import TensorDiff
from .rounding import Judgement

__all__ = ["Phase", "Where", "LayerDiff"]


class Phase(str, Enum):
    """When the pair was computed: the forward pass, the backward pass, parameter gradients, the
    optimizer step, or the buffers (running statistics) a step leaves behind."""

    FORWARD = "forward"
    BACKWARD = "backward"
    GRAD = "grad"
    WEIGHT = "weight"
    BUFFER = "buffer"

    def __str__(self) -> str:
        return self.value


class Where(str, Enum):
    """What the pair is: a layer call's input or output (forward), the gradient arriving at its output or
    the one it sends to its input (backward), a parameter's gradient, its update in an optimizer step, or a
    buffer's value after a step."""

    INPUT = "input"
    OUTPUT = "output"
    GRAD_OUT = "grad_out"
    GRAD_IN = "grad_in"
    PARAM = "param"
    UPDATE = "update"
    BUFFER = "buffer"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class LayerDiff:
    """One compared pair: a layer call's input, output, or gradient, or one parameter's gradient or update."""

    phase: Phase
    step: int
    where: Where
    order: int
    base_path: str
    raw_path: str
    base_type: str
    raw_type: str
    call: int
    leaf: str
    diff: TensorDiff
    base_id: int = -1  # call-tree node ids; -1 for parameters
    raw_id: int = -1
    local: TensorDiff | None = None  # single-step runs: the error of this pair alone, given base's inputs
    paired_by: str = ""  # why the two were paired: `align.PairedBy` for calls, "weights" for parameters
    judged: Judgement | None = None  # the float64 judge's finding on a failing pair (see `rounding`)

    @property
    def passed(self) -> bool:
        """In single-step runs a pair is judged by its local error, otherwise by the accumulated one; a
        difference the float64 judge found to be rounding (`judged.excused`) passes."""
        if self.judged is not None and self.judged.excused:
            return True
        return self.diff.passed if self.local is None else self.local.passed

    @property
    def key(self) -> tuple:
        """What identifies this pair within a report (its metrics do not)."""
        return (
            self.phase,
            self.step,
            self.where,
            self.base_id,
            self.raw_id,
            self.base_path,
            self.raw_path,
            self.leaf,
        )

    def to_dict(self) -> dict:
        data = asdict(self)
        data["phase"] = self.phase.value
        data["where"] = self.where.value
        data["diff"] = self.diff.to_dict()
        data["local"] = None if self.local is None else self.local.to_dict()
        data["judged"] = None if self.judged is None else self.judged.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> LayerDiff:
        data = dict(data)
        data["phase"] = Phase(data["phase"])
        data["where"] = Where(data["where"])
        data["diff"] = TensorDiff.from_dict(data["diff"])
        data["local"] = None if data.get("local") is None else TensorDiff.from_dict(data["local"])
        data["judged"] = None if data.get("judged") is None else Judgement.from_dict(data["judged"])
        return cls(**data)
