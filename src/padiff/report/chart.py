"""The page's chart: every compared pair's error along the run, as one inline SVG (no script, no fonts).

x is the pair's place in the report (`Report.diffs`: per step forward, buffers, backward, parameter
gradients, updates; shaded bands name them); y is its error in units of tolerance (`measure`), on a log
scale with the tolerance at 1 drawn as a line. Each pair is one mark (class `mark`, linked to its table
row): its phase is its shape and colour, a difference has a red outline, a difference the float64 judge
excused as rounding is hollow, and the culprit is ringed and named. Pairs that are equal sit on a lane
below the axis ("= 0"); pairs with no ratio (shape mismatch, non-finite, exact comparisons that differ)
on a lane above it ("n/a").
"""

from __future__ import annotations

import math
from html import escape

from ..judge.records import LayerDiff, Phase
from ..localize.culprit import Culprit
from .measure import Status, deciding, ratio_text, status, tolerance_ratio
from .words import PHASE_NAMES, evidence

__all__ = ["render_chart", "render_legend", "shape_path"]

WIDTH, HEIGHT = 960, 340
LEFT, RIGHT = 70, 16
TOP, BOTTOM = 62, 276  # the log-scale plot
NA_LANE, ZERO_LANE = 44, 298
AXIS_LABEL = "|raw - base| / tolerance, at the worst element"

# a shape per phase (a path of half-size 1 scaled by `size`), so phases differ without colour too: each is
# a list of (command, numbers); an arc's rotation and flags (its 3rd to 5th numbers) are not scaled
SHAPES: dict[Phase, list[tuple[str, tuple[float, ...]]]] = {
    Phase.FORWARD: [("M", (-1, 0)), ("A", (1, 1, 0, 1, 0, 1, 0)), ("A", (1, 1, 0, 1, 0, -1, 0))],
    Phase.BACKWARD: [("M", (-1.1, -0.8)), ("L", (1.1, -0.8)), ("L", (0, 1.1))],
    Phase.GRAD: [("M", (-0.85, -0.85)), ("L", (0.85, -0.85)), ("L", (0.85, 0.85)), ("L", (-0.85, 0.85))],
    Phase.BUFFER: [("M", (-1.1, 0.8)), ("L", (1.1, 0.8)), ("L", (0, -1.1))],
    Phase.WEIGHT: [("M", (0, -1.25)), ("L", (1.25, 0)), ("L", (0, 1.25)), ("L", (-1.25, 0))],
}


def shape_path(phase: Phase, size: float) -> str:
    """The SVG path of `phase`'s shape, `size` its half-width (about)."""
    out = []
    for command, numbers in SHAPES[phase]:
        kept = range(2, 5) if command == "A" else ()
        out.append(
            command + " ".join(f"{v:g}" if i in kept else f"{v * size:.3g}" for i, v in enumerate(numbers))
        )
    return " ".join(out) + "Z"


def _defs(size: float) -> str:
    shapes = "".join(f'<path id="shape-{p.value}" d="{shape_path(p, size)}"/>' for p in SHAPES)
    return f"<defs>{shapes}</defs>"


class _Scale:
    """Log10 of the ratio onto the plot's height; the tolerance (1) always inside."""

    def __init__(self, ratios: list[float]):
        positive = [r for r in ratios if r > 0 and math.isfinite(r)]
        low = math.floor(math.log10(min(positive))) if positive else -4
        high = math.ceil(math.log10(max(positive))) if positive else 1
        self.low, self.high = max(min(low, -1), -12), max(high, 1)

    def y(self, ratio: float) -> float:
        if math.isnan(ratio) or math.isinf(ratio):
            return NA_LANE
        if ratio == 0:
            return ZERO_LANE
        power = min(max(math.log10(ratio), self.low), self.high)
        return BOTTOM - (power - self.low) / (self.high - self.low) * (BOTTOM - TOP)

    def ticks(self) -> list[int]:
        every = max(1, math.ceil((self.high - self.low) / 10))
        return [k for k in range(self.low, self.high + 1) if k % every == 0 or k == 0]


def _power(k: int) -> str:
    return "1 = tol" if k == 0 else ("10" if k == 1 else f"1e{k}")


def _axes(scale: _Scale) -> list[str]:
    parts = []
    for k in scale.ticks():
        y = scale.y(10.0**k)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}">{_power(k)}</text>')
    y1 = scale.y(1.0)
    parts.append(f'<line class="tolerance" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y1:.1f}" y2="{y1:.1f}"/>')
    parts.append(f'<text class="tolerance-label" x="{WIDTH - RIGHT - 4}" y="{y1 - 4:.1f}">tolerance</text>')
    for y, label in ((NA_LANE, "n/a"), (ZERO_LANE, "= 0")):
        parts.append(f'<line class="lane" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4}">{label}</text>')
    middle = (TOP + BOTTOM) / 2
    parts.append(
        f'<text class="axis" transform="translate(14 {middle:.0f}) rotate(-90)">{escape(AXIS_LABEL)}</text>'
    )
    parts.append(
        f'<text class="axis" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 12}">'
        "every compared pair, in the report's order</text>"
    )
    return parts


def _bands(diffs: list[LayerDiff], step: float) -> list[str]:
    """A shaded band per run of pairs of one step and phase, named when it is wide enough."""
    steps = len({d.step for d in diffs}) > 1
    runs: list[tuple[int, int, LayerDiff]] = []
    for i, d in enumerate(diffs):
        if runs and (runs[-1][2].step, runs[-1][2].phase) == (d.step, d.phase):
            runs[-1] = (runs[-1][0], i, runs[-1][2])
        else:
            runs.append((i, i, d))
    parts = []
    for n, (first, last, d) in enumerate(runs):
        x, width = LEFT + first * step, (last - first + 1) * step
        name = PHASE_NAMES[d.phase] + (f", step {d.step}" if steps else "")
        parts.append(
            f'<rect class="band band-{n % 2} {d.phase.value}" x="{x:.1f}" y="{NA_LANE - 14}" width="{width:.1f}" '
            f'height="{ZERO_LANE - NA_LANE + 24}"><title>{escape(name)}: {last - first + 1} pairs</title></rect>'
        )
        if width >= 7 * len(name):
            parts.append(f'<text class="band-label" x="{x + 4:.1f}" y="{NA_LANE - 20}">{escape(name)}</text>')
    return parts


def _title(index: int, d: LayerDiff, ratio: float) -> str:
    m = deciding(d)
    verdict = {Status.OK: "within tolerance", Status.DIFF: "DIFFERS", Status.EXCUSED: "excused as rounding"}
    text = (
        f"#{index + 1} {d.phase.value}, step {d.step}: {evidence(d)}\n"
        f"error / tolerance {ratio_text(ratio)}, max abs {m.max_abs:.3g}, max rel {m.max_rel:.3g}"
        f" ({'local' if d.local is not None else 'accumulated'}): {verdict[status(d)]}"
    )
    if d.judged is not None and d.judged.reason:
        text += f"\nfloat64 judge: {d.judged.reason}"
    return escape(text)


def render_chart(diffs: list[LayerDiff], culprit: Culprit | None) -> str:
    """The chart's SVG, or a sentence when nothing was compared. The culprit's mark is its evidence's (found
    by the pair's key: its metrics may be NaN), named after the culprit layer."""
    if not diffs:
        return '<p class="empty">No pairs were compared.</p>'
    step = (WIDTH - LEFT - RIGHT) / len(diffs)
    size = min(max(step * 0.4, 2.2), 5.0)
    ratios = [tolerance_ratio(d) for d in diffs]
    scale = _Scale(ratios)
    parts = [_defs(size), *_bands(diffs, step), *_axes(scale)]
    ringed: list[str] = []
    for i, (d, ratio) in enumerate(zip(diffs, ratios)):
        x, y = LEFT + (i + 0.5) * step, scale.y(ratio)
        here = culprit is not None and d.key == culprit.evidence.key
        css = f"mark {d.phase.value} {status(d).value}" + (" culprit" if here else "")
        parts.append(
            f'<a href="#pair-{i}"><use class="{css}" href="#shape-{d.phase.value}" x="{x:.1f}" y="{y:.1f}" '
            f'data-pair="{i}"><title>{_title(i, d, ratio)}</title></use></a>'
        )
        if here and culprit is not None:
            ringed = _culprit_marks(culprit, x, y, size)
    return (
        f'<svg id="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="error of each compared pair over the tolerance">' + "".join(parts + ringed) + "</svg>"
    )


def _culprit_marks(culprit: Culprit, x: float, y: float, size: float) -> list[str]:
    """A ring around the culprit's mark, a line down the chart, and the culprit's name at the line's top
    (above the plot, where only pairs without a ratio are drawn)."""
    name = escape(f"culprit: {culprit.raw_path or '(root)'}")
    anchor = "end" if x > WIDTH / 2 else "start"
    dx = -4 if anchor == "end" else 4
    return [
        f'<line class="culprit-line" x1="{x:.1f}" x2="{x:.1f}" y1="{NA_LANE - 10}" y2="{ZERO_LANE + 8}"/>',
        f'<circle class="culprit-ring" cx="{x:.1f}" cy="{y:.1f}" r="{size * 2.4:.1f}"/>',
        f'<text class="culprit-label" x="{x + dx:.1f}" y="{TOP - 5}" text-anchor="{anchor}">{name}</text>',
    ]


def render_legend(diffs: list[LayerDiff], culprit: Culprit | None) -> str:
    """What the shapes, outlines and rings mean, with how many pairs each phase and status has."""
    keys = []
    for phase, name in PHASE_NAMES.items():
        count = sum(d.phase is phase for d in diffs)
        if count:
            keys.append(_key(f"key {phase.value} ok", phase, f"{name} ({count})"))
    differ = sum(status(d) is Status.DIFF for d in diffs)
    rounding = sum(status(d) is Status.EXCUSED for d in diffs)
    keys.append(_key("key forward diff", Phase.FORWARD, f"differs ({differ})"))
    keys.append(
        _key("key forward excused", Phase.FORWARD, f"excused as rounding by the float64 judge ({rounding})")
    )
    if culprit is not None:
        ring = '<svg viewBox="-8 -8 16 16" width="16" height="16"><circle class="culprit-ring" r="6"/></svg>'
        keys.append(f'<span class="legend-item">{ring} the culprit</span>')
    return '<div class="legend">' + "".join(keys) + "</div>"


def _key(css: str, phase: Phase, label: str) -> str:
    return (
        f'<span class="legend-item"><svg viewBox="-8 -8 16 16" width="16" height="16">'
        f'<path class="{css}" d="{shape_path(phase, 5)}"/></svg> {escape(label)}</span>'
    )
