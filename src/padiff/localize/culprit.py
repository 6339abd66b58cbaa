"""Name the culprit: the first layer whose inputs agree but whose outputs do not.

Forward checks are scanned in raw's execution order, backward checks in the order base's gradients
arrived, then parameter gradients. The first failing check decides:
  - a layer's output (or the gradient it sends to its inputs) differs: that layer is the culprit; its
    inputs (incoming gradient) and all its children were checked earlier and agreed;
  - a layer's input differs although every earlier check agreed: the input was computed by its parent's
    own code, so the parent is the culprit ("its own code did it"); likewise for a gradient arriving
    at a layer's output. At the root this means the model inputs, or the loss, differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from ..capture.calltree import CallTree
from ..judge.metrics import TensorDiff
from ..judge.records import LayerDiff, Phase

__all__ = ["Kind", "Culprit", "find_culprit", "first_failure", "regrouped"]


class Kind(str, Enum):
    """A culprit is a layer call, or (narrowed inside a layer's own code) one API call."""

    LAYER = "layer"
    API = "api"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Culprit:
    """The layer where the two models first part ways, and why padiff says so."""

    phase: Phase
    step: int
    base_path: str
    raw_path: str
    base_type: str
    raw_type: str
    kind: Kind
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
        data["kind"] = self.kind.value
        data["evidence"] = self.evidence.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Culprit:
        data = dict(data)
        data["phase"] = Phase(data["phase"])
        data["kind"] = Kind(data["kind"])
        data["evidence"] = LayerDiff.from_dict(data["evidence"])
        return cls(**data)


_OWN = {"output", "grad_in", "param", "update"}
_REASONS = {
    "output": "its inputs agree but its output differs",
    "grad_in": "the gradient reaching its output agrees but the gradient it sends to its inputs differs",
    "param": "the gradient of its parameter differs",
    "update": "its parameter moved differently in the optimizer step although the gradients agreed: the two "
    "optimizers differ (learning rate, epsilon, weight decay, momentum, ...)",
    "input": "its own code (outside any sublayer) computes a value that differs, first seen as the input of '{child}'",
    "grad_out": "its own code (outside any sublayer) sends back a gradient that differs, first seen at the output of '{child}'",
    "root_input": "the model inputs differ",
    "root_grad_out": "the gradient of the loss with respect to the model output differs (check loss_fn)",
}


def first_failure(*phases: list[LayerDiff], skip: frozenset = frozenset()) -> LayerDiff | None:
    for diffs in phases:
        for diff in diffs:
            if not diff.passed and (diff.where, diff.base_id, diff.raw_id, diff.leaf) not in skip:
                return diff
    return None


def find_culprit(failure: LayerDiff, base_tree: CallTree, raw_tree: CallTree) -> Culprit:
    """Turn the first failing check into a culprit (parameter checks name no call: their paths stand)."""
    base_node, raw_node = base_tree.get(failure.base_id), raw_tree.get(failure.raw_id)
    reason_key = failure.where.value
    if failure.where not in _OWN and base_node is not None and raw_node is not None:
        base_parent, raw_parent = base_tree.solid_parent(base_node), raw_tree.solid_parent(raw_node)
        if base_parent is None or raw_parent is None:
            reason_key = "root_" + failure.where.value
        else:
            base_node, raw_node = base_parent, raw_parent
    reason = _REASONS[reason_key].format(child=failure.raw_path or "(root)")
    return Culprit(
        phase=failure.phase,
        step=failure.step,
        base_path=base_node.path if base_node else failure.base_path,
        raw_path=raw_node.path if raw_node else failure.raw_path,
        base_type=base_node.cls if base_node else failure.base_type,
        raw_type=raw_node.cls if raw_node else failure.raw_type,
        kind=Kind.LAYER,
        reason=reason,
        base_site=base_node.site if base_node else "",
        raw_site=raw_node.site if raw_node else "",
        base_defined=base_node.defined if base_node else "",
        raw_defined=raw_node.defined if raw_node else "",
        evidence=failure,
        base_call=base_node.call if base_node else 0,
        raw_call=raw_node.call if raw_node else 0,
    )


# where a regrouped pair's mismatch shows -> the parent's check that must agree to excuse it
_PARENT_CHECK = {"output": "output", "grad_out": "grad_in"}
_BOUNDARY = {"input", "output", "grad_out", "grad_in"}


def regrouped(diffs: list[LayerDiff], base_tree: CallTree, raw_tree: CallTree) -> list[LayerDiff]:
    """Failing boundary checks of two user layers whose outputs differ in *shape* while their parents'
    agree: the ports draw the layer boundary elsewhere (torchvision's _DenseLayer returns its new
    channels, paddle's DenseLayer returns them concatenated to its input), which is no difference of
    the model; the layers inside are still compared, and the parent's checks stand."""
    by_pair: dict[tuple, list[LayerDiff]] = {}
    for d in diffs:
        by_pair.setdefault((d.where, d.base_id, d.raw_id), []).append(d)
    pairs = set()
    for d in diffs:
        if d.passed or d.where not in _PARENT_CHECK or d.diff.base_shape == d.diff.raw_shape:
            continue
        base, raw = base_tree.get(d.base_id), raw_tree.get(d.raw_id)
        if base is None or raw is None or base.builtin or raw.builtin:
            continue
        base_parent, raw_parent = base_tree.solid_parent(base), raw_tree.solid_parent(raw)
        if base_parent is None or raw_parent is None:
            continue
        parent = by_pair.get((_PARENT_CHECK[d.where], base_parent.id, raw_parent.id), [])
        if parent and all(p.diff.passed for p in parent):  # accumulated: the whole block agrees
            pairs.add((d.base_id, d.raw_id))
    return [d for d in diffs if not d.passed and d.where in _BOUNDARY and (d.base_id, d.raw_id) in pairs]
