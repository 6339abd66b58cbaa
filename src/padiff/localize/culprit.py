"""Name the culprit. Outputs decide, inputs localize.

A run fails only where a layer's output (or the gradient it sends to its inputs), a parameter's gradient,
an update or a buffer differs: the *first* such check decides (forward checks in raw's execution order,
backward ones in the order base's gradients arrived, then parameter gradients, updates). What the layer
took in (its inputs; in backward, the gradient arriving at its output) only places the culprit:
  - its incoming checks agree: the layer itself is the culprit (its own code, or a sublayer's, which
    would have failed first);
  - an incoming check differs too: the difference entered before the layer. padiff climbs to the parent
    (its nearest non-container ancestor) while that one's incoming checks differ too, and names the first
    ancestor whose incoming checks agree: its own code (outside any sublayer) computed the differing
    value. Reaching the root this way means the model inputs (or the loss) differ.
  - on a run with single-step isolation (each raw layer fed base's inputs), a layer's own output is judged
    by its local error, so it is the culprit whatever its inputs; an incoming check decides there only
    when the layer's output differed on the accumulated run but agrees locally: the parent's own code,
    given the same inputs, computed the value the layer took in.
An incoming check that differs while the layer's output agrees (a mask of -inf against the dtype's
minimum, a bool mask against an additive one) is no difference of the model: the verdict notes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from ..capture.calltree import CallTree
from ..judge.metrics import TensorDiff
from ..judge.records import LayerDiff, Phase, Where
from ..judge.tolerance import DEFAULT_RTOL

__all__ = ["Kind", "Culprit", "Checks", "INCOMING", "decides", "find_culprit", "first_failure", "regrouped"]


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
    # kind "api" (narrowed to one op of the layer's own code): raw's op and its line, and base's closest
    # op and its line ("" when no base op came close); "" for a layer culprit
    op: str = ""
    op_site: str = ""
    base_op: str = ""
    base_op_site: str = ""

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


_REASONS = {
    "output": "its inputs agree but its output differs",
    "grad_in": "the gradient reaching its output agrees but the gradient it sends to its inputs differs",
    "param": "the gradient of its parameter differs",
    "update": "its parameter moved differently in the optimizer step although the gradients agreed: the two "
    "optimizers differ (learning rate, epsilon, weight decay, momentum, ...)",
    "input": "its own code (outside any sublayer) computes a value that differs, first seen as the input of "
    "'{child}', whose output then differs",
    "grad_out": "its own code (outside any sublayer) sends back a gradient that differs, first seen at the output "
    "of '{child}', whose input gradient then differs",
    "root_input": "the model inputs differ",
    "root_grad_out": "the gradient of the loss with respect to the model output differs (check loss_fn)",
    "buffer": "its outputs agree but a buffer it updates (a running statistic) ends the step differently, "
    "after conversion between the frameworks' conventions",
}


# checks that only place the culprit (what a layer takes in), and the check each one feeds
INCOMING = {Where.INPUT: Where.OUTPUT, Where.GRAD_OUT: Where.GRAD_IN}


class Checks:
    """One step's checks, by call pair and kind of check (and parameter checks by their layer's path)."""

    def __init__(self, diffs: list[LayerDiff]):
        self._by_call: dict[tuple[int, int, Where], list[LayerDiff]] = {}
        self._params: dict[str, list[LayerDiff]] = {}
        self._grads_out: dict[str, list[LayerDiff]] = {}
        for d in diffs:
            self._by_call.setdefault((d.base_id, d.raw_id, d.where), []).append(d)
            if d.where is Where.PARAM:
                self._params.setdefault(d.base_path, []).append(d)
            elif d.where is Where.GRAD_OUT:
                self._grads_out.setdefault(d.base_path, []).append(d)

    def of(self, base_id: int, raw_id: int, where: Where) -> list[LayerDiff]:
        return self._by_call.get((base_id, raw_id, where), [])

    def outgoing(self, incoming: LayerDiff) -> list[LayerDiff]:
        """The checks of what the call whose incoming check this is gave out; in backward these include its
        own parameters' gradients (a layer whose input needs no gradient sends none back)."""
        out = self.of(incoming.base_id, incoming.raw_id, INCOMING[incoming.where])
        return out + self._params.get(incoming.base_path, []) if incoming.where is Where.GRAD_OUT else out

    def failed_grad_out(self, layer_path: str) -> LayerDiff | None:
        """A failing check of a gradient arriving at an output of the layer at `layer_path` (any call)."""
        return next((d for d in self._grads_out.get(layer_path, []) if not d.passed), None)

    def failed_incoming(
        self, base_id: int, raw_id: int, where: Where, isolated: bool = False
    ) -> LayerDiff | None:
        """A failing incoming check of the call; on an isolated run only one isolation could not replace
        with base's value (a bool mask against an additive one: the layer then ran on raw's)."""
        return next(
            (d for d in self.of(base_id, raw_id, where) if not d.passed and not (isolated and _replaced(d))),
            None,
        )


def decides(d: LayerDiff, checks: Checks) -> bool:
    """Whether a failing check fails the run (see the module docstring)."""
    if d.passed:
        return False
    if d.where not in INCOMING:
        return True
    if d.local is None:
        return False
    outgoing = checks.outgoing(d)
    return any(not o.diff.passed for o in outgoing) and all(o.passed for o in outgoing)


def first_failure(
    *phases: list[LayerDiff], checks: Checks, skip: frozenset = frozenset()
) -> LayerDiff | None:
    for diffs in phases:
        for diff in diffs:
            if (diff.where, diff.base_id, diff.raw_id, diff.leaf) not in skip and decides(diff, checks):
                return diff
    return None


def find_culprit(failure: LayerDiff, base_tree: CallTree, raw_tree: CallTree, checks: Checks) -> Culprit:
    """Turn the deciding check into a culprit (see the module docstring)."""
    base_node, raw_node = base_tree.get(failure.base_id), raw_tree.get(failure.raw_id)
    evidence, reason_key = failure, failure.where.value
    entry, incoming = _entry(failure, checks)
    if entry is not None and incoming is not None and failure.where is Where.PARAM:
        base_node, raw_node = base_tree.get(entry.base_id), raw_tree.get(entry.raw_id)
    while entry is not None and incoming is not None and base_node is not None and raw_node is not None:
        evidence, reason_key = entry, incoming.value  # the difference came from above: climb
        base_node, raw_node = base_tree.solid_parent(base_node), raw_tree.solid_parent(raw_node)
        if base_node is None or raw_node is None:
            base_node, raw_node = base_tree.get(entry.base_id), raw_tree.get(entry.raw_id)
            reason_key = "root_" + incoming.value
            break
        isolated = failure.local is not None  # isolated: only through values isolation could not replace
        entry = None if failure.where in INCOMING and isolated else (
            checks.failed_incoming(base_node.id, raw_node.id, incoming, isolated)
        )  # fmt: skip
    reason = _REASONS[reason_key].format(child=evidence.raw_path or "(root)")
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
        evidence=evidence,
        base_call=base_node.call if base_node else 0,
        raw_call=raw_node.call if raw_node else 0,
    )


_INCOMING_OF = {outgoing: incoming for incoming, outgoing in INCOMING.items()}


def _entry(failure: LayerDiff, checks: Checks) -> tuple[LayerDiff | None, Where | None]:
    """The failing incoming check through which the deciding difference entered (None: the layer's own),
    and its kind. A failure judged by its local error entered nowhere else, unless it is incoming itself."""
    if failure.where in INCOMING:
        return failure, failure.where
    isolated = failure.local is not None
    if isolated and failure.where not in _INCOMING_OF:
        return None, None
    if failure.where is Where.PARAM:  # the gradient reaching the parameter's layer differed?
        return checks.failed_grad_out(failure.base_path), Where.GRAD_OUT
    incoming = _INCOMING_OF.get(failure.where)
    if incoming is None:
        return None, None
    return checks.failed_incoming(failure.base_id, failure.raw_id, incoming, isolated), incoming


def _replaced(d: LayerDiff) -> bool:
    """Whether isolation gave the call base's value for this incoming check (see `isolated.substituted`):
    float on both sides (the judged dtype is then a float one) and of one shape."""
    return d.diff.dtype in DEFAULT_RTOL and d.diff.base_shape == d.diff.raw_shape


# where a regrouped pair's mismatch shows -> the parent's check that must agree to excuse it
_PARENT_CHECK = {"output": "output", "grad_out": "grad_in"}
_BOUNDARY = {"input", "output", "grad_out", "grad_in"}


def regrouped(diffs: list[LayerDiff], base_tree: CallTree, raw_tree: CallTree) -> list[LayerDiff]:
    """Failing boundary checks of two layers whose outputs differ in *shape* while the rest of their
    block agrees: the ports draw the layer boundary elsewhere (torchvision's _DenseLayer returns its new
    channels, paddle's DenseLayer returns them concatenated to its input), or lay a tensor out in an
    order that its shape cannot tell (axes of equal size permuted), which is no difference of the model;
    the layers inside are still compared, and the parent's checks stand. The block agrees when the
    parent's check agrees and no sibling's check of that kind fails where the shapes line up (a
    scale-invariant norm can make a parent agree over a real difference its sublayers show)."""
    by_pair: dict[tuple, list[LayerDiff]] = {}
    differing_siblings: set[tuple[str, int]] = set()  # (kind of check, base parent id)
    for d in diffs:
        by_pair.setdefault((d.where, d.base_id, d.raw_id), []).append(d)
        if not d.passed and d.where in _PARENT_CHECK.values() and d.diff.base_shape == d.diff.raw_shape:
            node = base_tree.get(d.base_id)
            parent = base_tree.solid_parent(node) if node is not None else None
            if parent is not None:
                differing_siblings.add((d.where.value, parent.id))
    pairs = set()
    for d in diffs:
        if d.passed or d.where not in _PARENT_CHECK or d.diff.base_shape == d.diff.raw_shape:
            continue
        base, raw = base_tree.get(d.base_id), raw_tree.get(d.raw_id)
        if base is None or raw is None:
            continue
        base_parent, raw_parent = base_tree.solid_parent(base), raw_tree.solid_parent(raw)
        if base_parent is None or raw_parent is None:
            continue
        kind = _PARENT_CHECK[d.where]
        checks = by_pair.get((kind, base_parent.id, raw_parent.id), [])
        # accumulated, not local: in an isolated run the parent's own output is its last sublayer fed
        # base's input, which says nothing of the sublayer whose boundary moved
        block_agrees = checks and all(p.diff.passed for p in checks)
        if block_agrees and (kind, base_parent.id) not in differing_siblings:
            pairs.add((d.base_id, d.raw_id))
    return [d for d in diffs if not d.passed and d.where in _BOUNDARY and (d.base_id, d.raw_id) in pairs]
