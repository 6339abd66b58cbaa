"""Plain-text layer trees, shared by error messages and reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..frameworks.base import Adapter

__all__ = ["TreeLine", "tree_lines", "format_tree", "parents"]


@dataclass(frozen=True)
class TreeLine:
    path: str  # dotted, "" = root
    depth: int
    cls: str


def tree_lines(adapter: Adapter, model: Any) -> list[TreeLine]:
    """Every sublayer in definition order (a shared layer is listed at each place it appears)."""
    lines = []
    for path, layer in adapter.named_sublayers(model):
        lines.append(TreeLine(path, 0 if path == "" else path.count(".") + 1, type(layer).__name__))
    return lines


def format_tree(
    lines: list[TreeLine],
    marks: dict[str, str] | None = None,
    around: str | None = None,
    radius: int = 4,
    ancestors: bool = False,
) -> str:
    """Indented tree; `marks` appends text to given paths; `around` keeps only lines near that path
    (`radius` lines either side, and with `ancestors` every layer holding one of those), "..." where lines
    are left out."""
    marks = marks or {}
    rows = []
    for line in lines:
        name = line.path.rsplit(".", 1)[-1] if line.path else "(root)"
        text = f"{'  ' * line.depth}{name}: {line.cls}"
        if line.path in marks:
            text += f"    {marks[line.path]}"
        rows.append(text)
    index = None if around is None else next((i for i, ln in enumerate(lines) if ln.path == around), None)
    if index is None:
        return "\n".join(rows)
    keep = set(range(max(0, index - radius), min(len(rows), index + radius + 1)))
    if ancestors:
        up = parents(lines)
        for i in sorted(keep):
            while up[i] >= 0 and up[i] not in keep:
                keep.add(up[i])
                i = up[i]
    shown: list[str] = []
    for i, row in enumerate(rows):
        if i in keep:
            shown.append(row)
        elif i == 0 or i - 1 in keep:
            shown.append(f"{'  ' * max(lines[i].depth, 1)}..." if ancestors else "  ...")
    return "\n".join(shown)


def parents(lines: list[TreeLine]) -> list[int]:
    """Each line's parent: the nearest line above it that is less deep (-1 for the root)."""
    found: list[int] = []
    open_lines: list[int] = []  # the lines above that may still hold the next one, shallowest first
    for i, line in enumerate(lines):
        while open_lines and lines[open_lines[-1]].depth >= line.depth:
            open_lines.pop()
        found.append(open_lines[-1] if open_lines else -1)
        open_lines.append(i)
    return found
