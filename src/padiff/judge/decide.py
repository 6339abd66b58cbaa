"""From the re-runs of one unit to a judgement (the rule is `rounding.judge_arrays`).

The float64 reference first; then base's unit in its own dtype (where base ran under autocast, under
that autocast: `AUTOCAST`), which must reproduce base's recorded value (or the unit alone is not what
base ran); then the unit in the lower dtype, or, where base's
framework has no kernels in it (`CANNOT_RUN`: paddle's CPU build for float16 and bfloat16), the float64
unit on values rounded to it (`CAST`); and the float64 unit on values rounded once more (`ROUNDED`). A
re-run with an op computing in a dtype not far more precise than the lower one cannot stand for its unit.
And what the judge tells the user about the pairs it judged (`judge_notes`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .rounding import Judgement, judge_arrays, not_judged, roundoff
from .units import UnitRun

__all__ = ["AUTOCAST", "CAST", "ROUNDED", "CANNOT_RUN", "decide", "unusable", "why_not", "judge_notes"]

AUTOCAST = "autocast:"  # a unit dtype: base's own, under its framework's autocast to the dtype that follows
CAST = "cast:"  # a unit dtype: float64 on values rounded to the dtype that follows
ROUNDED = "rounded:"  # a unit dtype: float64 on values rounded once more in the dtype that follows
CANNOT_RUN = "its unit cannot run alone in"  # how `why_not` begins when a unit raised


def decide(
    values: Callable[[str], np.ndarray | Judgement],
    base: np.ndarray,
    raw: np.ndarray,
    lower: str,
    base_dtype: str,
    autocast: str | None = None,
) -> Judgement:
    """The float64 reference, base's unit again in its own dtype (it must reproduce base's value, or the
    unit alone is not what base ran: a packed sequence read back padded, state kept between calls),
    base's unit in the lower dtype, and the float64 unit on values rounded once more in it; then the rule.
    With `autocast` (base ran under autocast to it), base's unit runs again under that autocast, and is
    base's unit in the lower dtype too where that is the lower one."""
    ref = values("float64")
    if isinstance(ref, Judgement):
        return ref
    again = values(AUTOCAST + autocast if autocast else base_dtype)
    if isinstance(again, Judgement):
        return again
    if again.shape != base.shape or not _reproduces(again, base, ref):
        return not_judged("base's unit run alone does not reproduce base's own value")
    base_low = again
    if lower != (autocast or base_dtype):
        low = values(lower)
        if isinstance(low, Judgement) and low.reason.startswith(CANNOT_RUN):
            # base's framework has no kernels in the lower dtype (paddle's CPU build, for float16 and
            # bfloat16): the unit in float64 on its values rounded to that dtype stands for it
            low = values(CAST + lower)
        if isinstance(low, Judgement):
            return low
        base_low = low
    rounded = values(ROUNDED + lower)
    return judge_arrays(raw, base, ref, base_low, lower, None if isinstance(rounded, Judgement) else rounded)


def _reproduces(again: np.ndarray, base: np.ndarray, ref: np.ndarray) -> bool:
    """The re-run is at least twice as close to base as the float64 reference is (exact, usually)."""
    base64, again64 = np.ma.getdata(base).astype(np.float64), again.astype(np.float64)
    drift = float(np.abs(again64 - base64).max()) if base.size else 0.0
    return drift == 0.0 or drift <= 0.5 * float(np.abs(base64 - ref.astype(np.float64)).max())


def unusable(run: UnitRun, lower: str) -> bool:
    """Whether a re-run cannot stand for its unit: it failed, or an op in it computed in a dtype less
    than 2^8 times more precise than the lower dtype the pair is judged at. A float32 softmax inside a
    float64 unit is fine for a bfloat16 pair (its rounding is far below what is judged), not for a
    float32 one."""
    return bool(run.failed) or (bool(run.cast_down) and roundoff(run.cast_to) > roundoff(lower) * 2.0**-8)


def why_not(run: UnitRun, dtype: str) -> Judgement:
    if run.failed:
        return not_judged(f"{CANNOT_RUN} {dtype}: {run.failed}")
    return not_judged(f"op '{run.cast_down}' inside it computes below {dtype}")


def judge_notes(excused: list, unjudged: list, skipped: int, after: int, cap: int) -> list[str]:
    """What the judge tells the user: the pairs it excused, those it could not judge, and those it left."""
    notes = []
    if excused:
        shown = ", ".join(
            f"'{d.raw_path or '(root)'}' {d.where.value} {d.leaf} (raw {j.raw_error:.2g}, base {j.base_error:.2g})"
            for d, j in excused[:6]
        )
        more = f" and {len(excused) - 6} more" if len(excused) > 6 else ""
        notes.append(
            f"judged against float64 as rounding (raw no further from the exact result than base's own error "
            f"allows): {shown}{more}"
        )
    undecided = [(d, j) for d, j in unjudged if j.excused is None]
    if undecided:
        shown = "; ".join(f"'{d.raw_path or '(root)'}' {d.where.value}: {j.reason}" for d, j in undecided[:4])
        notes.append(f"not judged against float64: {shown}")
    if skipped:
        notes.append(f"{skipped} more failing pairs were not judged against float64 (at most {cap} per step)")
    if after:
        notes.append(
            f"{after} failing pairs after those that decide the verdict were not judged against float64 "
            "(their judgement could not change it)"
        )
    return notes
