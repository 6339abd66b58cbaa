"""One number per compared pair for the page's chart, trees and table: its error in units of tolerance.

A pair fails when some element has |raw - base| > atol + rtol * |base|. The number shown is that ratio at
the pair's worst element (the one with the largest |raw - base|), taken from the metrics that decide the
pair: its local error in a single-step run, else the accumulated one. Below 1 the worst element is within
tolerance; a pair can still fail at another element where |base| is smaller, and is then drawn as failing
below the line (its status, not its height, is the verdict). 0 means equal; NaN (a shape mismatch, no
elementwise comparison) and infinity (an exact comparison that differs) have no place on a log scale.
"""

from __future__ import annotations

import math
from enum import Enum

from ..judge.metrics import TensorDiff
from ..judge.records import LayerDiff
from .words import excused

__all__ = ["AXIS_NOTE", "Status", "deciding", "status", "tolerance_ratio", "ratio_text"]

AXIS_NOTE = (
    "Each mark is one compared pair, in the report's order. Its height: |raw - base| at the pair's worst "
    "element over the tolerance there (atol + rtol |base|), from its local error in single-step runs; above "
    "the dashed line that element is out of tolerance. Shape and colour: the phase. Red outline: a "
    "difference. Hollow: a difference the float64 judge found to be rounding. Pairs equal on both sides lie "
    "on the '= 0' lane, pairs without a ratio (a shape mismatch, non-finite values) on the 'n/a' lane. A "
    "mark links to its row in the table."
)


class Status(str, Enum):
    """A pair's verdict as the page shows it: within tolerance, a difference, or a difference the float64
    judge excused as rounding."""

    OK = "ok"
    DIFF = "diff"
    EXCUSED = "excused"

    def __str__(self) -> str:
        return self.value


def deciding(d: LayerDiff) -> TensorDiff:
    """The metrics that decide the pair (`LayerDiff.passed`): local in single-step runs, else accumulated."""
    return d.diff if d.local is None else d.local


def status(d: LayerDiff) -> Status:
    if excused(d):
        return Status.EXCUSED
    return Status.OK if d.passed else Status.DIFF


def tolerance_ratio(d: LayerDiff) -> float:
    """|raw - base| over the tolerance at the pair's worst element (see the module's docstring)."""
    m = deciding(d)
    if math.isnan(m.max_abs):
        return math.nan
    if m.max_abs == 0:
        return 0.0
    at_worst = 0.0 if math.isnan(m.worst_base) else abs(m.worst_base)
    bound = m.atol + m.rtol * at_worst
    return m.max_abs / bound if bound > 0 else math.inf


def ratio_text(ratio: float) -> str:
    """The ratio as the page prints it: 'n/a' when there is none, '0' when equal."""
    if math.isnan(ratio):
        return "n/a"
    if ratio == 0:
        return "0"
    return "inf" if math.isinf(ratio) else f"{ratio:.3g}"
