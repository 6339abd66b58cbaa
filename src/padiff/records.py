"""Typed, JSON-serialisable records of a comparison."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .compare import Phase, TensorDiff

__all__ = ["LayerDiff", "Culprit"]


@dataclass(frozen=True)
class LayerDiff:
    """One compared pair: a layer call's input, output, or gradient, or one parameter's gradient.

    where: "input" | "output" (forward), "grad_out" (gradient arriving at the layer's output) |
    "grad_in" (gradient the layer sends to its input) (backward), "param" (parameter gradient).
    """

    phase: Phase
    step: int
    where: str
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

    @property
    def passed(self) -> bool:
        """In single-step runs a pair is judged by its local error, otherwise by the accumulated one."""
        return self.diff.passed if self.local is None else self.local.passed

    def to_dict(self) -> dict:
        data = asdict(self)
        data["phase"] = self.phase.value
        data["diff"] = self.diff.to_dict()
        data["local"] = None if self.local is None else self.local.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> LayerDiff:
        data = dict(data)
        data["phase"] = Phase(data["phase"])
        data["diff"] = TensorDiff.from_dict(data["diff"])
        data["local"] = None if data.get("local") is None else TensorDiff.from_dict(data["local"])
        return cls(**data)


@dataclass(frozen=True)
class Culprit:
    """The layer where the two models first part ways, and why padiff says so."""

    phase: Phase
    step: int
    base_path: str
    raw_path: str
    base_type: str
    raw_type: str
    kind: str  # "layer" (API-level culprits: "api")
    reason: str
    base_site: str  # where the user's code calls the layer (file:line)
    raw_site: str
    base_defined: str  # where the layer's forward is defined
    raw_defined: str
    evidence: LayerDiff
    base_call: int = 0  # which call of the layer (a layer called twice has calls 0 and 1)
    raw_call: int = 0

    @property
    def metrics(self) -> TensorDiff:
        return self.evidence.diff

    def to_dict(self) -> dict:
        data = asdict(self)
        data["phase"] = self.phase.value
        data["evidence"] = self.evidence.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Culprit:
        data = dict(data)
        data["phase"] = Phase(data["phase"])
        data["evidence"] = LayerDiff.from_dict(data["evidence"])
        return cls(**data)
