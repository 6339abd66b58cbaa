"""The phrases every report form shares (terminal, diff_log/, HTML): a pair, its worst element, the float64
judge's finding, the counts of a run, and the culprit's reason split from the settings it names.

One wording, written once, so the terminal and the page never say the same thing two ways.
"""

from __future__ import annotations

import math
from collections import Counter

from ..judge.metrics import TensorDiff
from ..judge.records import LayerDiff, Phase
from ..judge.rounding import K

__all__ = [
    "PHASE_NAMES",
    "closest",
    "counts",
    "evidence",
    "excused",
    "judged_text",
    "local_text",
    "percent",
    "split_reason",
    "worst",
]

_WHERE = {
    "input": "input",
    "output": "output",
    "grad_out": "gradient arriving at the output",
    "grad_in": "gradient sent to the input",
    "param": "gradient of",
    "update": "optimizer update of",
    "buffer": "buffer",
}

# what each phase is called where people read it, in the order a step produces them
PHASE_NAMES = {
    Phase.FORWARD: "forward",
    Phase.BACKWARD: "backward",
    Phase.GRAD: "parameter gradients",
    Phase.BUFFER: "buffers",
    Phase.WEIGHT: "updates",
}

# how `explain.explained` joins a culprit's reason and the settings it names, and what those are called
_SETTINGS = {"; settings differ: ": "", "; optimizer settings differ: ": "optimizer: "}


def evidence(d: LayerDiff) -> str:
    """What the pair is, in words: "output of 'block.bn1'", "gradient of 'fc1' weight <-> weight"."""
    what = _WHERE.get(d.where, d.where)
    if d.where in ("param", "update", "buffer"):
        return f"{what} '{d.raw_path}' {d.leaf}"
    leaf = "" if d.leaf in ("out", "arg0", f"{d.where}[0]") else f" {d.leaf}"
    call = f" (call {d.call + 1})" if d.call else ""
    return f"{what}{leaf} of '{d.raw_path or '(root)'}'{call}"


def percent(fraction: float) -> str:
    """Rounded down, so a tensor with one element out of tolerance never reads 100.0%."""
    return f"{math.floor(fraction * 1000) / 10:.1f}%"


def local_text(d: LayerDiff) -> str:
    """A single-step pair's own error beside its accumulated one ('' outside single-step runs)."""
    if d.local is None:
        return ""
    return f"single_step: local max rel {d.local.max_rel:.3g} (this layer alone), accumulated {d.diff.max_rel:.3g}"


def judged_text(d: LayerDiff) -> str:
    """What the float64 judge (module `judge.rounding`) found for the pair ('' when it did not look)."""
    j = d.judged
    if j is None:
        return ""
    if j.excused is None:
        return f"float64 judge: not judged ({j.reason})"
    times = "over a million times" if j.worst_ratio > 1e6 else f"{j.worst_ratio:.3g}x"
    return (
        f"float64 judge: error against float64 raw {j.raw_error:.3g}, base {j.base_error:.3g}; "
        f"raw is {times} what rounding allows (K={K:g} x base's error + 1 ulp)"
    )


def excused(d: LayerDiff) -> bool:
    """The pair failed its tolerance and the float64 judge found the difference to be rounding."""
    return d.judged is not None and bool(d.judged.excused)


def worst(m: TensorDiff) -> str:
    """Where the largest difference is, and both values there ('' when it has no place in base's layout)."""
    if math.isnan(m.worst_base) and math.isnan(m.worst_raw):
        return ""
    where = f"[{', '.join(map(str, m.worst_index))}]" if m.worst_index else "(the one element)"
    return f"worst element {where}: base {m.worst_base:.6g}  raw {m.worst_raw:.6g}"


def closest(diffs: list[LayerDiff]) -> str:
    """The pair closest to its tolerance at its worst element, for a report that passed ('' for none)."""
    placed = [d for d in diffs if worst(d.diff) and d.diff.max_abs > 0]
    if not placed:
        return ""

    def used(d: LayerDiff) -> float:
        bound = d.diff.atol + d.diff.rtol * abs(d.diff.worst_base)
        return d.diff.max_abs / bound if bound > 0 else math.inf

    d = max(placed, key=used)
    return f"closest to tolerance: {evidence(d)}, max abs {d.diff.max_abs:.3g}, {worst(d.diff)}"


def counts(diffs: list[LayerDiff]) -> str:
    """'48 pairs compared (17 forward, 14 backward, ...), 3 differ, 1 excused by the float64 judge'."""
    by_phase = Counter(d.phase for d in diffs)
    phases = ", ".join(f"{by_phase[p]} {name}" for p, name in PHASE_NAMES.items() if by_phase[p])
    text = f"{len(diffs)} pairs compared" + (f" ({phases})" if phases else "")
    text += f", {sum(not d.passed for d in diffs)} differ"
    rounding = sum(excused(d) for d in diffs)
    return text + (f", {rounding} excused by the float64 judge as rounding" if rounding else "")


def split_reason(reason: str) -> tuple[str, str]:
    """A culprit's reason without the settings it names, and those settings ('' when it names none)."""
    for joint, label in _SETTINGS.items():
        if joint in reason:
            why, _, settings = reason.partition(joint)
            return why, label + settings
    return reason, ""
