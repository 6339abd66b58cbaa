"""What a step's two runs say beyond their pairs: layers switched off or looked through, and layers
without a counterpart. The same notes for a live step (`steps`) and a dumped one (`dump.step`)."""

from __future__ import annotations

from ..capture.calltree import CallNode
from ..capture.hooks import RunState
from .align import Aligner

__all__ = ["run_notes"]


def _listed(nodes: list[CallNode]) -> str:
    shown = ", ".join(f"{n.path or '(root)'} ({n.cls})" for n in nodes[:8])
    return shown + (f" and {len(nodes) - 8} more" if len(nodes) > 8 else "")


def run_notes(base_state: RunState, raw_state: RunState, aligner: Aligner) -> list[str]:
    notes = []
    for role, state in (("base", base_state), ("raw", raw_state)):
        if state.dropout_neutralised:
            notes.append(
                f"{role}: {state.dropout_neutralised} dropout layers were switched off for the run (train mode)"
            )
        if state.functional_dropout:
            notes.append(
                f"{role}: {state.functional_dropout} calls of functional dropout ran with p = 0 (train mode)"
            )
        if state.skipped_outputs:
            notes.append(f"{role}: {state.skipped_outputs} non-tensor output values were not compared")
    through = [aligner.raw[i] for i in sorted(aligner.through)]
    if through:
        notes.append(
            f"raw layers with no counterpart of their own, looked through (sublayers paired): {_listed(through)}"
        )
    looked_into = aligner.looked_into_base()
    if looked_into:
        notes.append(
            f"base layers with no counterpart of their own, looked into (sublayers paired): {_listed(looked_into)}"
        )
    for role, nodes in (("base", aligner.unmatched_base()), ("raw", aligner.unmatched_raw())):
        if nodes:
            notes.append(f"{role} layers without counterpart, not compared: {_listed(nodes)}")
    return notes
