"""From what the steps compared to a verdict: every compared pair, the culprit, and the notes.

Pairs are taken step by step, forward, backward and parameter gradients as `diff_phase` asks, then
updates; the first deciding failure of the earliest step names the culprit (see `culprit`: outputs
decide, inputs localize); inputs that differ while the layer's output agrees are noted. Boundary
checks of layers the two ports draw elsewhere (`culprit.regrouped`) are excused, and said so.
`StepResult` is what one step compared (made by `steps`, read here and by the report).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..capture.calltree import CallTree
from ..judge.records import LayerDiff
from .culprit import INCOMING, Checks, Culprit, find_culprit, first_failure, regrouped

if TYPE_CHECKING:
    from ..options import DiffPhase

__all__ = ["StepResult", "Verdict", "judge_steps"]


@dataclass
class StepResult:
    """What one step compared, and the call trees needed to name a culprit in it."""

    forward: list[LayerDiff] = field(default_factory=list)
    backward: list[LayerDiff] = field(default_factory=list)
    grads: list[LayerDiff] = field(default_factory=list)
    updates: list[LayerDiff] = field(default_factory=list)
    base_tree: CallTree = field(default_factory=CallTree)
    raw_tree: CallTree = field(default_factory=CallTree)
    notes: list[str] = field(default_factory=list)
    calls: Any = None  # the inputs of this step, as the user gave them
    buffers: list[LayerDiff] = field(default_factory=list)  # the last of `forward`: statistics left behind
    rerun: list[LayerDiff] | None = None  # a confirmation's natural re-run, when it ran after isolation


@dataclass(frozen=True)
class Verdict:
    """The outcome of one run of steps, before it becomes a Report."""

    diffs: list[LayerDiff]
    culprit: Culprit | None
    notes: list[str] = field(default_factory=list)
    isolated: bool = False  # judged on a run with single-step isolation (raw's layers fed base's inputs)

    @property
    def passed(self) -> bool:
        return self.culprit is None


def _add(notes: list[str], note: str) -> None:
    if note not in notes:
        notes.append(note)


def judge_steps(
    results: list[StepResult], diff_phase: DiffPhase, notes: list[str], isolated: bool = False
) -> Verdict:
    """The verdict of `results`; `notes` (the run's) come first, each step's own notes after them."""
    notes = list(notes)
    diffs: list[LayerDiff] = []
    culprit: Culprit | None = None
    for result in results:
        for note in result.notes:
            _add(notes, note)
        forward = result.forward if diff_phase.forward else []
        backward = result.backward if diff_phase.backward else []
        grads = result.grads if diff_phase.backward else []
        diffs += forward + backward + grads + result.updates
        excused = regrouped(forward + backward, result.base_tree, result.raw_tree)
        if excused:
            shown = sorted({f"{d.base_path} / {d.raw_path}" for d in excused})
            more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
            _add(
                notes,
                "layers whose outputs differ in shape while their parents agree (the ports draw the layer "
                "boundary elsewhere, or permute axes of equal size), not blamed: "
                f"{', '.join(shown[:4])}{more}",
            )
        skip = frozenset((d.where, d.base_id, d.raw_id, d.leaf) for d in excused)
        checks = Checks(forward + backward + grads)
        failure = first_failure(forward, backward, grads, result.updates, checks=checks, skip=skip)
        if culprit is None and failure is not None:
            culprit = find_culprit(failure, result.base_tree, result.raw_tree, checks)
        before = forward + backward + grads  # inputs noted: those seen before the deciding failure
        before = before[: before.index(failure)] if failure is not None and failure in before else before
        harmless = _harmless_inputs(before, checks, culprit)
        if harmless:
            _add(
                notes,
                "inputs that differ while the layer's output agrees (no difference of the model): "
                + harmless,
            )
    return Verdict(diffs, culprit, notes, isolated)


def _harmless_inputs(diffs: list[LayerDiff], checks: Checks, culprit: Culprit | None) -> str:
    """The failing incoming checks whose call's own checks all agree, listed with how they differ."""
    shown = []
    for d in diffs:
        if d.passed or d.where not in INCOMING or (culprit is not None and d is culprit.evidence):
            continue
        outgoing = checks.outgoing(d)
        if outgoing and all(o.passed for o in outgoing):
            how = d.diff.note or f"max abs {d.diff.max_abs:.3g}"
            shown.append(f"'{d.raw_path or '(root)'}' {d.where.value} {d.leaf} ({how})")
    more = f" and {len(shown) - 4} more" if len(shown) > 4 else ""
    return ", ".join(shown[:4]) + more
