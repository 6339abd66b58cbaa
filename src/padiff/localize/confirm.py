"""Confirmation: is a failure a bug, or rounding the model amplified?

A failing run (not already isolated) is run again, every step, with single-step isolation: raw's layers
get base's inputs and incoming gradients (and with optimizers, raw steps on what its layers computed
that way). If every layer then agrees, the failure was accumulated
rounding (amplified by a kink, a near-tie in a max-pool, train-mode statistics over few values) and the
run passes; otherwise the culprit is the first layer whose own error differs. A failure that does not
come back on the second run (state kept between calls, randomness) keeps the first verdict, said so.

With one step and no optimizers, raw's natural pass is the first run's: the second run is base's and raw's
isolated one, and raw runs naturally again only where the isolated run clears the failure (the check
that it comes back), or when raw's layers were called differently from the first run (then the whole
step runs again). A failure isolation confirms is reported without that check: it is a local difference
whichever run it was found in.
"""

from __future__ import annotations

from ..judge.records import LayerDiff, Phase
from .culprit import Culprit
from .verdict import Verdict

__all__ = ["worth_confirming", "reproduced", "confirmed_notes", "not_reproduced_note", "not_confirmed_note"]


def worth_confirming(culprit: Culprit | None, single_step: bool) -> bool:
    """A failure of a layer or a gradient (an update is checked by optimizer isolation instead)."""
    return (
        culprit is not None
        and not single_step
        and culprit.phase in (Phase.FORWARD, Phase.BACKWARD, Phase.GRAD, Phase.BUFFER)
    )


def _where(first: Culprit) -> str:
    return f"'{first.raw_path or '(root)'}' ({first.phase.value})"


def reproduced(first: Culprit, rerun: list[LayerDiff], stepped: bool = False) -> bool:
    """Whether the failing check fails again (accumulated error) in `rerun`, the pairs raw's natural pass
    compared when the models ran again. After the first optimizer step (`stepped`) the two runs need not
    agree: where an update differed only by rounding, the isolated run's raw continues from base's
    parameters, the first run's from its own; there the local errors decide."""
    evidence = first.evidence
    if stepped and evidence.step > 0:
        return True
    wanted = (
        evidence.step,
        evidence.phase,
        evidence.where,
        evidence.base_path,
        evidence.raw_path,
        evidence.call,
        evidence.leaf,
    )
    for diff in rerun:
        if (diff.step, diff.phase, diff.where, diff.base_path, diff.raw_path, diff.call, diff.leaf) == wanted:
            return not diff.diff.passed
    return True


def confirmed_notes(first: Culprit, confirmed: Verdict) -> list[str]:
    """The confirmation run's notes, headed by what confirmation concluded."""
    if confirmed.passed:
        head = (
            f"accumulated rounding crossed the tolerance at {_where(first)}, but every layer agrees given the "
            "same inputs (single-step isolation): the difference is float noise the model amplifies, not a bug"
        )
    else:
        head = f"first seen at {_where(first)}; confirmed layer by layer with single-step isolation"
    return [head, *confirmed.notes]


def not_reproduced_note(first: Culprit) -> str:
    return (
        f"the difference at {_where(first)} did not come back when the models ran again: their results depend "
        "on more than their inputs (state kept between calls, randomness); not confirmed layer by layer"
    )


def not_confirmed_note(error: Exception) -> str:
    return f"could not confirm with single-step isolation: {str(error).splitlines()[0]}"
